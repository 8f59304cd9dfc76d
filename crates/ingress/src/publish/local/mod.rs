//! Local push delivery: a push subscription in miniature.
//!
//! Jobs go into a bounded in-memory set of unacknowledged messages and a
//! dispatcher POSTs each one to `LOCAL_PUSH_URL` as a Pub/Sub push envelope.
//! The semantics are those of the production push subscription:
//!
//! - message ordering by ordering key (one user's jobs one at a time, users
//!   in turn: [`lanes`]);
//! - 102, 200, 201, 202 and 204 acknowledge; any other status, a network
//!   error or no answer within the ack deadline is a failed attempt, retried
//!   with exponential backoff (`LOCAL_PUSH_MIN_BACKOFF_MS` doubling up to
//!   `LOCAL_PUSH_MAX_BACKOFF_MS`, with jitter), before the rest of its key;
//! - `deliveryAttempt` counts attempts from 1;
//! - after the last attempt the envelope is appended to the dead-letter file
//!   and POSTed to the worker's dead-letter route, as the dead-letter topic's
//!   push subscription does, so the user hears how it ended.
//!
//! Like Cloud Run's request concurrency, at most as many POSTs are in flight
//! as the worker has render slots (it says so in its answers), and never
//! more than `LOCAL_PUSH_CONCURRENCY`.
//!
//! This delivery *is* the queue, so it also keeps the queue ledger: it marks
//! a job started when it hands it to the worker, removes it when the job is
//! acknowledged or dead-lettered, records the worker's speed reports, and
//! runs the sweeper that tells users whose job waits much longer than
//! promised.
//!
//! A message counts against the capacity from publish until it is acked or
//! dead-lettered; publishing into a full set fails (the user is asked to try
//! again) rather than growing without bound. On shutdown nothing new is
//! started, POSTs in flight get a short grace, and every message still
//! unacknowledged is written to the spool file; the next start delivers it.
//!
//! The same delivery serves two more places. With `in_process` it hands
//! each envelope to a router in this process instead of POSTing it: the
//! single-service design, where the ingress and the worker share one
//! process and this delivery is their queue (there, messages still queued
//! at shutdown are given to the dead-letter route instead of a spool file
//! that would die with the instance, so their users hear how it ended).
//! And it carries any [`Payload`]: the worker's render stage delivers reply
//! jobs to the replier with it in the split design.

mod files;
pub mod lanes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mandala_ledger::{Ledger, Notifier, Start, WorkerStat};
use mandala_model::PushEnvelope;
use mandala_model::clock::now_ms;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{Payload, PublishError};
use lanes::Lanes;

/// The subscription name the job envelopes carry.
pub const SUBSCRIPTION: &str = "projects/local/subscriptions/mandala-jobs-push";

/// The subscription name the reply-job envelopes carry (split design).
pub const REPLY_SUBSCRIPTION: &str = "projects/local/subscriptions/mandala-replies-push";

/// Status codes a push endpoint acknowledges with (Pub/Sub's list).
const ACK_STATUSES: [u16; 5] = [102, 200, 201, 202, 204];

/// How long shutdown lets POSTs in flight finish before spooling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A worker's speed report is recorded at most this often.
const REPORT_EVERY_MS: u64 = 2_000;

/// Settings of the local delivery.
#[derive(Debug, Clone)]
pub struct LocalPushConfig {
    /// A plain `http://` URL with a host (checked with the configuration).
    /// With `in_process`, only its path matters.
    pub url: http::Uri,
    /// The subscription name the envelopes carry.
    pub subscription: String,
    /// Hand envelopes to this router instead of POSTing them (ingress and
    /// worker in one process).
    pub in_process: Option<axum::Router>,
    /// At shutdown, give every message still queued to the dead-letter route
    /// (its user is told) instead of spooling it: for a process whose disk
    /// does not outlive it.
    pub tell_on_shutdown: bool,
    /// Where a dead-lettered envelope is POSTed (the worker's dead-letter route).
    pub dead_letter_url: http::Uri,
    pub max_attempts: u32,
    pub dead_letter_file: PathBuf,
    pub spool_file: PathBuf,
    pub capacity: usize,
    pub ack_deadline: Duration,
    /// POSTs in flight at once, at most.
    pub concurrency: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

/// One unacknowledged message, as written to the spool file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Payload")]
pub(crate) struct Pending<T> {
    message_id: String,
    publish_time: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// The message (named `job` in spool files since before reply jobs).
    job: T,
    /// Attempts made so far.
    #[serde(default)]
    attempts: u32,
    /// Publish order, so a resumed spool is delivered oldest first.
    #[serde(default)]
    seq: u64,
    /// The user's ordering key, if the job has one.
    #[serde(default)]
    ordering_key: Option<String>,
}

/// A message in memory: its fixed content, shared with the POST in flight
/// rather than copied for each attempt, and the attempts made so far.
#[derive(Debug)]
struct Queued<T> {
    message: Arc<Pending<T>>,
    attempts: u32,
}

impl<T: Payload> Queued<T> {
    fn new(message: Pending<T>) -> Queued<T> {
        Queued {
            attempts: message.attempts,
            message: Arc::new(message),
        }
    }

