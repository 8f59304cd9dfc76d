//! The push sink of `--sink-port`: acknowledges every POST and counts
//! them, so an ingress's local delivery has somewhere cheap to send jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// What the push sink has seen: how many POSTs, and when the last arrived.
#[derive(Debug)]
pub(super) struct Sink {
    count: AtomicU64,
    base: Instant,
    last_ns: AtomicU64,
}

impl Sink {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    pub fn last_at(&self) -> Instant {
        self.base + Duration::from_nanos(self.last_ns.load(Ordering::Acquire))
    }
}

/// A push endpoint that acknowledges everything and counts.
pub(super) async fn start_sink(port: u16) -> anyhow::Result<Arc<Sink>> {
    let sink = Arc::new(Sink {
        count: AtomicU64::new(0),
        base: Instant::now(),
        last_ns: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("--sink-port {port}: cannot listen"))?;
    let seen = Arc::clone(&sink);
    let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            let ns = u64::try_from(seen.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
            seen.last_ns.fetch_max(ns, Ordering::AcqRel);
            seen.count.fetch_add(1, Ordering::AcqRel);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(sink)
}

/// Waits until the sink's count has been still for a second (60 s at most).
pub(super) async fn settle(sink: &Sink) -> u64 {
    let mut last = sink.count();
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && still_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sink.count();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    last
}
