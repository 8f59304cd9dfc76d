//! The worker service: renders jobs pushed by Pub/Sub (or dispatched by
//! Cloud Tasks), stores them and replies on Discord.
//!
//! Pub/Sub POSTs each job to `/pubsub/push`, Cloud Tasks to `/tasks/run`,
//! and both redeliver until they get a 2xx, so everything here is built
//! for at-least-once delivery: images are stored under content-addressed
//! names with create-only writes, the store is checked before rendering,
//! and the Discord reply is an idempotent edit of the interaction's
//! original response.
//!
//! The same binary (`mandala-worker`, in `mandala_single`) plays every
//! worker part of every design (docs/DEPLOY.md), by `WORKER_ROLE`: `all`
//! renders and replies; in the split design `render` hands each finished
//! image to a `reply` service through a second topic; `single` is the
//! interactions endpoint too, which `mandala_single` runs beside this
//! worker: this crate never depends on the ingress.
//!
//! Layout, from the routes down (a module only uses those below it):
//! - [`http`]: the routes; [`delivery`]: a push or a task dispatch, read
//!   the same way.
//! - The routes: [`job`] (one job's story, short enough to read at once),
//!   [`replier`] (the reply stage of the split design) and
//!   [`dead_letter`]; [`inline`]: what an ingress in this process needs of
//!   this worker, and answering cheap interactions with their image.
//! - Their stages: `start` (the start every route shares: decode, plan the
//!   reply, begin in the ledger), `image` (the render stage: find or render
//!   and store; the one halving loop for oversize images), `send` (the
//!   reply stage's send and its 413 fallback) with `posts` (channel posts
//!   claimed so they are made once), `handoff` (the render stage's hand-off
//!   to the reply stage) and `tell` (the last word).
//! - How a delivery ends: [`verdict`] (the answer, and how a failure comes
//!   to one on this attempt), `failure` (why a job cannot end in its image,
//!   with the error behind it), [`outcome`] (the one word for it, and the
//!   level of its line), `joblog` (the one log line) and `ledger` (what the
//!   queue ledger is told).
//! - Beneath: [`config`] (settings and their startup checks), [`state`]
//!   (what requests share; counters; in-flight tracking), [`render`] (the
//!   bounded pool of blocking render threads), [`store`] (Cloud Storage and
//!   local-directory stores), [`reply`] (the Discord message, its
//!   destination and delivery schedule), [`replies`] (where the render
//!   stage's reply jobs go), [`auth`] (the OIDC token check on pushes and
//!   task dispatches).
//!
//! With `FIRESTORE_DATABASE` the worker also keeps the queue ledger: it
//! marks admitted jobs started and ended (a job whose entry is gone was
//! cancelled and is not rendered), reports its measured speed for the
//! ingress's estimates, and, while it has jobs in flight, sends waiting
//! notices to users whose jobs wait much longer than promised. Jobs that
//! Cloud Tasks delivers are marked for the ledger's stall watchdog
//! (`STALL_AFTER_SECS`), and after a dispatch the worker keeps sweeping for
//! that long, so a job whose last attempt never came gets its final word.

pub mod auth;
pub mod config;
pub mod dead_letter;
pub mod delivery;
mod failure;
mod handoff;
pub mod http;
mod image;
pub mod inline;
pub mod job;
mod joblog;
mod ledger;
pub mod outcome;
mod posts;
pub mod render;
pub mod replier;
pub mod replies;
pub mod reply;
mod send;
mod start;
pub mod state;
pub mod store;
mod tell;
pub mod verdict;

use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, Role};
pub use state::Stats;

use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::{Calibrator, Ledger, Notifier, Policy};

use crate::config::StoreChoice;
use crate::state::{Parts, Shared};
use crate::store::Store;

