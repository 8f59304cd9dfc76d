//! One connection: hyper serving it, and a watchdog that closes it.
//!
//! hyper's own `header_read_timeout` starts when hyper begins waiting for
//! a head, which on a kept-alive connection is right after the previous
//! response: it would make the idle time and the head time one setting,
//! and it does not cover the first bytes, which hyper-util reads itself to
//! tell HTTP/1.1 from HTTP/2. So the watchdog keeps its own phases, fed
//! by the socket (bytes arrived) and by the request path (a request
//! started or finished):
//!
//! - **idle**: no request in progress and nothing received since the last
//!   one; closed after `idle_timeout`;
//! - **head**: bytes arrived but no request has started yet (a head on its
//!   way, or a stalled one); closed `header_read_timeout` after the first
//!   byte. An HTTP/2 connection is idle instead, since its control frames
//!   (pings, settings) arrive between requests;
//! - **busy**: a request is in progress; its body has its own deadline
//!   (see [`super::request`]) and the handler's time is the handler's
//!   business.
//!
//! Closing is hyper's graceful shutdown (an HTTP/1.1 connection between
//! requests closes at once, HTTP/2 gets GOAWAY), then a hard close if the
//! peer does not let go within [`CLOSE_GRACE`].
//!
//! Every close lingers ([`Watched::poll_shutdown`]): the server's side is
//! shut first (the client sees the answer, then the end), and what the
//! client still sends is read and dropped until it closes too, for at most
//! [`LINGER`]. Closing a socket with unread bytes in it resets the
//! connection, and a reset makes the client's system discard what it had
//! received but not yet read: a client still uploading an oversized body
//! would lose the 413 that refused it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::activity::Activity;
use super::{Limits, Shared, request};

/// How long a connection asked to close may take to do so.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// After the server's last byte, how long closing waits for the client to
/// stop sending (see [`Watched::poll_shutdown`]).
const LINGER: Duration = Duration::from_secs(2);
/// The most a lingering close reads and discards.
const LINGER_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// The largest HTTP/1.1 read buffer, and so the largest request head.
const READ_BUFFER_MAX: usize = 16 * 1024;
const H2_STREAM_WINDOW: u32 = 64 * 1024;
const H2_CONNECTION_WINDOW: u32 = 128 * 1024;
const H2_MAX_STREAMS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Busy,
    Closing,
}

/// Serves one accepted connection until it closes; `_slot` is its place
/// under the connection cap.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    shared: Arc<Shared>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
        linger: None,
    });
    let service = {
        let activity = Arc::clone(&activity);
        let shared = Arc::clone(&shared);
        hyper::service::service_fn(move |req| {
            request::handle(
                router.clone(),
                Arc::clone(&activity),
                Arc::clone(&shared),
                req,
            )
        })
    };
    let builder = protocols();
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    let mut draining = shared.draining.clone();
    let mut watchdog = Watchdog {
        phase: Phase::Idle,
        closing: false,
        timer: std::pin::pin!(tokio::time::sleep(shared.limits.idle_timeout)),
        limits: shared.limits,
    };
    if *draining.borrow() {
        conn.as_mut().graceful_shutdown();
        watchdog.closing = true;
    }
    loop {
        let timed = watchdog.timed();
        let closing = watchdog.closing;
        let busy = watchdog.phase == Phase::Busy;
        let event = tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = activity.changed() => Event::Changed,
            () = watchdog.timer.as_mut(), if timed => Event::TimedOut,
            () = shared.pressure.notified(), if !closing && !busy => Event::Crowded,
            changed = draining.changed(), if !closing => {
                if changed.is_ok() && !*draining.borrow() {
                    continue;
                }
                Event::Draining
            }
        };
        let why = match watchdog.verdict(event, &activity, &shared) {
            Verdict::KeepOpen => continue,
            Verdict::Close(why) => why,
            Verdict::Drop => {
                tracing::debug!(%peer, "connection did not close in time; dropping it");
                break;
            }
        };
        tracing::debug!(%peer, why, "closing connection");
        conn.as_mut().graceful_shutdown();
        watchdog.closing_began(activity.busy());
    }
}

