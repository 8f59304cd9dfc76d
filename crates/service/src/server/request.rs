//! One request on its way to the router: the `Host` rule, the body
//! deadline, and the watchdog's in-progress count.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Version, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::ServiceExt as _;

use super::Shared;
use super::activity::Activity;

/// The request body did not arrive within the body read timeout. Handlers
/// see it as the body's error; the client gets 408 whatever they answer.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request body not received within {} ms", .0.as_millis())]
pub struct BodyTimedOut(pub Duration);

/// Whether `error`, or any error it wraps, is a [`BodyTimedOut`]: for
/// handlers that would otherwise treat an unreadable body as final.
pub fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        current = e.source();
    }
    false
}

pub(super) async fn handle(
    router: axum::Router,
    activity: Arc<Activity>,
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Tracked>, Infallible> {
    let body_timeout = shared.limits.body_read_timeout;
    let in_progress = InProgress::start(activity, request.version() == Version::HTTP_2);
    // HTTP/2 carries many requests a connection: the cap on connections is
    // also the cap on requests in progress, so stalled bodies cannot
    // multiply past it. (HTTP/1.1 never waits here: one request a
    // connection.) A waiting stream's unread data is bounded by its window.
    let Ok(_slot) = shared.requests.acquire().await else {
        return Ok(Tracked::wrap(
            StatusCode::SERVICE_UNAVAILABLE.into_response(),
            in_progress,
        ));
    };
    if let Err(problem) = check_host(&request) {
        tracing::info!(status = 400, reason = problem, "request refused");
        let response = (StatusCode::BAD_REQUEST, problem).into_response();
        return Ok(Tracked::wrap(
            closing(response, request.version()),
            in_progress,
        ));
    }
    let version = request.version();
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(Deadline {
            inner: body,
            timer: Box::pin(tokio::time::sleep(body_timeout)),
            limit: body_timeout,
            timed_out: Arc::clone(&timed_out),
        })
    });
    let Ok(response) = router.oneshot(request).await;
    let response = if timed_out.load(Ordering::Relaxed) {
        // Whatever the handler made of the missing body, the client is
        // told it was too slow, and the connection is not reused.
        tracing::debug!(
            timeout_ms = body_timeout.as_millis() as u64,
            "request body timed out"
        );
        let text = BodyTimedOut(body_timeout).to_string();
        closing((StatusCode::REQUEST_TIMEOUT, text).into_response(), version)
    } else {
        response
    };
    Ok(Tracked::wrap(response, in_progress))
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without
/// a `Host` header, and to any request with more than one or an invalid one.
fn check_host<B>(request: &Request<B>) -> Result<(), &'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err("more than one Host header");
    }
    match first {
        None if request.version() == Version::HTTP_11 => Err("missing Host header"),
        Some(host) if !valid_host(host) => Err("invalid Host header"),
        _ => Ok(()),
    }
}

/// `uri-host [":" port]`, or empty (allowed when the target has no authority).
fn valid_host(host: &HeaderValue) -> bool {
    let bytes = host.as_bytes();
    bytes.is_empty() || (!bytes.contains(&b'@') && http::uri::Authority::try_from(bytes).is_ok())
}

/// Asks an HTTP/1 client not to reuse the connection (HTTP/2 has no such
/// header; its streams are independent).
fn closing(mut response: Response, version: Version) -> Response {
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Counts the request as in progress until its response body is dropped.
struct InProgress(Arc<Activity>);

impl InProgress {
    fn start(activity: Arc<Activity>, http2: bool) -> Self {
        activity.request_started(http2);
        InProgress(activity)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request in progress until hyper has
/// written it (or given up on it).
pub(super) struct Tracked {
    inner: Body,
    _in_progress: InProgress,
}

impl Tracked {
    fn wrap(response: Response, in_progress: InProgress) -> Response<Tracked> {
        response.map(|inner| Tracked {
            inner,
            _in_progress: in_progress,
        })
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body, failing with [`BodyTimedOut`] when it is still
/// incomplete after the limit.
struct Deadline {
    inner: Incoming,
    timer: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
enum DeadlineError {
    #[error(transparent)]
    Body(#[from] hyper::Error),
    #[error(transparent)]
    TimedOut(#[from] BodyTimedOut),
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = DeadlineError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, DeadlineError>>> {
        // What has arrived is delivered even past the deadline; only
        // waiting for more is cut short.
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(DeadlineError::from))),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.timed_out.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(BodyTimedOut(self.limit).into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request<()> {
        let mut r = Request::builder().version(version).uri("/interactions");
        for h in hosts {
            r = r.header(header::HOST, *h);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn host_rules_follow_rfc_9112() {
        assert_eq!(
            check_host(&request(Version::HTTP_11, &["a.example"])),
            Ok(())
        );
        assert_eq!(
            check_host(&request(Version::HTTP_11, &["127.0.0.1:8080"])),
            Ok(())
        );
        assert_eq!(check_host(&request(Version::HTTP_11, &[""])), Ok(()));
        assert_eq!(check_host(&request(Version::HTTP_10, &[])), Ok(()));
        assert_eq!(check_host(&request(Version::HTTP_2, &[])), Ok(()));
        assert_eq!(
            check_host(&request(Version::HTTP_11, &[])),
            Err("missing Host header")
        );
        assert_eq!(
            check_host(&request(Version::HTTP_11, &["a.example", "b.example"])),
            Err("more than one Host header")
        );
        assert_eq!(
            check_host(&request(Version::HTTP_2, &["a.example", "a.example"])),
            Err("more than one Host header")
        );
        for bad in ["user@a.example", "a b", "a.example/path"] {
            assert_eq!(
                check_host(&request(Version::HTTP_11, &[bad])),
                Err("invalid Host header"),
                "{bad}"
            );
        }
    }
}