    /// The spool form, with the attempts counted so far.
    fn into_pending(self) -> Pending<T> {
        Pending {
            attempts: self.attempts,
            ..Arc::unwrap_or_clone(self.message)
        }
    }
}

impl<T: Payload> Pending<T> {
    fn envelope(&self, subscription: &str, delivery_attempt: u32) -> PushEnvelope {
        let mut envelope = PushEnvelope::wrap_data(
            &self.job.to_data(),
            self.message_id.clone(),
            subscription,
            self.publish_time.clone(),
            self.attributes.clone(),
            Some(delivery_attempt),
        );
        envelope.message.ordering_key.clone_from(&self.ordering_key);
        envelope
    }

    fn key(&self) -> Option<&str> {
        self.ordering_key.as_deref()
    }
}

/// The local delivery. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LocalPush<T: Payload> {
    shared: Arc<Shared<T>>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stop_sweeper: watch::Sender<bool>,
}

#[derive(Debug)]
struct Shared<T> {
    config: LocalPushConfig,
    /// hyper's pooled client rather than reqwest: plain HTTP to one nearby
    /// endpoint needs none of reqwest's layers (redirects, TLS, proxies), and
    /// this runs once per job on the ingress's busiest path.
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<State<T>>,
    /// Something became ready, or a POST finished.
    wake: Notify,
    closing: AtomicBool,
    /// POSTs in flight, and how many may be (the worker's slots, at most
    /// the configured concurrency).
    in_flight: AtomicUsize,
    window: AtomicUsize,
    tasks: Mutex<JoinSet<()>>,
    id_base: u64,
    next_seq: AtomicU64,
    ledger: Option<Ledger>,
    last_report_ms: AtomicU64,
}

#[derive(Debug)]
struct State<T> {
    pending: HashMap<String, Queued<T>>,
    lanes: Lanes,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            pending: HashMap::new(),
            lanes: Lanes::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here leaves shared state half-updated across a panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_rfc3339() -> String {
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

impl<T: Payload> LocalPush<T> {
    /// Starts the dispatcher (and, with a ledger and a notifier, the
    /// waiting-notice sweeper) and resumes anything left in the spool file.
    pub fn start(
        config: LocalPushConfig,
        ledger: Option<Ledger>,
        notifier: Option<Notifier>,
    ) -> Result<LocalPush<T>, LocalPushError> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        // Redirects are not followed: a push subscription counts a 3xx as a
        // failed attempt.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.concurrency.max(1))
            .build(connector);
        let resumed = files::load_spool(&config.spool_file)?;
        // Message ids must be unique across restarts too: start from the
        // boot time in microseconds (ids grow far slower than the clock).
        let id_base = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            window: AtomicUsize::new(config.concurrency.max(1)),
            config,
            client,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            tasks: Mutex::new(JoinSet::new()),
            id_base,
            next_seq: AtomicU64::new(0),
            ledger,
            last_report_ms: AtomicU64::new(0),
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
            let mut state = lock(&shared.state);
            for message in resumed {
                let id = message.message_id.clone();
                state.lanes.push(id.clone(), message.key());
                state.pending.insert(id, Queued::new(message));
            }
        }
        let dispatcher = tokio::spawn(dispatch(Arc::clone(&shared)));
        let (stop_sweeper, stopped) = watch::channel(false);
        if let (Some(ledger), Some(notifier)) = (shared.ledger.clone(), notifier) {
            let busy = Arc::clone(&shared);
            tokio::spawn(mandala_ledger::notice::run_sweeper(
                ledger,
                notifier,
                move || !lock(&busy.state).pending.is_empty(),
                stopped,
            ));
        }
        Ok(LocalPush {
            shared,
            dispatcher: Mutex::new(Some(dispatcher)),
            stop_sweeper,
        })
    }

