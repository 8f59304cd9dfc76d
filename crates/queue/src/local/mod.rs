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

mod dispatch;
mod files;
pub mod lanes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mandala_ledger::{Ledger, Notifier};
use mandala_model::PushEnvelope;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{Payload, PublishError};
use dispatch::{dispatch, tell_left};
use lanes::Lanes;

/// The subscription name the job envelopes carry.
pub const SUBSCRIPTION: &str = "projects/local/subscriptions/mandala-jobs-push";

/// The subscription name the reply-job envelopes carry (split design).
pub const REPLY_SUBSCRIPTION: &str = "projects/local/subscriptions/mandala-replies-push";

/// How long shutdown lets POSTs in flight finish before spooling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
    /// When the next worker speed report may go to the ledger.
    report_every: mandala_model::clock::AtMostEvery,
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
            report_every: mandala_model::clock::AtMostEvery::new(dispatch::REPORT_EVERY_MS),
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
