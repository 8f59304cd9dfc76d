//! Local push delivery: a push subscription in miniature.
//!
//! Jobs go into a bounded in-memory set of unacknowledged messages and a
//! dispatcher POSTs each one to `LOCAL_PUSH_URL` as a Pub/Sub push envelope,
//! several at a time. The semantics are the push subscription's:
//!
//! - 102, 200, 201, 202 and 204 acknowledge; any other status, a network
//!   error or no answer within the ack deadline is a failed attempt, retried
//!   with exponential backoff (100 ms doubling to 10 s, with jitter);
//! - `deliveryAttempt` counts attempts from 1;
//! - after the last attempt the envelope is appended to the dead-letter file.
//!
//! A message counts against the capacity from publish until it is acked or
//! dead-lettered; publishing into a full set fails (the user is asked to try
//! again) rather than growing without bound.
//!
//! On shutdown nothing new is started, POSTs in flight get a short grace,
//! and every message still unacknowledged is written to the spool file;
//! the next start loads it, removes it and delivers what it held, so a
//! restart (Ctrl-C in `mandala dev`) loses no queued job.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mandala_model::{Job, PushEnvelope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::PublishError;

/// The subscription name the envelopes carry.
pub const SUBSCRIPTION: &str = "projects/local/subscriptions/mandala-jobs-push";

/// Status codes a push endpoint acknowledges with (Pub/Sub's list).
const ACK_STATUSES: [u16; 5] = [102, 200, 201, 202, 204];

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// How long shutdown lets POSTs in flight finish before spooling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Settings of the local delivery.
#[derive(Debug, Clone)]
pub struct LocalPushConfig {
    /// A plain `http://` URL with a host (checked with the configuration).
    pub url: http::Uri,
    pub max_attempts: u32,
    pub dead_letter_file: PathBuf,
    pub spool_file: PathBuf,
    pub capacity: usize,
    pub ack_deadline: Duration,
    /// POSTs in flight at once (the worker renders in parallel).
    pub concurrency: usize,
}

/// One unacknowledged message, as written to the spool file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    message_id: String,
    publish_time: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    job: Job,
    /// Attempts made so far.
    #[serde(default)]
    attempts: u32,
    /// Publish order, so a resumed spool is delivered oldest first.
    #[serde(default)]
    seq: u64,
}

/// A message in memory: its fixed content, shared with the POST in flight
/// rather than copied for each attempt, and the attempts made so far.
#[derive(Debug)]
struct Queued {
    message: Arc<Pending>,
    attempts: u32,
}

impl Queued {
    fn new(message: Pending) -> Queued {
        Queued {
            attempts: message.attempts,
            message: Arc::new(message),
        }
    }

    /// The spool form, with the attempts counted so far.
    fn into_pending(self) -> Pending {
        Pending {
            attempts: self.attempts,
            ..Arc::unwrap_or_clone(self.message)
        }
    }
}

impl Pending {
    fn envelope(&self, delivery_attempt: u32) -> PushEnvelope {
        PushEnvelope::wrap(
            &self.job,
            self.message_id.clone(),
            SUBSCRIPTION,
            self.publish_time.clone(),
            self.attributes.clone(),
            Some(delivery_attempt),
        )
    }
}

/// A dead-lettered message: the last envelope sent and why it failed.
#[derive(Serialize)]
struct DeadLetter<'a> {
    #[serde(flatten)]
    envelope: &'a PushEnvelope,
    #[serde(rename = "lastError")]
    last_error: &'a str,
    #[serde(rename = "deadLetteredAt")]
    dead_lettered_at: String,
}

/// The local delivery. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LocalPush {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    config: LocalPushConfig,
    /// hyper's pooled client rather than reqwest: plain HTTP to one nearby
    /// endpoint needs none of reqwest's layers (redirects, TLS, proxies), and
    /// this runs once per job on the ingress's busiest path.
    client: Client<HttpConnector, Full<Bytes>>,
    pending: Mutex<HashMap<String, Queued>>,
    ready: mpsc::UnboundedSender<String>,
    closing: AtomicBool,
    stop: Notify,
    slots: Arc<Semaphore>,
    tasks: Mutex<JoinSet<()>>,
    id_base: u64,
    next_seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here leaves shared state half-updated across a panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Why the delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalPushError {
    #[error("LOCAL_SPOOL_FILE {path}: {error}")]
    Spool { path: PathBuf, error: String },
}