    /// Queues a message under its ordering key; returns its message id once
    /// it is queued.
    pub fn publish(
        &self,
        job: &T,
        attributes: BTreeMap<String, String>,
        ordering_key: Option<String>,
    ) -> Result<String, PublishError> {
        let shared = &self.shared;
        if shared.closing.load(Ordering::Acquire) {
            return Err(PublishError::ShuttingDown);
        }
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let message_id = (shared.id_base + seq).to_string();
        {
            let mut state = lock(&shared.state);
            if state.pending.len() >= shared.config.capacity {
                return Err(PublishError::QueueFull(state.pending.len()));
            }
            state
                .lanes
                .push(message_id.clone(), ordering_key.as_deref());
            state.pending.insert(
                message_id.clone(),
                Queued::new(Pending {
                    message_id: message_id.clone(),
                    publish_time: now_rfc3339(),
                    attributes,
                    job: job.clone(),
                    attempts: 0,
                    seq,
                    ordering_key,
                }),
            );
        }
        shared.wake.notify_one();
        Ok(message_id)
    }

    /// Messages not yet acknowledged or dead-lettered.
    pub fn unacked(&self) -> usize {
        lock(&self.shared.state).pending.len()
    }

    /// Stops delivery and writes every unacknowledged message to the spool.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.closing.store(true, Ordering::Release);
        let _ = self.stop_sweeper.send(true);
        shared.wake.notify_one();
        let dispatcher = lock(&self.dispatcher).take();
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while shared.in_flight.load(Ordering::Acquire) > 0 {
                let finished = shared.wake.notified();
                if shared.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                finished.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "push deliveries still in flight at shutdown; they are spooled and will be sent again"
            );
        }
        lock(&shared.tasks).abort_all();
        let mut left: Vec<Pending<T>> = lock(&shared.state)
            .pending
            .drain()
            .map(|(_, q)| q.into_pending())
            .collect();
        left.sort_by_key(|p| p.seq);
        if shared.config.tell_on_shutdown {
            tell_left(shared, left).await;
            return;
        }
        let path = &shared.config.spool_file;
        if left.is_empty() {
            return;
        }
        match files::write_spool(path, &left) {
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

/// Gives the ledger back the entries of jobs resumed from the spool: an
/// in-memory ledger starts empty, and a job without an entry counts as
/// cancelled. Delivery waits until this is done.
async fn restore_entries<T: Payload>(shared: &Shared<T>, ledger: &Ledger) {
    let jobs: Vec<Arc<Pending<T>>> = lock(&shared.state)
        .pending
        .values()
        .map(|q| Arc::clone(&q.message))
        .collect();
    for message in jobs {
        let job = message.job.job();
        let (Some(t), mandala_model::Reply::Interaction(reply)) = (&job.ticket, &job.reply) else {
            continue;
        };
        let now = now_ms();
        let expires_ms = reply.token_expires_at_ms().unwrap_or(0);
        let mut entry = mandala_ledger::Entry::waiting(t.cost.0, now, t.due_ms, expires_ms);
        entry.locale = job.locale.clone().unwrap_or_default();
        entry.reply = Some(mandala_ledger::NoticeTarget {
            application_id: reply.application_id.clone(),
            token: reply.token.clone(),
        });
        if let Err(e) = ledger.restore(t, entry, now).await {
            tracing::warn!(error = %e, job = %t.job, "could not restore a spooled job in the ledger");
        }
    }
}

/// Hands ready messages to delivery tasks while the window has room.
async fn dispatch<T: Payload>(shared: Arc<Shared<T>>) {
    if let Some(ledger) = &shared.ledger {
        restore_entries(&shared, ledger).await;
    }
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if shared.closing.load(Ordering::Acquire) {
            // Let shutdown's drain wait see the wake-ups from now on.
            shared.wake.notify_waiters();
            return;
        }
        let room = shared.in_flight.load(Ordering::Acquire) < shared.window.load(Ordering::Acquire);
        let next = if room {
            let mut state = lock(&shared.state);
            let state = &mut *state;
            std::iter::from_fn(|| state.lanes.take_next()).find_map(|id| {
                let q = state.pending.get_mut(&id)?;
                q.attempts += 1;
                Some((Arc::clone(&q.message), q.attempts))
            })
        } else {
            None
        };
        let Some((message, attempt)) = next else {
            woken.await;
            continue;
        };
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let s = Arc::clone(&shared);
        let mut tasks = lock(&shared.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            deliver(&s, &message, attempt).await;
            s.in_flight.fetch_sub(1, Ordering::AcqRel);
            s.wake.notify_waiters();
            s.wake.notify_one();
        });
    }
}