/// Why the worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("queue ledger: {0}")]
    Ledger(#[from] mandala_ledger::LedgerError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP client: {0}")]
    Keys(#[from] auth::keys::KeyCacheError),
    #[error("HTTP client: {0}")]
    Secrets(#[from] reply::secret::SetupError),
    #[error("reply delivery: {0}")]
    Replies(#[from] mandala_queue::local::LocalPushError),
    /// The ingress beside this worker (`mandala_single`) could not start.
    #[error("ingress: {0}")]
    Ingress(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A running worker: build its router, serve it, then [`Worker::shutdown`].
pub struct Worker {
    shared: Arc<Shared>,
    stop_sweeper: tokio::sync::watch::Sender<bool>,
}

/// This instance's name in speed reports: the revision (on Cloud Run) and
/// something unique to the process.
fn instance_id() -> String {
    let revision = std::env::var("K_REVISION").unwrap_or_else(|_| "local".to_owned());
    let nanos = mandala_model::clock::subsec_nanos();
    let id = format!("{revision}-{:x}{:05x}", std::process::id(), nanos & 0xfffff);
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(60)
        .collect()
}

impl Worker {
    /// Checks the configuration and connects the store.
    pub async fn start(config: Config) -> Result<Worker, StartError> {
        Self::start_with(config, None).await
    }

    /// [`Worker::start`] with the queue ledger of the ingress in this
    /// process (`mandala dev` with Cloud Tasks: the worker ends the jobs the
    /// ingress admitted, in the ingress's memory).
    pub async fn start_with(config: Config, ledger: Option<Ledger>) -> Result<Worker, StartError> {
        config.check()?;
        let store = open_store(&config).await?;
        let verifier = config
            .push_auth()?
            .as_ref()
            .map(auth::PushVerifier::new)
            .transpose()?;
        let pool = render::RenderPool::new(config.concurrency());
        let role = config.worker_role;
        let ledger = match ledger {
            Some(shared) => Some(shared),
            // In one process with the ingress, the ingress's queue keeps
            // the ledger (it is the queue).
            None if role == Role::Single => None,
            None => own_ledger(&config)?,
        };
        let stall_after = config.stall_after()?;
        let tasks_ledger = watched_ledger(ledger.as_ref(), stall_after, role);
        let replies = replies::ReplyPublisher::start(&config)?;
        tracing::info!(
            role = role.as_str(),
            store = %store.location(""),
            render_concurrency = pool.size(),
            push_auth = verifier.is_some(),
            ledger = ledger.as_ref().map(Ledger::backend_name),
            stall_after_secs = tasks_ledger.as_ref().and(stall_after.map(|d| d.as_secs())),
            max_delivery_attempts = config.max_delivery_attempts,
            "worker ready"
        );
        let slots = u32::try_from(pool.size()).unwrap_or(u32::MAX);
        let shared = Arc::new(Shared::new(Parts {
            role,
            replies,
            store,
            pool,
            discord: reply::discord::Discord::new()?,
            api_base: config.discord_base()?,
            secrets: reply::secret::Secrets::new(config.secret_manager()?)?,
            job_deadline: Duration::from_secs(config.job_deadline_secs),
            max_attempts: config.max_delivery_attempts,
            verifier,
            ledger,
            tasks_ledger,
            calibrator: Calibrator::new(instance_id(), slots),
        }));
        let stop_sweeper = start_sweeper(&config, &shared, stall_after)?;
        Ok(Worker {
            shared,
            stop_sweeper,
        })
    }

    /// POST /pubsub/push, GET /healthz.
    pub fn router(&self) -> axum::Router {
        http::router(Arc::clone(&self.shared))
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// Object names with a lock entry: none once every job has ended.
    pub fn locked_objects(&self) -> usize {
        self.shared.locked_objects()
    }

    /// Shutdown has begun: the Discord sends of jobs in flight stop
    /// waiting for retries and ask for redelivery instead, so that draining
    /// lasts as long as the renders, not as long as an outage of Discord.
    pub fn stopping(&self) {
        self.shared.discord.stop_retrying();
    }

    /// Refuses new pushes (503, so Pub/Sub redelivers elsewhere), waits
    /// for in-flight jobs, then flushes (or spools) the reply jobs they
    /// handed on.
    pub async fn shutdown(self) {
        self.stopping();
        let _ = self.stop_sweeper.send(true);
        let running = self.shared.in_flight.running();
        if running > 0 {
            tracing::info!(running, "waiting for in-flight jobs");
        }
        self.shared.in_flight.close_and_drain().await;
        if let Some(replies) = &self.shared.replies {
            replies.shutdown().await;
        }
    }
}

/// The store the configuration asks for, connected.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    Ok(match config.store()? {
        StoreChoice::Local(dir) => Arc::new(store::local::LocalStore::open(dir)?),
        StoreChoice::Gcs { bucket, emulator } => {
            Arc::new(store::gcs::GcsStore::connect(&bucket, emulator.as_deref()).await?)
        }
    })
}

/// The Firestore ledger this worker keeps, when FIRESTORE_DATABASE names
/// one.
fn own_ledger(config: &Config) -> Result<Option<Ledger>, StartError> {
    let Some((database, emulator)) = config.ledger()? else {
        return Ok(None);
    };
    let backend = FirestoreBackend::connect(&database, emulator.as_deref())?;
    Ok(Some(Ledger::new(
        Arc::new(backend),
        Policy {
            max_per_user: 0,
            max_wait: Duration::MAX,
            refresh: Duration::from_secs(1),
            timeout: Duration::from_millis(config.ledger_timeout_ms),
            // Pub/Sub's dead-letter route tells those users.
            stall_after: None,
        },
    )))
}

/// The ledger that marks the jobs Cloud Tasks delivers for the stall
/// watchdog: Cloud Tasks has no dead-letter route, so those jobs are
/// watched instead. `None` when the watchdog is off, or for the reply
/// stage (which takes no tasks).
fn watched_ledger(
    ledger: Option<&Ledger>,
    stall_after: Option<Duration>,
    role: Role,
) -> Option<Ledger> {
    match (ledger, stall_after) {
        (Some(l), Some(after)) if role != Role::Reply => Some(Ledger::new(
            l.backend(),
            Policy {
                stall_after: Some(after),
                ..*l.policy()
            },
        )),
        _ => None,
    }
}

/// Starts the waiting-notice sweeper when this worker keeps the ledger;
/// the sender stops it.
fn start_sweeper(
    config: &Config,
    shared: &Arc<Shared>,
    stall_after: Option<Duration>,
) -> Result<tokio::sync::watch::Sender<bool>, StartError> {
    let (stop_sweeper, stopped) = tokio::sync::watch::channel(false);
    let Some(ledger) = shared.ledger.clone() else {
        return Ok(stop_sweeper);
    };
    let notifier = Notifier::new(config.discord_base()?, reply::discord::user_agent())?;
    let busy = Arc::clone(shared);
    let tail = SweepTail::new(stall_after.filter(|_| shared.tasks_ledger.is_some()));
    tokio::spawn(mandala_ledger::notice::run_sweeper(
        ledger,
        notifier,
        // Jobs wait exactly while workers are busy: sweep then — and for a
        // while after a Cloud Tasks dispatch, when a job whose last attempt
        // never came may still be due.
        move || {
            busy.in_flight.running() > 0
                || tail.due(
                    busy.in_flight.last_task_ms(),
                    mandala_model::clock::now_ms(),
                )
        },
        stopped,
    ));
    Ok(stop_sweeper)
}

/// When an idle worker still sweeps: after a Cloud Tasks dispatch, for as
/// long as a job it started may take to stall (and its final word to
/// come due), every few seconds rather than every second.
struct SweepTail {
    /// How long after the last dispatch; zero: not at all.
    for_ms: u64,
    last_ms: std::sync::atomic::AtomicU64,
}

/// An idle worker's sweeps are this far apart.
const TAIL_SWEEP_EVERY_MS: u64 = 10_000;

impl SweepTail {
    fn new(stall_after: Option<Duration>) -> SweepTail {
        SweepTail {
            // The stall, then a sweep interval and a notice's lease.
            for_ms: stall_after.map_or(0, |d| d.as_millis() as u64 + 2 * TAIL_SWEEP_EVERY_MS),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether to sweep now, `last_task_ms` being the last dispatch's end.
    fn due(&self, last_task_ms: u64, now_ms: u64) -> bool {
        use std::sync::atomic::Ordering;
        if self.for_ms == 0 || last_task_ms == 0 || now_ms > last_task_ms + self.for_ms {
            return false;
        }
        let last = self.last_ms.load(Ordering::Acquire);
        now_ms >= last + TAIL_SWEEP_EVERY_MS
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

/// Runs the worker on `listener` until `shutdown` resolves, then finishes
/// in-flight jobs, all within `SHUTDOWN_DRAIN_SECS` of the signal: Cloud
/// Run stops the instance soon after, and a push not answered by then is
/// redelivered anyway.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if config.worker_role == Role::Single {
        return Err(StartError::Config(config::ConfigError {
            var: "WORKER_ROLE",
            reason: "single runs the ingress too: serve it with mandala_single::serve (the mandala-worker binary does)".into(),
            source: None,
        }));
    }
    let limits = config.http_limits();
    let worker = Worker::start(config).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let (signalled_at, signalled) = tokio::sync::oneshot::channel();
    let shared = Arc::clone(&worker.shared);
    let shutdown = async move {
        shutdown.await;
        // The pushes still running are drained next: none waits for a retry.
        shared.discord.stop_retrying();
        let _ = signalled_at.send(tokio::time::Instant::now());
    };
    let drained = mandala_service::server::serve(listener, worker.router(), limits, shutdown).await;
    let deadline = signalled
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now())
        + limits.drain_timeout;
    // Jobs whose pushes were cut keep running as tasks; wait for them only
    // as long as the budget allows.
    if drained.cut > 0
        || tokio::time::timeout_at(deadline, worker.shutdown())
            .await
            .is_err()
    {
        tracing::warn!(
            cut = drained.cut,
            "pushes still running after the drain budget; Pub/Sub will redeliver them"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_worker_sweeps_now_and_then_for_a_while_after_a_dispatch() {
        let tail = SweepTail::new(Some(Duration::from_secs(420)));
        // No dispatch yet: nothing to watch.
        assert!(!tail.due(0, 1_000_000));
        let last = 1_000_000;
        assert!(tail.due(last, last + 1));
        assert!(!tail.due(last, last + 2), "not every second");
        assert!(tail.due(last, last + 1 + TAIL_SWEEP_EVERY_MS));
        // Until the stall could have come due, and a little more.
        assert!(tail.due(last, last + 440_000));
        assert!(!tail.due(last, last + 441_000));
        let off = SweepTail::new(None);
        assert!(!off.due(last, last + 1));
    }
}
