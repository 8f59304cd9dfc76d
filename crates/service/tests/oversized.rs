//! A request whose body is over the limit gets its 413, and the client
//! reads it: the server must not reset the connection (discarding the
//! answer from the client's buffers) while the rest of the body arrives.
//! A real listener, a real client (reqwest), the real server loop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use mandala_service::server::{Limits, serve};

const LIMIT: usize = 64 * 1024;

async fn echo_len(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> axum::response::Response {
    match body {
        Ok(b) => format!("got {}", b.len()).into_response(),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {LIMIT} bytes"),
        )
            .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn server() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/", post(echo_len))
        .layer(DefaultBodyLimit::max(LIMIT));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(5),
        body_read_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(60),
        max_connections: 64,
        drain_timeout: Duration::from_secs(1),
    };
    tokio::spawn(serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_a_413_the_client_can_read() {
    let (url, _stop) = server().await;
    let http = reqwest::Client::new();
    for round in 0..5 {
        let body = vec![b'x'; 8 * 1024 * 1024];
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: no answer read: {e:?}"));
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "round {round}");
        let text = r.text().await.unwrap();
        assert_eq!(text, format!("request body is larger than {LIMIT} bytes"));
    }
    // The server is still there for well-sized requests.
    let r = http.post(&url).body("small").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "got 5");
}
