//! The sick listeners: [`hang`], [`fail`] (with [`FailWith`]) and [`reset`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{Counters, abort, bind};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::testing::{client, was_reset};
    use super::*;

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
}
