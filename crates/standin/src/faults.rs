//! Sick dependencies as real listeners on 127.0.0.1, for tests that show
//! what the bot does when the services it calls misbehave.
//!
//! - [`hang`]: accepts connections, reads what is sent, never answers (a
//!   dependency stalled behind a load balancer that still takes connections).
//! - [`fail`]: answers every HTTP request with one status ([`FailWith`]):
//!   503, 429 with `Retry-After`, 500… in Google's JSON error shape, over
//!   HTTP/1.1 and HTTP/2 (h2c). gRPC calls get the matching `grpc-status`
//!   (UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL), so the Pub/Sub client sees
//!   what Google's front end would send it.
//! - [`reset`]: accepts a connection and resets it (RST) as soon as the
//!   client has sent something.
//! - [`Proxy`]: a TCP proxy in front of a real upstream (an emulator, the
//!   Discord stand-in) whose [`Mode`] changes at run time: pass, delay each
//!   byte by a fixed latency, hang (hold everything, in both directions, on
//!   every connection, until the mode changes — then it flows on and lands
//!   late, as a stalled network's traffic does), reset every connection, or
//!   divert new connections to another listener (e.g. a [`fail`] one).
//!   It works below HTTP, so it serves gRPC (the Pub/Sub emulator) and
//!   HTTP/1.1 (Firestore's REST API, the Cloud Tasks twin, Cloud Storage
//!   emulators, the Discord stand-in) alike.
//!
//! Each counts connections (and [`fail`] requests, the proxy bytes), so a
//! test can assert that a dependency was — or was not — called.
//! Everything stops when its value is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What a listener or proxy has seen.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

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

/// A sick listener ([`hang`], [`fail`], [`reset`]); stops when dropped.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    counters: Arc<Counters>,
    status: Option<watch::Sender<FailWith>>,
    task: JoinHandle<()>,
}

impl Listener {
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

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// HTTP requests answered so far ([`fail`] only; 0 for the others,
    /// which never see a whole request).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Bytes received from clients.
    pub fn bytes_received(&self) -> u64 {
        self.counters.bytes_up.load(Ordering::Relaxed)
    }

    /// Changes the answer of a [`fail`] listener (no effect on the others).
    pub fn answer_with(&self, with: FailWith) {
        if let Some(s) = &self.status {
            s.send_replace(with);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A listener that accepts every connection, reads whatever is sent, and
/// never answers nor closes.
pub async fn hang() -> std::io::Result<Listener> {
    let (listener, addr) = bind().await?;
    let counters = Arc::new(Counters::default());
    let c = Arc::clone(&counters);
    let task = tokio::spawn(async move {
        let mut held = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, Ordering::Relaxed);
            let c = Arc::clone(&c);
            held.spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                // Read and drop: the client believes it sent its request.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        // The client gave up; keep our side open anyway.
                        std::future::pending::<()>().await;
                    }
                    c.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    Ok(Listener {
        addr,
        counters,
        status: None,
        task,
    })
}

/// A listener that resets each connection (an RST, not a FIN) once the
/// client has sent its first bytes, or after 100 ms of silence.
pub async fn reset() -> std::io::Result<Listener> {
    let (listener, addr) = bind().await?;
    let counters = Arc::new(Counters::default());
    let c = Arc::clone(&counters);
    let task = tokio::spawn(async move {
        let mut open = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, Ordering::Relaxed);
            let c = Arc::clone(&c);
            open.spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await
                {
                    c.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                }
                abort(&stream);
            });
        }
    });
    Ok(Listener {
        addr,
        counters,
        status: None,
        task,
    })
}

/// Closes a socket with an RST once the last handle to it is dropped.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// How a [`fail`] listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailWith {
    /// The HTTP status: 503, 429, 500…
    pub status: u16,
    /// A `Retry-After` header, in seconds.
    pub retry_after_secs: Option<u64>,
}

impl FailWith {
    /// 503 Service Unavailable.
    pub const UNAVAILABLE: FailWith = FailWith {
        status: 503,
        retry_after_secs: None,
    };
    /// 500 Internal Server Error.
    pub const INTERNAL: FailWith = FailWith {
        status: 500,
        retry_after_secs: None,
    };

    /// 429 Too Many Requests with `Retry-After: secs`.
    pub fn too_many(secs: u64) -> FailWith {
        FailWith {
            status: 429,
            retry_after_secs: Some(secs),
        }
    }

