//! A local twin of Cloud Tasks, for running the `cloud-tasks` design on one
//! machine and testing it.
//!
//! The only emulator on the registries speaks gRPC alone and ignores task
//! names, rates and backoff, which are exactly what the design relies on.
//! This twin serves the REST call the official `google-cloud-tasks-v2`
//! client makes (`POST /v2/{parent=projects/*/locations/*/queues/*}/tasks`,
//! a `CreateTaskRequest` as JSON with the parent in the path), and keeps the
//! semantics that matter:
//!
//! - named tasks are deduplicated: a name seen in the last
//!   [`QueueConfig::dedup_window`] (Google: about an hour, even after the
//!   task ran or was deleted) is refused `409 ALREADY_EXISTS`;
//! - dispatches start at most [`QueueConfig::max_dispatches_per_second`]
//!   and at most [`QueueConfig::max_concurrent_dispatches`] run at once;
//! - a non-2xx answer (or none within the dispatch deadline) is retried
//!   after an exponential backoff between the queue's min and max, until
//!   [`QueueConfig::max_attempts`];
//! - each dispatch carries `X-CloudTasks-QueueName`, `-TaskName`,
//!   `-TaskRetryCount`, `-TaskExecutionCount` and `-TaskETA`, and, when the
//!   task asks for one, an OIDC token signed by a test key whose key set is
//!   served at `/certs` (point the worker's `PUSH_JWKS_URL` there).
//!
//! Queues are created on first use, all with the twin's one configuration.

mod dispatch;
mod oidc;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub use dispatch::Attempt;

/// How the twin's queues behave (Terraform's `rate_limits` and `retry_config`).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub max_dispatches_per_second: f64,
    pub max_concurrent_dispatches: usize,
    /// Attempts in all, the first included; 0 means unlimited (Google's -1).
    pub max_attempts: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Doublings of the backoff before it grows linearly (Google's default 16).
    pub max_doublings: u32,
    /// How long a task's name stays taken after it was created.
    pub dedup_window: Duration,
    /// How long a dispatch may take before it counts as failed.
    pub dispatch_deadline: Duration,
}

impl Default for QueueConfig {
    /// Google's defaults for an HTTP queue, with faster backoff for local use.
    fn default() -> Self {
        QueueConfig {
            max_dispatches_per_second: 500.0,
            max_concurrent_dispatches: 1000,
            max_attempts: 100,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_doublings: 16,
            dedup_window: Duration::from_secs(3600),
            dispatch_deadline: Duration::from_secs(600),
        }
    }
}

/// What happened so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TasksStats {
    pub created: u64,
    /// CreateTask calls refused because the name was taken.
    pub duplicates: u64,
    pub dispatches: u64,
    pub succeeded: u64,
    /// Tasks dropped after their last attempt failed.
    pub gave_up: u64,
}

/// A task waiting for its next dispatch.
#[derive(Debug, Clone)]
struct Pending {
    /// `projects/P/locations/L/queues/Q/tasks/T`.
    name: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// (service account, audience) of the OIDC token to attach.
    oidc: Option<(String, String)>,
    /// When it may run next, and the same as seconds since the epoch.
    due: Instant,
    eta_secs: f64,
    /// Dispatches made, and answers received.
    dispatch_count: u32,
    response_count: u32,
}

#[derive(Default)]
struct TwinState {
    queue: VecDeque<Pending>,
    /// Task name → when it was created, for deduplication.
    names: HashMap<String, Instant>,
    stats: TasksStats,
    attempts: Vec<Attempt>,
    /// Dispatches under way (their tasks are out of `queue` meanwhile).
    running: usize,
    sequence: u64,
}

struct Inner {
    config: QueueConfig,
    state: Mutex<TwinState>,
    /// Something was queued (or a dispatch ended).
    wake: Notify,
    http: reqwest::Client,
    /// Mints the dispatches' OIDC tokens.
    signer: oidc::Signer,
}

/// The twin; clones share state.
#[derive(Clone)]
pub struct CloudTasksTwin {
    inner: Arc<Inner>,
}

fn unix_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An error as Google's REST APIs answer it.
fn google_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": message.into(),
        "status": code,
    }});
    (status, axum::Json(body)).into_response()
}

/// `projects/*/locations/*/queues/*`, every segment non-empty.
fn is_queue(parent: &str) -> bool {
    let parts: Vec<&str> = parent.split('/').collect();
    matches!(
        parts.as_slice(),
        ["projects", p, "locations", l, "queues", q] if !p.is_empty() && !l.is_empty() && !q.is_empty()
    )
}

