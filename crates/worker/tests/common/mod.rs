//! Shared test harness: a real worker and a real Discord stand-in, both on
//! 127.0.0.1 listeners, and helpers to build push envelopes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mandala_model::discord::snowflake;
use mandala_model::job::{JobKind, Requester};
use mandala_model::{InteractionReply, Job, PushEnvelope, RenderSpec, Reply};
use mandala_standin::discord::DiscordStandin;
use mandala_worker::{Config, Worker};

pub const APP_ID: &str = "1100000000000000001";

pub use mandala_model::clock::now_ms;

/// Serves `router` on a fresh 127.0.0.1 port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A stand-in mounted under `/api/v10`, as `mandala dev` mounts it.
pub struct Discord {
    pub standin: DiscordStandin,
    pub api_base: String,
}

pub async fn discord() -> Discord {
    let standin = DiscordStandin::new();
    let addr = serve(axum::Router::new().nest("/api/v10", standin.router())).await;
    Discord {
        standin,
        api_base: format!("http://{addr}/api/v10"),
    }
}

/// A worker serving on its own listener.
pub struct Running {
    pub worker: Worker,
    pub url: String,
    pub http: reqwest::Client,
}

impl Running {
    pub async fn push(&self, body: Vec<u8>) -> (u16, String) {
        self.post("/pubsub/push", body, &[]).await
    }

    /// POSTs `body` to `path` with `headers`: status and body text.
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A Cloud Tasks dispatch of `job`: task `name`, `retries` before it,
    /// scheduled (`X-CloudTasks-TaskETA`) at `eta_ms`.
    pub async fn dispatch(
        &self,
        job: &Job,
        name: &str,
        retries: u32,
        eta_ms: u64,
    ) -> (u16, String) {
        let headers = [
            ("x-cloudtasks-taskname", name.to_owned()),
            ("x-cloudtasks-taskretrycount", retries.to_string()),
            ("x-cloudtasks-taskexecutioncount", retries.to_string()),
            ("x-cloudtasks-queuename", "mandala-jobs".to_owned()),
            (
                "x-cloudtasks-tasketa",
                format!("{:.6}", eta_ms as f64 / 1000.0),
            ),
        ];
        self.post("/tasks/run", job.to_json(), &headers).await
    }
}

pub async fn start(config: Config) -> Running {
    start_with(config, None).await
}

/// [`start`] with a queue ledger of the test's (an in-memory one, say).
pub async fn start_with(config: Config, ledger: Option<mandala_ledger::Ledger>) -> Running {
    let worker = Worker::start_with(config, ledger).await.unwrap();
    let addr = serve(worker.router()).await;
    Running {
        worker,
        url: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

/// A worker on a local store in `dir`, replying to `api_base`.
pub fn config(dir: &std::path::Path, api_base: &str) -> Config {
    let mut c = Config::local(dir, api_base);
    c.render_concurrency = Some(2);
    c
}

pub fn spec(seed: u64) -> RenderSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(256),
        ..Default::default()
    }
}

/// An interaction reply created `age_ms` ago.
pub fn interaction(token: &str, age_ms: u64) -> Reply {
    Reply::Interaction(InteractionReply {
        application_id: APP_ID.into(),
        interaction_id: snowflake::from_timestamp_ms(now_ms() - age_ms, 7).into(),
        token: token.into(),
    })
}

pub fn job(spec: RenderSpec, reply: Reply) -> Job {
    let mut j = Job::new(spec, reply, JobKind::Command);
    j.requested_by = Some(Requester {
        user_id: Some("80351110224678912".into()),
        ..Default::default()
    });
    j
}

/// The push envelope Pub/Sub would POST for `job`.
pub fn envelope(job: &Job, message_id: &str, attempt: Option<u32>) -> Vec<u8> {
    serde_json::to_vec(&PushEnvelope::wrap(
        job,
        message_id,
        "projects/p/subscriptions/mandala-jobs-push",
        "2026-11-24T10:00:00.000Z",
        BTreeMap::new(),
        attempt,
    ))
    .unwrap()
}

/// [`envelope`] of any body, published (as Pub/Sub stamps it) at `published_ms`.
pub fn envelope_of(
    data: &[u8],
    message_id: &str,
    attempt: Option<u32>,
    published_ms: u64,
) -> Vec<u8> {
    serde_json::to_vec(&PushEnvelope::wrap_data(
        data,
        message_id,
        "projects/p/subscriptions/mandala-jobs-push",
        rfc3339(published_ms),
        BTreeMap::new(),
        attempt,
    ))
    .unwrap()
}

/// Unix ms as RFC 3339, as Pub/Sub writes `publishTime`.
pub fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An in-memory queue ledger, as the local push delivery keeps it.
pub fn memory_ledger() -> mandala_ledger::Ledger {
    mandala_ledger::Ledger::new(
        std::sync::Arc::new(mandala_ledger::backend::memory::MemoryBackend::new()),
        mandala_ledger::Policy {
            max_per_user: 5,
            max_wait: Duration::from_secs(840),
            refresh: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            stall_after: None,
        },
    )
}

/// The user the test jobs belong to.
pub const USER: &str = "80351110224678912";

/// A ticket for `job`'s interaction, recorded in `ledger` as admitted
/// just now (when given), and carried by the job.
pub async fn admit(
    ledger: Option<&mandala_ledger::Ledger>,
    job: &mut Job,
) -> mandala_model::Ticket {
    let Reply::Interaction(reply) = &job.reply else {
        panic!("not an interaction job")
    };
    let id = reply.interaction_id.clone();
    let notices = mandala_ledger::NoticeTarget {
        application_id: reply.application_id.clone(),
        token: reply.token.clone(),
    };
    let expires_ms = reply.token_expires_at_ms().unwrap();
    let ticket = mandala_model::Ticket {
        user: USER.into(),
        job: id.clone(),
        due_ms: now_ms() + 1_000,
        cost: mandala_model::Cost(1_000),
        expires_ms,
        recorded: mandala_model::Recorded::Yes,
    };
    if let Some(ledger) = ledger {
        let a = ledger
            .admit(
                mandala_ledger::AdmitRequest {
                    user: USER.into(),
                    job: id,
                    cost: 1_000,
                    expires_ms,
                    label: "🌀 Rendering mandala".into(),
                    locale: String::new(),
                    reply: Some(notices),
                    now_ms: now_ms(),
                },
                tokio::time::Instant::now() + Duration::from_secs(5),
            )
            .await;
        assert!(
            matches!(a, mandala_ledger::Admission::Accepted { .. }),
            "{a:?}"
        );
    }
    job.ticket = Some(ticket.clone());
    ticket
}

/// The user's entries in `ledger`, by job id.
pub async fn entries(
    ledger: &mandala_ledger::Ledger,
) -> std::collections::BTreeMap<String, mandala_ledger::Entry> {
    ledger.backend().read(USER).await.unwrap().queue.jobs
}

/// Files under the local store (relative paths), sorted.
pub fn stored_files(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Stored images (no sidecars), relative paths.
pub fn stored_images(dir: &std::path::Path) -> Vec<String> {
    stored_files(dir)
        .into_iter()
        .filter(|f| {
            std::path::Path::new(f)
                .extension()
                .is_some_and(|e| e == "png" || e == "svg" || e == "webp")
        })
        .collect()
}

/// Decodes an image (PNG or WebP, told by its first bytes) and returns its size.
pub fn image_size(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).unwrap();
    (img.width(), img.height())
}

pub const SHORT: Duration = Duration::from_secs(5);
