//! The HTTP server both services run: hyper's HTTP/1.1 and HTTP/2 (h2c)
//! with the limits an outside client must not be able to lift.
//!
//! `axum::serve` has no timers and no connection cap: a client that opens
//! a connection and sends half a request head, or half a body, or nothing
//! at all, holds a file descriptor and its buffers for as long as it likes.
//! This loop serves the same router with:
//!
//! - a cap on open connections ([`Limits::max_connections`], lowered to
//!   what the open-file limit allows); when it is reached, connections with
//!   no request in progress are closed to make room, and accepting waits.
//!   The same number caps requests in progress, which HTTP/2 could
//!   otherwise multiply;
//! - per connection, a watchdog ([`connection`], told what happens by the
//!   socket and the request path through [`activity`]) that closes it when it
//!   sits idle ([`Limits::idle_timeout`]) or takes too long to deliver a
//!   request head once it started sending one ([`Limits::header_read_timeout`]);
//! - per request ([`request`]), a body deadline ([`Limits::body_read_timeout`],
//!   answered with 408) and RFC 9112's `Host` rule (400);
//! - graceful shutdown: stop accepting, let requests in progress finish,
//!   and cut whatever is left when [`Limits::drain_timeout`] runs out, so
//!   the process exits before Cloud Run's 10 s are up.

mod activity;
mod connection;
mod fd_limit;
mod request;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

pub use request::{BodyTimedOut, body_timed_out};

/// What a connection may cost the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// From the end of the head to the end of the body, while a handler
    /// waits for it.
    pub body_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
    /// Connections open at once, and requests in progress at once.
    pub max_connections: usize,
    /// After the shutdown signal, how long requests in progress may take
    /// before their connections are closed.
    pub drain_timeout: Duration,
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open when the drain budget ran out, closed without
    /// waiting further.
    pub cut: usize,
}

/// What the accept loop shares with every connection task.
struct Shared {
    limits: Limits,
    /// Notified when the cap is reached: idle connections close.
    pressure: Notify,
    /// Set while the accept loop waits for a slot: connections that become
    /// idle meanwhile close too.
    crowded: AtomicBool,
    /// Becomes `true` on the shutdown signal.
    draining: watch::Receiver<bool>,
    /// Requests in progress, capped like connections (see [`request`]).
    requests: Semaphore,
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Drained {
    let limits = Limits {
        max_connections: fd_limit::connection_cap(limits.max_connections),
        ..limits
    };
    let (drain_tx, draining) = watch::channel(false);
    let shared = Arc::new(Shared {
        limits,
        pressure: Notify::new(),
        crowded: AtomicBool::new(false),
        draining,
        requests: Semaphore::new(limits.max_connections),
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        let Some(slot) = take_slot(&slots, &shared, shutdown.as_mut()).await else {
            break;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(connection::serve(
                    stream,
                    peer,
                    router.clone(),
                    Arc::clone(&shared),
                    slot,
                ));
            }
            Err(e) if peer_gave_up(&e) => {}
            Err(e) => {
                if !back_off(&e, &shared, shutdown.as_mut()).await {
                    break;
                }
            }
        }
    }
    // Closing the listening socket refuses new connections at once.
    drop(listener);
    let _ = drain_tx.send(true);
    drain(connections, limits).await
}

/// A place under the connection cap: at once if one is free; otherwise
/// idle connections are asked to close and accepting waits. `None` when
/// `shutdown` comes first.
async fn take_slot(
    slots: &Arc<Semaphore>,
    shared: &Shared,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return Some(slot);
    }
    tracing::debug!(
        max_connections = shared.limits.max_connections,
        "connection cap reached; closing idle connections"
    );
    shared.crowded.store(true, Ordering::Relaxed);
    shared.pressure.notify_waiters();
    let slot = tokio::select! {
        slot = Arc::clone(slots).acquire_owned() => slot,
        () = shutdown => return None,
    };
    shared.crowded.store(false, Ordering::Relaxed);
    // The semaphore is never closed.
    slot.ok()
}

/// The peer gave up between connecting and being accepted.
fn peer_gave_up(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// After an accept error that is not the peer's doing (out of file
/// descriptors or memory): waits for connections to close rather than
/// spin, and asks idle ones to go. `false` when `shutdown` comes first.
async fn back_off(
    e: &std::io::Error,
    shared: &Shared,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> bool {
    tracing::warn!(error = %e, "cannot accept a connection");
    shared.pressure.notify_waiters();
    tokio::select! {
        () = tokio::time::sleep(ACCEPT_BACKOFF) => true,
        () = shutdown => false,
    }
}

/// Lets the connections still open finish within the drain budget, then
/// cuts the rest.
async fn drain(mut connections: JoinSet<()>, limits: Limits) -> Drained {
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let cut = connections.len();
    if drained.is_err() {
        tracing::warn!(
            cut,
            budget_ms = limits.drain_timeout.as_millis() as u64,
            "connections still open after the drain budget; closing them"
        );
        connections.shutdown().await;
    }
    Drained { cut }
}

/// Pause after an accept error that is not the peer's doing.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