    /// Google's status name and gRPC code for the HTTP status.
    fn google(self) -> (&'static str, u8) {
        match self.status {
            429 => ("RESOURCE_EXHAUSTED", 8),
            503 => ("UNAVAILABLE", 14),
            504 => ("DEADLINE_EXCEEDED", 4),
            400 => ("INVALID_ARGUMENT", 3),
            401 => ("UNAUTHENTICATED", 16),
            403 => ("PERMISSION_DENIED", 7),
            404 => ("NOT_FOUND", 5),
            _ => ("INTERNAL", 13),
        }
    }
}

#[derive(Clone)]
struct FailState {
    counters: Arc<Counters>,
    with: watch::Receiver<FailWith>,
}

/// A listener that answers every HTTP/1.1 or HTTP/2 request with `with`,
/// in the shape Google's APIs use (a JSON error body; for gRPC, the
/// matching `grpc-status` in a trailers-only answer).
pub async fn fail(with: FailWith) -> std::io::Result<Listener> {
    let (listener, addr) = bind().await?;
    let counters = Arc::new(Counters::default());
    let (status, rx) = watch::channel(with);
    let state = FailState {
        counters: Arc::clone(&counters),
        with: rx,
    };
    let app = Router::new().fallback(failing).with_state(state);
    let c = Arc::clone(&counters);
    let task = tokio::spawn(async move {
        let counted = CountingListener {
            inner: listener,
            counters: c,
        };
        let _ = axum::serve(counted, app).await;
    });
    Ok(Listener {
        addr,
        counters,
        status: Some(status),
        task,
    })
}

/// Counts the connections `axum::serve` accepts.
struct CountingListener {
    inner: TcpListener,
    counters: Arc<Counters>,
}