impl LocalPush {
    /// Starts the dispatcher and resumes anything left in the spool file.
    pub fn start(config: LocalPushConfig) -> Result<LocalPush, LocalPushError> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        // Redirects are not followed: a push subscription counts a 3xx as a
        // failed attempt.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.concurrency.max(1))
            .build(connector);
        let resumed = load_spool(&config.spool_file)?;
        let (tx, rx) = mpsc::unbounded_channel();
        // Message ids must be unique across restarts too: start from the
        // boot time in microseconds (ids grow far slower than the clock).
        let id_base = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            client,
            pending: Mutex::new(HashMap::new()),
            ready: tx,
            closing: AtomicBool::new(false),
            stop: Notify::new(),
            tasks: Mutex::new(JoinSet::new()),
            id_base,
            next_seq: AtomicU64::new(0),
        });
        if let Some(last) = resumed.iter().map(|p| p.seq).max() {
            shared.next_seq.store(last + 1, Ordering::Relaxed);
        }
        if !resumed.is_empty() {
            tracing::info!(
                count = resumed.len(),
                spool = %shared.config.spool_file.display(),
                "resuming undelivered jobs from the spool"
            );
            let mut pending = lock(&shared.pending);
            for message in resumed {
                let id = message.message_id.clone();
                pending.insert(id.clone(), Queued::new(message));
                let _ = shared.ready.send(id);
            }
        }
        let dispatcher = tokio::spawn(dispatch(Arc::clone(&shared), rx));
        Ok(LocalPush {
            shared,
            dispatcher: Mutex::new(Some(dispatcher)),
        })
    }

    /// Queues a job; returns its message id once it is queued.
    pub fn publish(
        &self,
        job: &Job,
        attributes: BTreeMap<String, String>,
    ) -> Result<String, PublishError> {
        let shared = &self.shared;
        if shared.closing.load(Ordering::Acquire) {
            return Err(PublishError::ShuttingDown);
        }
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let message_id = (shared.id_base + seq).to_string();
        {
            let mut pending = lock(&shared.pending);
            if pending.len() >= shared.config.capacity {
                return Err(PublishError::QueueFull(pending.len()));
            }
            pending.insert(
                message_id.clone(),
                Queued::new(Pending {
                    message_id: message_id.clone(),
                    publish_time: now_rfc3339(),
                    attributes,
                    job: job.clone(),
                    attempts: 0,
                    seq,
                }),
            );
        }
        shared
            .ready
            .send(message_id.clone())
            .map_err(|_| PublishError::ShuttingDown)?;
        Ok(message_id)
    }

    /// Messages not yet acknowledged or dead-lettered.
    pub fn unacked(&self) -> usize {
        lock(&self.shared.pending).len()
    }

    /// Stops delivery and writes every unacknowledged message to the spool.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.closing.store(true, Ordering::Release);
        shared.stop.notify_one();
        let dispatcher = lock(&self.dispatcher).take();
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        // Every POST in flight holds a slot: taking them all means none is left.
        let all = u32::try_from(shared.config.concurrency.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, shared.slots.acquire_many(all)).await;
        if drained.is_err() {
            tracing::warn!(
                "push deliveries still in flight at shutdown; they are spooled and will be sent again"
            );
        }
        lock(&shared.tasks).abort_all();
        let mut left: Vec<Pending> = lock(&shared.pending)
            .drain()
            .map(|(_, q)| q.into_pending())
            .collect();
        left.sort_by_key(|p| p.seq);
        let path = &shared.config.spool_file;
        if left.is_empty() {
            return;
        }
        match write_spool(path, &left) {
            Ok(()) => tracing::info!(
                count = left.len(),
                spool = %path.display(),
                "undelivered jobs saved; they are delivered on the next start"
            ),
            Err(e) => {
                tracing::error!(error = %e, spool = %path.display(), count = left.len(), "could not save undelivered jobs");
            }
        }
    }
}

/// Hands ready messages to delivery tasks, at most `concurrency` at once.
async fn dispatch(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<String>) {
    loop {
        let id = tokio::select! {
            biased;
            () = shared.stop.notified() => return,
            id = ready.recv() => match id { Some(id) => id, None => return },
        };
        let permit = tokio::select! {
            biased;
            () = shared.stop.notified() => return,
            p = Arc::clone(&shared.slots).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let message = {
            let mut pending = lock(&shared.pending);
            pending.get_mut(&id).map(|q| {
                q.attempts += 1;
                (Arc::clone(&q.message), q.attempts)
            })
        };
        let Some((message, attempt)) = message else {
            continue;
        };
        let s = Arc::clone(&shared);
        let mut tasks = lock(&shared.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            deliver(&s, &message, attempt).await;
            drop(permit);
        });
    }
}

