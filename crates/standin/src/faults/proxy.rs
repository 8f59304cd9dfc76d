//! The TCP [`Proxy`] in front of a real upstream, and its connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::direction::{Flow, direction};
use super::mode::Mode;
use super::{Counters, abort, bind};

/// A snapshot of what a [`Proxy`] carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Connections accepted from clients.
    pub connections: u64,
    /// Bytes from clients that reached the upstream.
    pub bytes_up: u64,
    /// Bytes from the upstream that reached clients.
    pub bytes_down: u64,
}

/// A TCP proxy in front of `upstream` whose [`Mode`] can change at run
/// time. Stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port, passing everything to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        Self::start_in(upstream, Mode::Pass).await
    }

    /// [`Proxy::start`] for an upstream given as `host:port` or `http://host:port[/…]`.
    pub async fn to(upstream: &str) -> std::io::Result<Proxy> {
        let host_port = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let addr = tokio::net::lookup_host(host_port)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{upstream}: no address")))?;
        Self::start(addr).await
    }

    /// Starts a proxy in `mode`.
    pub async fn start_in(upstream: SocketAddr, mode: Mode) -> std::io::Result<Proxy> {
        let (listener, addr) = bind().await?;
        let counters = Arc::new(Counters::default());
        let (mode, watching) = watch::channel(mode);
        let c = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            let mut open = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                while open.try_join_next().is_some() {}
                c.connections.fetch_add(1, Ordering::Relaxed);
                open.spawn(connection(
                    client,
                    upstream,
                    watching.clone(),
                    Arc::clone(&c),
                ));
            }
        });
        Ok(Proxy {
            addr,
            upstream,
            mode,
            counters,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, for `*_EMULATOR_HOST` settings.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Changes what happens to traffic, on open connections too.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// What has gone through so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            connections: self.counters.connections.load(Ordering::Relaxed),
            bytes_up: self.counters.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.counters.bytes_down.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the mode lets a connection be made (not `Hang`); `None` to
/// reset the client instead.
async fn wait_for_target(
    mode: &mut watch::Receiver<Mode>,
    upstream: SocketAddr,
) -> Option<SocketAddr> {
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Reset => return None,
            Mode::Hang => {
                if mode.changed().await.is_err() {
                    return None;
                }
            }
            other => return other.target(upstream),
        }
    }
}

/// One proxied connection.
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
) {
    let _ = client.set_nodelay(true);
    // A hanging dependency takes the connection and says nothing; what the
    // client sends waits in the socket until the mode changes.
    let held = *mode.borrow() == Mode::Hang;
    let Some(target) = wait_for_target(&mut mode, upstream).await else {
        abort(&client);
        return;
    };
    let Ok(server) = TcpStream::connect(target).await else {
        abort(&client);
        return;
    };
    let _ = server.set_nodelay(true);
    let (kill, killed) = watch::channel(false);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = direction(
        client_read,
        server_write,
        mode.clone(),
        killed.clone(),
        kill.clone(),
        Arc::clone(&counters),
        Flow::Up { held },
    );
    let down = direction(
        server_read,
        client_write,
        mode.clone(),
        killed.clone(),
        kill.clone(),
        Arc::clone(&counters),
        Flow::Down,
    );
    // A mode change that concerns open connections resets this one.
    let watch_mode = async {
        loop {
            if mode.changed().await.is_err() {
                return;
            }
            let now = *mode.borrow_and_update();
            let moved = matches!(now, Mode::Pass | Mode::Delay(_) | Mode::Divert(_))
                && now.target(upstream) != Some(target);
            if now == Mode::Reset || moved {
                kill.send_replace(true);
                return;
            }
        }
    };
    let both = async { tokio::join!(up, down) };
    tokio::pin!(both);
    tokio::select! {
        _ = &mut both => return,
        () = watch_mode => {}
    }
    // Killed: both directions see it and reset their sockets.
    both.await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use axum::Router;
    use tokio::time::Instant;

    use super::super::listeners::{FailWith, fail};
    use super::super::testing::{client, was_reset};
    use super::*;

    /// An upstream that counts requests and answers `ok N`.
    async fn upstream() -> (SocketAddr, Arc<AtomicU64>) {
        let hits = Arc::new(AtomicU64::new(0));
        let h = Arc::clone(&hits);
        let app = Router::new().fallback(move |body: axum::body::Bytes| {
            let h = Arc::clone(&h);
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                format!("ok {n} {}", body.len())
            }
        });
        let (listener, addr) = bind().await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, hits)
    }

    #[tokio::test]
    async fn the_proxy_passes_delays_hangs_and_resets_on_command() {
        let (addr, hits) = upstream().await;
        let proxy = Proxy::start(addr).await.unwrap();
        let http = client();
        let get = || http.post(proxy.url()).body("abc").send();

        let r = get().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok 1 3");

        // A round trip pays the delay twice (there and back).
        proxy.set(Mode::Delay(Duration::from_millis(200)));
        let started = Instant::now();
        assert_eq!(get().await.unwrap().text().await.unwrap(), "ok 2 3");
        assert!(started.elapsed() >= Duration::from_millis(400));

        // Hanging: nothing reaches the upstream...
        proxy.set(Mode::Hang);
        let pending = tokio::spawn(
            http.post(proxy.url())
                .body("late")
                .timeout(Duration::from_millis(400))
                .send(),
        );
        assert!(pending.await.unwrap().unwrap_err().is_timeout());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        // ...until it recovers: then the held request lands, late, though
        // its client gave up long ago.
        proxy.set(Mode::Pass);
        let deadline = Instant::now() + Duration::from_secs(5);
        while hits.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the held request never landed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        proxy.set(Mode::Reset);
        let e = get().await.unwrap_err();
        assert!(was_reset(&e), "{e:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 3);

        let t = proxy.traffic();
        assert_eq!(t.connections, 4);
        assert!(t.bytes_up > 0 && t.bytes_down > 0, "{t:?}");
    }

    #[tokio::test]
    async fn the_proxy_acts_on_open_connections_too() {
        let (addr, hits) = upstream().await;
        let proxy = Proxy::start(addr).await.unwrap();
        // A pooled client: one kept-alive connection.
        let http = reqwest::Client::new();
        let get = || http.post(proxy.url()).body("x").send();
        assert!(get().await.unwrap().status().is_success());
        assert_eq!(proxy.traffic().connections, 1);

        // The same connection stalls.
        proxy.set(Mode::Hang);
        let r = http
            .post(proxy.url())
            .body("x")
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(r.unwrap_err().is_timeout());

        // Diverted to a failing listener: open connections are reset, new
        // ones reach it.
        let failing = fail(FailWith::UNAVAILABLE).await.unwrap();
        proxy.set(Mode::Pass);
        assert!(get().await.unwrap().status().is_success());
        proxy.set(Mode::Divert(failing.addr()));
        let mut status = None;
        for _ in 0..3 {
            // The first try may meet the reset of the pooled connection.
            if let Ok(r) = get().await {
                status = Some(r.status().as_u16());
                break;
            }
        }
        assert_eq!(status, Some(503));
        assert!(failing.requests() >= 1);
        let before = hits.load(Ordering::SeqCst);
        proxy.set(Mode::Pass);
        let mut ok = false;
        for _ in 0..3 {
            if get().await.is_ok_and(|r| r.status().is_success()) {
                ok = true;
                break;
            }
        }
        assert!(ok, "back to the upstream");
        assert!(hits.load(Ordering::SeqCst) > before);
    }
}