impl axum::serve::Listener for CountingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn failing(State(state): State<FailState>, request: Request) -> Response {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let with = *state.with.borrow();
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"));
    // Read the body, as a server that refuses a whole request does.
    let body = axum::body::to_bytes(request.into_body(), 32 * 1024 * 1024).await;
    state
        .counters
        .bytes_up
        .fetch_add(body.map_or(0, |b| b.len() as u64), Ordering::Relaxed);
    let (name, code) = with.google();
    let message = format!("injected {} {name}", with.status);
    let mut response = if grpc {
        // Trailers-only: the status is in the response headers.
        let mut r = StatusCode::OK.into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", HeaderValue::from(u16::from(code)));
        if let Ok(v) = HeaderValue::from_str(&message) {
            h.insert("grpc-message", v);
        }
        r
    } else {
        let status = StatusCode::from_u16(with.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let body = serde_json::json!({
            "error": {"code": with.status, "message": message, "status": name}
        });
        (status, axum::Json(body)).into_response()
    };
    if let Some(secs) = with.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// What a [`Proxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything at once.
    Pass,
    /// Forward everything, each chunk this long after it arrived, in both
    /// directions (a round trip costs twice this).
    Delay(Duration),
    /// Hold everything, on every connection, new and old: nothing reaches
    /// the other side until the mode changes, then it flows on (late).
    Hang,
    /// Reset every open connection, and each new one as it arrives.
    Reset,
    /// Connect new connections to this address instead of the upstream
    /// (e.g. a [`fail`] listener); open connections to the upstream are
    /// reset, so pooled clients reconnect and reach it too.
    Divert(SocketAddr),
}

impl Mode {
    /// Where a connection made in this mode goes, if it is made now.
    fn target(self, upstream: SocketAddr) -> Option<SocketAddr> {
        match self {
            Mode::Pass | Mode::Delay(_) => Some(upstream),
            Mode::Divert(to) => Some(to),
            Mode::Hang | Mode::Reset => None,
        }
    }
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

/// Which way a [`direction`] copies.
#[derive(Debug, Clone, Copy)]
enum Flow {
    /// Client to upstream; `held` when the client's first bytes waited
    /// for a hang to end before the upstream connection was made.
    Up {
        held: bool,
    },
    Down,
}

/// After held traffic was released, how long a client's end of stream
/// waits before it reaches the upstream: a client that gave up and closed
/// while its request was held must not cancel that request as it lands
/// (servers drop a request whose connection closes under it), as a real
/// stalled network would have delivered the request before the close.
const LATE_EOF_GRACE: Duration = Duration::from_secs(2);

/// A chunk on its way, and when it may be written.
enum Chunk {
    Data(Instant, Vec<u8>),
    End,
}

/// Copies one direction of a connection: a reader that stamps each chunk
/// with when it may go out, and a writer that holds it until then (and
/// while the mode is `Hang`). An error or a kill resets both sockets.
async fn direction(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
    mut killed: watch::Receiver<bool>,
    kill: watch::Sender<bool>,
    counters: Arc<Counters>,
    flow: Flow,
) {
    let (up, mut held) = match flow {
        Flow::Up { held } => (true, held),
        Flow::Down => (false, false),
    };
    let (tx, mut rx) = mpsc::channel::<Chunk>(256);
    let reader = {
        let mode = mode.clone();
        let mut killed = killed.clone();
        let kill = kill.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let read = tokio::select! {
                    read = from.read(&mut buf) => read,
                    _ = killed.wait_for(|k| *k) => break,
                };
                match read {
                    Ok(0) => {
                        let _ = tx.send(Chunk::End).await;
                        break;
                    }
                    Ok(n) => {
                        let delay = match *mode.borrow() {
                            Mode::Delay(d) => d,
                            _ => Duration::ZERO,
                        };
                        if tx
                            .send(Chunk::Data(Instant::now() + delay, buf[..n].to_vec()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(_) => {
                        kill.send_replace(true);
                        break;
                    }
                }
            }
            from
        }
    };
    let writer = {
        let mut mode = mode.clone();
        let kill = kill.clone();
        async move {
            'chunks: while let Some(chunk) = tokio::select! {
                c = rx.recv() => c,
                _ = killed.wait_for(|k| *k) => None,
            } {
                let Chunk::Data(due, bytes) = chunk else {
                    if held {
                        tokio::select! {
                            () = tokio::time::sleep(LATE_EOF_GRACE) => {}
                            _ = killed.wait_for(|k| *k) => break,
                        }
                    }
                    let _ = to.shutdown().await;
                    break;
                };
                // Held while the dependency hangs; then on its way, late.
                loop {
                    let now = *mode.borrow_and_update();
                    match now {
                        Mode::Hang => {
                            held = true;
                            tokio::select! {
                                changed = mode.changed() => if changed.is_err() { break 'chunks },
                                _ = killed.wait_for(|k| *k) => break 'chunks,
                            }
                        }
                        Mode::Reset => {
                            kill.send_replace(true);
                            break 'chunks;
                        }
                        _ => break,
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    _ = killed.wait_for(|k| *k) => break,
                }
                let n = bytes.len() as u64;
                let written = tokio::select! {
                    w = to.write_all(&bytes) => w,
                    _ = killed.wait_for(|k| *k) => break,
                };
                if written.is_err() {
                    kill.send_replace(true);
                    break;
                }
                let counter = if up {
                    &counters.bytes_up
                } else {
                    &counters.bytes_down
                };
                counter.fetch_add(n, Ordering::Relaxed);
            }
            to
        }
    };
    let (from, to) = tokio::join!(reader, writer);
    if *kill.borrow() {
        // Both halves of both sockets go with an RST.
        let _ = from.as_ref().set_zero_linger();
        let _ = to.as_ref().set_zero_linger();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn client() -> reqwest::Client {
        // One connection per request: each test sees its own connections.
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }

    /// Whether a reqwest error was a reset connection.
    fn was_reset(e: &reqwest::Error) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionReset
            {
                return true;
            }
            if s.to_string().to_lowercase().contains("reset") {
                return true;
            }
            source = s.source();
        }
        false
    }

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
    async fn a_hanging_listener_takes_the_request_and_never_answers() {
        let l = hang().await.unwrap();
        let r = client()
            .post(l.url())
            .body("hello")
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(r.unwrap_err().is_timeout());
        assert_eq!(l.connections(), 1);
        assert!(l.bytes_received() > 0, "the request was read");
    }

    #[tokio::test]
    async fn a_failing_listener_answers_like_google_over_both_protocols() {
        let l = fail(FailWith::UNAVAILABLE).await.unwrap();
        let r = client()
            .get(format!("{}/v1/x", l.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["status"], "UNAVAILABLE");

        l.answer_with(FailWith::too_many(7));
        let r = client().post(l.url()).body("x").send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");

        // gRPC over HTTP/2 without TLS, as the Pub/Sub client speaks to an emulator.
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let r = h2
            .post(format!("{}/google.pubsub.v1.Publisher/Publish", l.url()))
            .header("content-type", "application/grpc")
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "8");
        assert_eq!(l.requests(), 3);
        assert_eq!(l.connections(), 3);
    }

    #[tokio::test]
    async fn a_resetting_listener_resets() {
        let l = reset().await.unwrap();
        let e = client().post(l.url()).body("x").send().await.unwrap_err();
        assert!(was_reset(&e), "{e:?}");
        assert_eq!(l.connections(), 1);
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
