//! [`Activity`]: what a connection's socket and its request path tell the
//! connection's watchdog — requests in flight, bytes arriving, HTTP/2 —
//! shared by both, below both.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// What the socket and the request path tell the watchdog.
#[derive(Debug, Default)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    /// Bytes arrived since the connection last became idle.
    receiving: AtomicBool,
    http2: AtomicBool,
    changed: Notify,
}

impl Activity {
    pub(super) fn received(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && !self.receiving.swap(true, Ordering::Relaxed)
        {
            self.changed.notify_one();
        }
    }

    pub(super) fn request_started(&self, http2: bool) {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.changed.notify_one();
        }
    }

    /// Called when the response body is dropped, i.e. written or abandoned.
    pub(super) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.receiving.store(false, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    pub(super) fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Waits for the next change.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// An HTTP/1 connection with bytes of a request arriving: a head is
    /// being read (HTTP/2 frames keep flowing between requests).
    pub(super) fn receiving_http1(&self) -> bool {
        self.receiving.load(Ordering::Relaxed) && !self.http2.load(Ordering::Relaxed)
    }
}