/// One POST and what follows from its answer.
async fn deliver(shared: &Arc<Shared>, message: &Pending, attempt: u32) {
    let envelope = message.envelope(attempt);
    let outcome = match post(shared, &envelope).await {
        Ok(status) if ACK_STATUSES.contains(&status.as_u16()) => Ok(()),
        Ok(status) => Err(format!("push endpoint answered {status}")),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            lock(&shared.pending).remove(&message.message_id);
            tracing::debug!(message_id = %message.message_id, attempt, "push acknowledged");
        }
        Err(error) if attempt >= shared.config.max_attempts => {
            tracing::error!(
                message_id = %message.message_id,
                attempt,
                %error,
                dead_letter = %shared.config.dead_letter_file.display(),
                "push delivery failed for the last time; dead-lettered"
            );
            if let Err(e) = dead_letter(&shared.config.dead_letter_file, &envelope, &error) {
                // Keep the message: it is spooled on shutdown instead of lost.
                tracing::error!(error = %e, "could not write the dead-letter file");
                return;
            }
            lock(&shared.pending).remove(&message.message_id);
        }
        Err(error) => {
            let delay = backoff(attempt);
            tracing::warn!(
                message_id = %message.message_id,
                attempt,
                %error,
                retry_in_ms = delay.as_millis() as u64,
                "push delivery failed; will retry"
            );
            let s = Arc::clone(shared);
            let id = message.message_id.clone();
            lock(&shared.tasks).spawn(async move {
                tokio::time::sleep(delay).await;
                if !s.closing.load(Ordering::Acquire) {
                    let _ = s.ready.send(id);
                }
            });
        }
    }
}

/// POSTs one envelope and returns the status, within the ack deadline.
async fn post(shared: &Shared, envelope: &PushEnvelope) -> Result<http::StatusCode, String> {
    let body = serde_json::to_vec(envelope).map_err(|e| format!("cannot encode: {e}"))?;
    let request = http::Request::post(shared.config.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let exchange = async {
        let response = shared
            .client
            .request(request)
            .await
            .map_err(|e| format!("push failed: {e}"))?;
        let status = response.status();
        // Read the (small) answer to its end so the connection goes back to
        // the pool; a status already received stands even if this fails.
        let _ = response.into_body().collect().await;
        Ok(status)
    };
    tokio::time::timeout(shared.config.ack_deadline, exchange)
        .await
        .unwrap_or_else(|_| Err("push endpoint did not answer within the ack deadline".to_owned()))
}

/// Exponential backoff after `attempt` failures, with jitter between half
/// and the full delay so that a burst of failures does not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let full = exp.min(BACKOFF_CAP);
    let jitter = jitter_fraction();
    full.mul_f64(0.5 + 0.5 * jitter)
}

/// A number in [0, 1) that differs between calls; not for cryptography.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .cast_unsigned(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

fn dead_letter(path: &Path, envelope: &PushEnvelope, error: &str) -> std::io::Result<()> {
    ensure_parent(path)?;
    let line = serde_json::to_string(&DeadLetter {
        envelope,
        last_error: error,
        dead_lettered_at: now_rfc3339(),
    })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

fn write_spool(path: &Path, messages: &[Pending]) -> std::io::Result<()> {
    ensure_parent(path)?;
    // Write aside and rename, so a crash mid-write leaves no torn spool.
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for m in messages {
            serde_json::to_writer(&mut f, m)?;
            writeln!(f)?;
        }
        f.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads and removes the spool. A line that does not parse is kept aside
/// (`.bad` file) rather than silently dropped.
fn load_spool(path: &Path) -> Result<Vec<Pending>, LocalPushError> {
    let spool_err = |error: String| LocalPushError::Spool {
        path: path.to_owned(),
        error,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(spool_err(e.to_string())),
    };
    let mut good = Vec::new();
    let mut bad = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Pending>(line) {
            Ok(p) => good.push(p),
            Err(e) => {
                tracing::error!(error = %e, spool = %path.display(), "unreadable spool line kept in the .bad file");
                bad.push_str(line);
                bad.push('\n');
            }
        }
    }
    if !bad.is_empty() {
        let bad_path = path.with_extension("jsonl.bad");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&bad_path)
            .map_err(|e| spool_err(e.to_string()))?;
        f.write_all(bad.as_bytes())
            .map_err(|e| spool_err(e.to_string()))?;
    }
    std::fs::remove_file(path).map_err(|e| spool_err(e.to_string()))?;
    good.sort_by_key(|p| p.seq);
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..50 {
            let d1 = backoff(1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = backoff(3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d20 = backoff(20);
            assert!(
                d20 >= Duration::from_secs(5) && d20 <= Duration::from_secs(10),
                "{d20:?}"
            );
        }
    }
}