/// HTTP/1.1 and HTTP/2 with what a stalled client can make the server
/// hold, per connection, kept small.
fn protocols() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // An HTTP/1.1 read buffer otherwise doubles up to 400 KiB while a body
    // arrives, and body chunks keep every buffer they were cut from alive:
    // 140 KiB held per stalled 64 KiB body. 16 KiB still takes any
    // request head these services are sent.
    builder.http1().max_buf_size(READ_BUFFER_MAX);
    // HTTP/2 defaults to 1 MiB windows and 200 streams a connection; the
    // protocol's own 64 KiB window and a few streams are plenty here.
    builder
        .http2()
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_concurrent_streams(H2_MAX_STREAMS);
    builder
}

/// What woke the watchdog.
#[derive(Clone, Copy)]
enum Event {
    /// A request started or finished, or bytes arrived on an idle connection.
    Changed,
    TimedOut,
    /// The connection cap is reached.
    Crowded,
    Draining,
}

/// What the watchdog makes of an [`Event`].
enum Verdict {
    KeepOpen,
    /// Close gracefully, for this reason (logged).
    Close(&'static str),
    /// Asked to close, the connection did not within [`CLOSE_GRACE`].
    Drop,
}

/// The watchdog of one connection: its phase and the phase's deadline.
struct Watchdog<'t> {
    phase: Phase,
    /// A graceful shutdown was asked for.
    closing: bool,
    timer: Pin<&'t mut tokio::time::Sleep>,
    limits: Limits,
}

impl Watchdog<'_> {
    /// Whether the phase has a deadline (a request in progress has none).
    fn timed(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Head | Phase::Closing)
    }

    fn verdict(&mut self, event: Event, activity: &Activity, shared: &Shared) -> Verdict {
        match event {
            Event::Changed => self.changed(activity, &shared.crowded),
            Event::TimedOut => match self.phase {
                Phase::Closing => Verdict::Drop,
                Phase::Head => Verdict::Close("request head not received in time"),
                _ => Verdict::Close("idle"),
            },
            Event::Crowded => Verdict::Close("to make room"),
            // Requests in progress finish (the server's drain budget
            // bounds them); idle connections close now.
            Event::Draining => Verdict::Close("shutting down"),
        }
    }

    /// A request started or finished, or bytes arrived: the phase that
    /// follows, with its own deadline; a connection that is no longer busy
    /// closes at once while the accept loop waits for room.
    fn changed(&mut self, activity: &Activity, crowded: &AtomicBool) -> Verdict {
        let next = if activity.busy() {
            Phase::Busy
        } else if self.closing {
            Phase::Closing
        } else if activity.receiving_http1() {
            Phase::Head
        } else {
            Phase::Idle
        };
        if next != Phase::Busy && !self.closing && crowded.load(Ordering::Relaxed) {
            return Verdict::Close("to make room");
        }
        if next != self.phase {
            let wait = match next {
                Phase::Idle => self.limits.idle_timeout,
                Phase::Head => self.limits.header_read_timeout,
                Phase::Closing => CLOSE_GRACE,
                Phase::Busy => Duration::ZERO,
            };
            self.timer.as_mut().reset(Instant::now() + wait);
            self.phase = next;
        }
        Verdict::KeepOpen
    }

    /// A graceful shutdown was asked for: a request in progress finishes
    /// first; otherwise the connection has [`CLOSE_GRACE`] to go.
    fn closing_began(&mut self, busy: bool) {
        self.closing = true;
        if busy {
            self.phase = Phase::Busy;
        } else {
            self.phase = Phase::Closing;
            self.timer.as_mut().reset(Instant::now() + CLOSE_GRACE);
        }
    }
}

/// The socket, reporting to the watchdog when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// Once its side is shut: until when, and how much more, closing waits
    /// for the client to stop sending.
    linger: Option<Linger>,
}

struct Linger {
    until: Pin<Box<tokio::time::Sleep>>,
    budget: u64,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Shuts the server's side (everything written is flushed and followed
    /// by a FIN), then reads and drops what the client still sends until it
    /// closes its side, [`LINGER`] passes or [`LINGER_MAX_BYTES`] arrived.
    /// Closing with the client's bytes unread would answer them with a
    /// reset, which can wipe the response out of the client's buffers
    /// before it reads it (a 413 sent while the body is still arriving).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.linger = Some(Linger {
                until: Box::pin(tokio::time::sleep(LINGER)),
                budget: LINGER_MAX_BYTES,
            });
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                // The client closed (or reset): nothing left to protect.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    linger.budget = linger.budget.saturating_sub(buf.filled().len() as u64);
                    if linger.budget == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Pending => {
                    return match linger.until.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}