/// The message left the queue for good.
async fn forget<T: Payload>(shared: &Shared<T>, message: &Pending<T>) {
    {
        let mut state = lock(&shared.state);
        state.pending.remove(&message.message_id);
        state.lanes.done(&message.message_id, message.key());
    }
    shared.wake.notify_one();
    if let (Some(ledger), Some(t)) = (&shared.ledger, &message.job.job().ticket)
        && let Err(e) = ledger.end(t, now_ms()).await
    {
        tracing::warn!(error = %e, job = %t.job, "could not remove a finished job from the ledger");
    }
}

/// Marks an admitted job started before it is handed over; `false` if the
/// ledger says it was cancelled. Waits out a waiting notice being sent, so
/// the worker's final edit comes after it.
async fn start<T: Payload>(shared: &Shared<T>, message: &Pending<T>) -> bool {
    let (Some(ledger), Some(t)) = (&shared.ledger, &message.job.job().ticket) else {
        return true;
    };
    let now = now_ms();
    match ledger.start(t, now).await {
        Ok(Start::Missing) => false,
        Ok(Start::Running { lease_until_ms }) => {
            if lease_until_ms > now {
                tokio::time::sleep(Duration::from_millis(lease_until_ms - now)).await;
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, job = %t.job, "could not mark a job started; delivering anyway");
            true
        }
    }
}

