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

mod direction;
mod listeners;
mod mode;
mod proxy;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;

use tokio::net::{TcpListener, TcpStream};

pub use listeners::{FailWith, Listener, fail, hang, reset};
pub use mode::Mode;
pub use proxy::{Proxy, Traffic};

/// What a listener or proxy has seen.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// A listener on a free loopback port, and its address.
async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Closes a socket with an RST once the last handle to it is dropped.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// What the tests of the listeners and of the proxy share.
#[cfg(test)]
mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    pub(super) fn client() -> reqwest::Client {
        // One connection per request: each test sees its own connections.
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }

    /// Whether a reqwest error was a reset connection.
    pub(super) fn was_reset(e: &reqwest::Error) -> bool {
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
}