/// Task ids: letters, digits, hyphens and underscores, at most 500.
fn is_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 500
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl CloudTasksTwin {
    /// A twin whose queues follow `config`; call [`CloudTasksTwin::serve`].
    pub fn new(config: QueueConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(config.dispatch_deadline)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(CloudTasksTwin {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(TwinState::default()),
                wake: Notify::new(),
                http,
                signer: oidc::Signer::new()?,
            }),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut TwinState) -> T) -> T {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// Serves the API on `listener` and starts dispatching; returns
    /// `host:port` (the `CLOUD_TASKS_EMULATOR_HOST`). The key set of its
    /// tokens is at `http://host:port/certs`.
    pub async fn serve_on(&self, listener: tokio::net::TcpListener) -> std::io::Result<String> {
        let addr = listener.local_addr()?;
        let app = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Cloud Tasks twin stopped");
            }
        });
        tokio::spawn(dispatch::run(self.clone()));
        Ok(addr.to_string())
    }

    /// [`CloudTasksTwin::serve_on`] a free loopback port.
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        self.serve_on(listener).await
    }

    /// The API routes and `/certs`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v2/{*path}", post(create_task))
            .route("/certs", get(certs))
            .with_state(self.clone())
    }

    /// Counters so far.
    pub fn stats(&self) -> TasksStats {
        self.with(|s| s.stats)
    }

    /// Every dispatch so far, in the order they ended.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.with(|s| s.attempts.clone())
    }

    /// Tasks created and not yet finished or given up.
    pub fn pending(&self) -> usize {
        self.with(|s| s.queue.len())
    }

    /// Waits until nothing is pending and no dispatch runs, or the timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.wake.notified();
            if self.pending() == 0 && self.with(|s| s.running) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Accepts a `CreateTaskRequest` for `parent`.
    fn create(&self, parent: &str, request: &Value) -> Response {
        let task = &request["task"];
        let Some(http) = task.get("httpRequest") else {
            return invalid_argument(
                "the twin dispatches HTTP tasks only: task.httpRequest is required",
            );
        };
        let target = match HttpTarget::read(http) {
            Ok(target) => target,
            Err(problem) => return invalid_argument(problem),
        };
        let name = match self.task_name(parent, task) {
            Ok(name) => name,
            Err(problem) => return invalid_argument(problem),
        };
        if !self.enqueue(&name, target) {
            return google_error(
                StatusCode::CONFLICT,
                "ALREADY_EXISTS",
                format!("Requested entity already exists: {name}"),
            );
        }
        self.inner.wake.notify_waiters();
        let mut echoed = http.clone();
        if let Some(h) = echoed.as_object_mut() {
            // Google does not return the body in the BASIC view.
            h.remove("body");
        }
        axum::Json(json!({
            "name": name,
            "httpRequest": echoed,
            "dispatchCount": 0,
            "responseCount": 0,
        }))
        .into_response()
    }

    /// The task's full name: the one it asks for, under `parent`, or one
    /// of the twin's for an unnamed task; `Err` says why the name is refused.
    fn task_name(&self, parent: &str, task: &Value) -> Result<String, String> {
        match task["name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => {
                let id = n
                    .strip_prefix(parent)
                    .and_then(|r| r.strip_prefix("/tasks/"));
                if !id.is_some_and(is_task_id) {
                    return Err(format!("task name {n:?} is not {parent}/tasks/TASK_ID"));
                }
                Ok(n.to_owned())
            }
            None => {
                let seq = self.with(|s| {
                    s.sequence += 1;
                    s.sequence
                });
                // Unnamed tasks get an id of the twin's; never deduplicated.
                Ok(format!("{parent}/tasks/{:x}{seq:08x}", std::process::id()))
            }
        }
    }

    /// Queues the task due now, unless its name was taken within the
    /// deduplication window (then only counted as a duplicate).
    fn enqueue(&self, name: &str, target: HttpTarget) -> bool {
        let window = self.inner.config.dedup_window;
        let now = Instant::now();
        self.with(|s| {
            s.names.retain(|_, at| now.duration_since(*at) < window);
            if s.names.contains_key(name) {
                s.stats.duplicates += 1;
                return false;
            }
            s.names.insert(name.to_owned(), now);
            s.stats.created += 1;
            s.queue.push_back(Pending {
                name: name.to_owned(),
                url: target.url,
                headers: target.headers,
                body: target.body,
                oidc: target.oidc,
                due: now,
                eta_secs: unix_secs(),
                dispatch_count: 0,
                response_count: 0,
            });
            true
        })
    }
}

/// What a task's `httpRequest` asks the twin to send.
struct HttpTarget {
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// (service account, audience) of the OIDC token to attach.
    oidc: Option<(String, String)>,
}

impl HttpTarget {
    /// Reads a task's `httpRequest`: an http(s) URL, POST, a base64 body;
    /// `Err` says what is wrong with it.
    fn read(http: &Value) -> Result<Self, String> {
        let Some(url) = http["url"].as_str().filter(|u| u.starts_with("http")) else {
            return Err("task.httpRequest.url must be an http(s) URL".to_owned());
        };
        let method = http["httpMethod"].as_str().unwrap_or("POST");
        if method != "POST" {
            return Err(format!("the twin dispatches POST only, not {method}"));
        }
        let body = match http["body"].as_str() {
            None => Bytes::new(),
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(Bytes::from)
                .map_err(|e| format!("task.httpRequest.body is not base64: {e}"))?,
        };
        let headers = http["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        // The token's audience is the URL unless the task names another.
        let oidc = http.get("oidcToken").map(|t| {
            (
                t["serviceAccountEmail"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["audience"].as_str().unwrap_or(url).to_owned(),
            )
        });
        Ok(HttpTarget {
            url: url.to_owned(),
            headers,
            body,
            oidc,
        })
    }
}

/// Google's 400 `INVALID_ARGUMENT`.
fn invalid_argument(message: impl Into<String>) -> Response {
    google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

async fn create_task(
    State(twin): State<CloudTasksTwin>,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    let Some(parent) = path.strip_suffix("/tasks").filter(|p| is_queue(p)) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "the twin serves POST /v2/projects/*/locations/*/queues/*/tasks, not /v2/{path}"
            ),
        );
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                format!("body is not JSON: {e}"),
            );
        }
    };
    twin.create(parent, &request)
}

async fn certs(State(twin): State<CloudTasksTwin>) -> Response {
    axum::Json(twin.inner.signer.jwks()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(is_queue("projects/p/locations/l/queues/q"));
        assert!(!is_queue("projects/p/queues/q"));
        assert!(is_task_id("0f3a_9-c"));
        assert!(!is_task_id("a/b"));
        assert!(!is_task_id(""));
    }
}