/// One POST and what follows from its answer.
async fn deliver<T: Payload>(shared: &Arc<Shared<T>>, message: &Arc<Pending<T>>, attempt: u32) {
    if !start(shared, message).await {
        tracing::info!(message_id = %message.message_id, "job cancelled before delivery (its user was told to try again)");
        forget(shared, message).await;
        return;
    }
    let envelope = message.envelope(&shared.config.subscription, attempt);
    let outcome = match post(shared, &shared.config.url, &envelope).await {
        Ok((status, headers)) => {
            record_report(shared, &headers).await;
            if ACK_STATUSES.contains(&status.as_u16()) {
                Ok(())
            } else {
                Err(format!("push endpoint answered {status}"))
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            tracing::debug!(message_id = %message.message_id, attempt, "push acknowledged");
            forget(shared, message).await;
        }
        Err(error) if attempt >= shared.config.max_attempts => {
            tracing::error!(
                message_id = %message.message_id,
                attempt,
                %error,
                dead_letter = %shared.config.dead_letter_file.display(),
                "push delivery failed for the last time; dead-lettered"
            );
            if let Err(e) = files::dead_letter(&shared.config.dead_letter_file, &envelope, &error) {
                // Keep the message: it is spooled on shutdown instead of lost.
                tracing::error!(error = %e, "could not write the dead-letter file");
                return;
            }
            push_dead_letter(shared, &envelope).await;
            forget(shared, message).await;
        }
        Err(error) => {
            let delay = backoff(
                attempt,
                shared.config.min_backoff,
                shared.config.max_backoff,
            );
            tracing::warn!(
                message_id = %message.message_id,
                attempt,
                %error,
                retry_in_ms = delay.as_millis() as u64,
                "push delivery failed; will retry"
            );
            let s = Arc::clone(shared);
            let m = Arc::clone(message);
            lock(&shared.tasks).spawn(async move {
                tokio::time::sleep(delay).await;
                lock(&s.state).lanes.again(m.message_id.clone(), m.key());
                s.wake.notify_one();
            });
        }
    }
}

/// The dead-letter topic's push subscription, in miniature: gives the worker
/// the exhausted job so it can tell the user. Best effort, a few tries.
async fn push_dead_letter<T: Payload>(shared: &Shared<T>, envelope: &PushEnvelope) {
    for attempt in 1..=3u32 {
        match post(shared, &shared.config.dead_letter_url, envelope).await {
            Ok((status, _)) if ACK_STATUSES.contains(&status.as_u16()) => return,
            Ok((status, _)) => {
                tracing::warn!(%status, attempt, "the dead-letter endpoint did not take the job");
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not reach the dead-letter endpoint");
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
}

/// Reads the worker's speed report off its answer: the window follows its
/// render slots, and the ledger's estimate follows its speed.
async fn record_report<T: Payload>(shared: &Shared<T>, headers: &http::HeaderMap) {
    let now = now_ms();
    let Some(stat) = WorkerStat::from_headers(headers, now) else {
        return;
    };
    let slots = (stat.slots as usize).clamp(1, shared.config.concurrency.max(1));
    shared.window.store(slots, Ordering::Release);
    let last = shared.last_report_ms.load(Ordering::Relaxed);
    if now < last + REPORT_EVERY_MS
        || shared
            .last_report_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Some(ledger) = &shared.ledger
        && let Err(e) = ledger.report_worker(stat).await
    {
        tracing::warn!(error = %e, "could not record the worker's speed");
    }
}

/// POSTs one envelope and returns the status and headers, within the ack
/// deadline: over HTTP, or through the in-process router.
async fn post<T: Payload>(
    shared: &Shared<T>,
    url: &http::Uri,
    envelope: &PushEnvelope,
) -> Result<(http::StatusCode, http::HeaderMap), String> {
    let body = serde_json::to_vec(envelope).map_err(|e| format!("cannot encode: {e}"))?;
    let request = http::Request::post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let exchange = async {
        if let Some(router) = &shared.config.in_process {
            use tower::ServiceExt as _;
            let response = router
                .clone()
                .oneshot(request.map(axum::body::Body::new))
                .await
                .map_err(|e| format!("push failed: {e}"))?;
            let (parts, body) = response.into_parts();
            let _ = body.collect().await;
            return Ok((parts.status, parts.headers));
        }
        let response = shared
            .client
            .request(request)
            .await
            .map_err(|e| format!("push failed: {e}"))?;
        let (parts, body) = response.into_parts();
        // Read the (small) answer to its end so the connection goes back to
        // the pool; a status already received stands even if this fails.
        let _ = body.collect().await;
        Ok((parts.status, parts.headers))
    };
    tokio::time::timeout(shared.config.ack_deadline, exchange)
        .await
        .unwrap_or_else(|_| Err("push endpoint did not answer within the ack deadline".to_owned()))
}

/// How long shutdown may spend telling the users of jobs it cannot finish.
const TELL_BUDGET: Duration = Duration::from_secs(4);

/// Shutdown without a spool: every message still queued goes to the
/// dead-letter route, whose handler tells its user, and leaves the ledger.
async fn tell_left<T: Payload>(shared: &Arc<Shared<T>>, left: Vec<Pending<T>>) {
    if left.is_empty() {
        return;
    }
    tracing::warn!(
        count = left.len(),
        "jobs still queued at shutdown: telling their users they could not be finished"
    );
    let told = async {
        let mut all = JoinSet::new();
        for message in left {
            let s = Arc::clone(shared);
            all.spawn(async move {
                let envelope = message.envelope(&s.config.subscription, message.attempts.max(1));
                push_dead_letter(&s, &envelope).await;
                forget(&s, &message).await;
            });
        }
        while all.join_next().await.is_some() {}
    };
    if tokio::time::timeout(TELL_BUDGET, told).await.is_err() {
        tracing::error!("shutdown ended before every queued job's user was told");
    }
}

/// Exponential backoff after `attempt` failures, from `min` doubling up to
/// `max`, with jitter between half and the full delay so that a burst of
/// failures does not retry in lockstep.
fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let exp = min.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(max);
    full.mul_f64(0.5 + 0.5 * jitter_fraction())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..50 {
            let d1 = backoff(1, min, max);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = backoff(3, min, max);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d20 = backoff(20, min, max);
            assert!(
                d20 >= Duration::from_secs(5) && d20 <= Duration::from_secs(10),
                "{d20:?}"
            );
        }
    }
}
