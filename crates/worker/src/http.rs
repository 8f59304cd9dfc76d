//! The HTTP surface: `POST /pubsub/push`, `POST /pubsub/dead-letter`,
//! `POST /tasks/run` (Cloud Tasks dispatches) and `GET /healthz`.
//!
//! What a push carries depends on the role: a job, or (`WORKER_ROLE=reply`)
//! a reply job. The reply stage takes no task dispatches: Cloud Tasks
//! carries jobs only.
//!
//! Every push answer carries this instance's speed report in `X-Mandala-*`
//! headers: Pub/Sub ignores them, and the local push delivery (which keeps
//! the queue ledger in the local default) reads them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use mandala_model::clock::now_ms;
use tokio::time::Instant;

use crate::auth::AuthError;
use crate::config::Role;
use crate::delivery::Delivery;
use crate::outcome::Outcome;
use crate::state::{Event, InFlight, Shared};
use crate::verdict::Verdict;
use crate::{dead_letter, job, replier};

/// Pub/Sub messages are at most 10 MB (13.4 MB as base64 in the envelope).
/// Anything up to that is read and, if it is not a job, acknowledged: a 413
/// would make Pub/Sub redeliver it forever.
const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;

/// How long past its deadline a job may run before the push is answered anyway.
const BACKSTOP: std::time::Duration = std::time::Duration::from_secs(2);

pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/pubsub/push", post(push))
        .route("/pubsub/dead-letter", post(dead_letter))
        .route("/healthz", get(healthz));
    if shared.role != Role::Reply {
        router = router.route("/tasks/run", post(task));
    }
    router.with_state(shared)
}

/// How a delivery arrived.
#[derive(Debug, Clone, Copy)]
enum Source {
    Push,
    Task,
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let body = serde_json::json!({
        "status": if shared.in_flight.is_closing() { "closing" } else { "ok" },
        "in_flight": shared.in_flight.running(),
        "waiting_for_a_slot": shared.pool.waiting(),
        "render_concurrency": shared.pool.size(),
        "role": shared.role.as_str(),
        "speed": shared.calibrator.stat(now_ms()),
        "stats": shared.stats.snapshot(),
    });
    axum::Json(body).into_response()
}

/// Adds this instance's speed report to an answer.
fn with_report(shared: &Shared, mut response: Response) -> Response {
    for (k, v) in shared.calibrator.stat(now_ms()).to_headers() {
        response.headers_mut().insert(k, v);
    }
    response
}

fn answer(verdict: Verdict) -> Response {
    match verdict {
        Verdict::Ack { outcome, detail } => {
            (StatusCode::OK, Body::from(format!("{outcome}: {detail}"))).into_response()
        }
        Verdict::Redeliver { status, detail } => (status, detail).into_response(),
    }
}

/// The dead-letter topic's push subscription: jobs every delivery failed.
async fn dead_letter(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if let Some(refused) = check_token(&shared, request.headers()).await {
        return refused;
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_PUSH_BYTES).await {
        Ok(b) => b,
        Err(e) if mandala_service::server::body_timed_out(&e) => {
            return (StatusCode::REQUEST_TIMEOUT, e.to_string()).into_response();
        }
        Err(e) => {
            return (StatusCode::OK, format!("rejected: body unreadable: {e}")).into_response();
        }
    };
    let Some(guard) = InFlight::enter(&shared) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; redeliver later",
        )
            .into_response();
    };
    let verdict = if shared.role == Role::Reply {
        dead_letter::reply_job(&shared, &body).await
    } else {
        dead_letter::job(&shared, &body).await
    };
    drop(guard);
    with_report(&shared, answer(verdict))
}

/// The push's OIDC token, when the worker checks one; the refusal if it fails.
async fn check_token(shared: &Shared, headers: &http::HeaderMap) -> Option<Response> {
    let verifier = shared.verifier.as_ref()?;
    match verifier.check(headers).await {
        Ok(_) => None,
        // Google's keys cannot be fetched now: not the pusher's fault, so
        // Pub/Sub should try again rather than count a refusal.
        Err(e @ AuthError::KeysUnavailable(_)) => {
            shared.stats.count(Event::Ended(Outcome::Redeliver));
            tracing::warn!("push not checked: {e}");
            Some((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response())
        }
        Err(e) => {
            shared.stats.count(Event::Unauthorized);
            tracing::warn!("push refused: {e}");
            Some(
                (
                    StatusCode::UNAUTHORIZED,
                    [(http::header::WWW_AUTHENTICATE, "Bearer")],
                    e.to_string(),
                )
                    .into_response(),
            )
        }
    }
}

async fn push(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    deliver(shared, request, Source::Push).await
}

/// A Cloud Tasks dispatch: the job is the body, the rest is in headers.
async fn task(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    deliver(shared, request, Source::Task).await
}

async fn deliver(shared: Arc<Shared>, request: Request, source: Source) -> Response {
    if let Some(refused) = check_token(&shared, request.headers()).await {
        return refused;
    }
    let headers = match source {
        Source::Task => request.headers().clone(),
        Source::Push => http::HeaderMap::new(),
    };
    let started = Instant::now();
    let deadline = started + shared.job_deadline;
    // Cloud Run passes the request's trace context; log lines join that trace.
    let trace = mandala_service::trace::trace_id(request.headers())
        .map(|t| mandala_service::logging::cloud_trace(&t));
    let body = match axum::body::to_bytes(request.into_body(), MAX_PUSH_BYTES).await {
        Ok(b) => b,
        Err(e) if mandala_service::server::body_timed_out(&e) => {
            // Slow, not malformed: answered 408, so Pub/Sub redelivers it.
            tracing::warn!("push body unreadable: {e}");
            return (StatusCode::REQUEST_TIMEOUT, e.to_string()).into_response();
        }
        Err(e) => {
            // Too large or cut off: a Pub/Sub push never is, so nothing to redeliver.
            shared.stats.count(Event::Received);
            shared.stats.count(Event::Ended(Outcome::Rejected));
            tracing::warn!("push body unreadable: {e}");
            return (StatusCode::OK, format!("rejected: body unreadable: {e}")).into_response();
        }
    };
    shared.stats.count(Event::Received);
    let Some(guard) = InFlight::enter(&shared) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; redeliver later",
        )
            .into_response();
    };
    let delivery = match source {
        Source::Push => Delivery::from_push(&body),
        Source::Task => Delivery::from_task(&headers, &body),
    };
    // The job runs in its own task: if Pub/Sub hangs up, it still finishes
    // (and graceful shutdown waits for it through the guard).
    let task_shared = Arc::clone(&shared);
    let mut task = tokio::spawn(async move {
        let _guard = guard;
        if task_shared.role == Role::Reply {
            replier::process(&task_shared, delivery, deadline, trace).await
        } else {
            job::process(&task_shared, delivery, deadline, trace).await
        }
    });
    // The job keeps its own deadline (and time to tell its user after it);
    // this is the backstop should it not.
    let verdict = match tokio::time::timeout_at(deadline + BACKSTOP, &mut task).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => Verdict::Redeliver {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: format!("job task failed: {e}"),
        },
        Err(_) => {
            task.abort();
            shared.stats.count(Event::Ended(Outcome::Redeliver));
            tracing::warn!(
                "job exceeded its {} s deadline",
                shared.job_deadline.as_secs()
            );
            Verdict::Redeliver {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: "job deadline exceeded".into(),
            }
        }
    };
    if let Source::Task = source {
        // The stall watchdog keeps sweeping for a while after this.
        shared.in_flight.task_seen(now_ms());
    }
    with_report(&shared, answer(verdict))
}
