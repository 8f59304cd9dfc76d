//! What every request shares: the store, the render pool, the Discord
//! client, the queue ledger and this instance's speed, counters, and the
//! bookkeeping that lets shutdown wait for in-flight jobs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mandala_ledger::{Calibrator, Ledger};
use reqwest::Url;
use serde::Serialize;
use tokio::sync::{Notify, OwnedMutexGuard};

use crate::auth::PushVerifier;
use crate::config::Role;
use crate::outcome::Outcome;
use crate::render::RenderPool;
use crate::replies::ReplyPublisher;
use crate::reply::discord::Discord;
use crate::reply::secret::Secrets;
use crate::store::Store;

/// Worker speed reports go to the ledger at most this often.
const REPORT_EVERY_MS: u64 = 5_000;

pub struct Shared {
    /// What this service does.
    pub role: Role,
    /// Render stage: where reply jobs go.
    pub replies: Option<ReplyPublisher>,
    pub store: Arc<dyn Store>,
    pub pool: RenderPool,
    pub discord: Discord,
    pub api_base: Url,
    /// Webhook URLs held in Secret Manager.
    pub secrets: Secrets,
    pub job_deadline: Duration,
    /// The subscription's delivery attempts: the last one tells the user.
    pub max_attempts: u32,
    pub verifier: Option<PushVerifier>,
    /// The shared queue ledger (Firestore), when this worker keeps it; with
    /// local push delivery the delivery keeps it instead.
    pub ledger: Option<Ledger>,
    /// The same ledger, marking the jobs Cloud Tasks delivers for the stall
    /// watchdog (`STALL_AFTER_SECS`): nothing else tells their users when
    /// their attempts stop coming. `None` when the watchdog is off.
    pub tasks_ledger: Option<Ledger>,
    /// How fast this instance renders, measured.
    pub calibrator: Calibrator,
    /// When the speed may next be reported to the ledger.
    pub report_every: mandala_model::clock::AtMostEvery,
    pub stats: Counters,
    pub in_flight: InFlight,
    locks: Arc<Mutex<ObjectLocks>>,
}

type ObjectLocks = HashMap<String, Arc<tokio::sync::Mutex<()>>>;

/// Everything [`Shared`] is built from.
pub struct Parts {
    pub role: Role,
    pub replies: Option<ReplyPublisher>,
    pub store: Arc<dyn Store>,
    pub pool: RenderPool,
    pub discord: Discord,
    pub api_base: Url,
    pub secrets: Secrets,
    pub job_deadline: Duration,
    pub max_attempts: u32,
    pub verifier: Option<PushVerifier>,
    pub ledger: Option<Ledger>,
    pub tasks_ledger: Option<Ledger>,
    pub calibrator: Calibrator,
}

/// Held while a job works on one object name; dropping it (on every path)
/// lets the next job for that name in and forgets the name when nobody
/// else wants it.
pub struct ObjectLock {
    locks: Arc<Mutex<ObjectLocks>>,
    name: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Release first, then see whether anyone else still holds the lock.
        drop(self.guard.take());
        if locks
            .get(&self.name)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.name);
        }
    }
}

impl Shared {
    pub fn new(parts: Parts) -> Self {
        Shared {
            role: parts.role,
            replies: parts.replies,
            store: parts.store,
            pool: parts.pool,
            discord: parts.discord,
            api_base: parts.api_base,
            secrets: parts.secrets,
            job_deadline: parts.job_deadline,
            max_attempts: parts.max_attempts,
            verifier: parts.verifier,
            ledger: parts.ledger,
            tasks_ledger: parts.tasks_ledger,
            calibrator: parts.calibrator,
            report_every: mandala_model::clock::AtMostEvery::new(REPORT_EVERY_MS),
            stats: Counters::default(),
            in_flight: InFlight::default(),
            locks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The ledger that marks jobs delivered `via` this route started.
    pub fn ledger_for(&self, via: crate::config::Via) -> Option<&Ledger> {
        match (via, &self.tasks_ledger) {
            (crate::config::Via::Task, Some(watched)) => Some(watched),
            _ => self.ledger.as_ref(),
        }
    }

    /// Waits for, then holds, the lock serialising jobs for one object name.
    pub async fn lock_object(&self, name: &str) -> ObjectLock {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(name.to_owned()).or_default())
        };
        let guard = lock.lock_owned().await;
        ObjectLock {
            locks: Arc::clone(&self.locks),
            name: name.to_owned(),
            guard: Some(guard),
        }
    }

    /// Object names with a lock entry (held or waited for); for tests.
    pub fn locked_objects(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Job counters since start, for `/healthz`, tests and the benchmark.
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    rejected: AtomicU64,
    expired: AtomicU64,
    renders: AtomicU64,
    render_failed: AtomicU64,
    stored: AtomicU64,
    replied: AtomicU64,
    reply_dropped: AtomicU64,
    redeliver: AtomicU64,
    unauthorized: AtomicU64,
    cancelled: AtomicU64,
    gave_up: AtomicU64,
    dead_lettered: AtomicU64,
    told: AtomicU64,
    handed_off: AtomicU64,
    answered_inline: AtomicU64,
    abandoned: AtomicU64,
    out_of_time: AtomicU64,
    reply_unknown: AtomicU64,
    timings: [AtomicU64; 9],
}

/// One job's stage times, as logged.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobTimings {
    pub decode_us: u64,
    pub queue_us: u64,
    pub render_us: Option<u64>,
    pub encode_us: Option<u64>,
    pub store_us: Option<u64>,
    pub reply_us: Option<u64>,
}

/// Stage times in microseconds, summed over all jobs; divide by the
/// matching count for averages (renders for queue/render/encode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageTotals {
    /// Envelope, job and spec decoding.
    pub decode_us: u64,
    pub decoded: u64,
    /// Waiting for a render slot.
    pub queue_us: u64,
    pub render_us: u64,
    pub encode_us: u64,
    /// The existence check plus, on a miss, the upload.
    pub store_us: u64,
    pub stored: u64,
    /// Sending to Discord, retries included.
    pub reply_us: u64,
    pub replies: u64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Pushes that reached the job handler.
    pub received: u64,
    /// Poison: malformed envelope or job, invalid spec, refused reply target.
    pub rejected: u64,
    /// Interaction tokens that had expired.
    pub expired: u64,
    /// Renders performed (cache misses).
    pub renders: u64,
    pub render_failed: u64,
    /// Jobs that only stored (no reply).
    pub stored: u64,
    pub replied: u64,
    /// Replies Discord refused for good (acknowledged).
    pub reply_dropped: u64,
    /// Pushes answered non-2xx for redelivery.
    pub redeliver: u64,
    /// Pushes refused for a missing or invalid OIDC token.
    pub unauthorized: u64,
    /// Jobs the ledger said were cancelled (their publish was reported failed).
    pub cancelled: u64,
    /// Jobs given up on their last delivery attempt (their user was told).
    pub gave_up: u64,
    /// Jobs received from the dead-letter subscription.
    pub dead_lettered: u64,
    /// Final failure messages sent to users.
    pub told: u64,
    /// Render stage: jobs whose reply was handed to the reply stage.
    pub handed_off: u64,
    /// Single service: interactions answered with the image itself.
    pub answered_inline: u64,
    /// Jobs whose user was told to try again before the queue took them:
    /// dropped unrendered.
    pub abandoned: u64,
    /// Jobs not started because their token would die first (their user
    /// was told).
    pub out_of_time: u64,
    /// Jobs let go on their last attempt with their reply's fate unknown
    /// (it may have been delivered; nothing was said over it).
    pub reply_unknown: u64,
    pub stages: StageTotals,
}

/// What [`Counters`] count: how each delivery ended, and a few events
/// besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A push or dispatch reached the job handler.
    Received,
    /// A render was performed (a cache miss).
    Rendered,
    /// A push was refused for a missing or invalid OIDC token.
    Unauthorized,
    /// A final failure message went out.
    Told,
    /// A message arrived from the dead-letter subscription.
    DeadLettered,
    /// A delivery ended so.
    Ended(Outcome),
}

impl Counters {
    pub fn count(&self, event: Event) {
        let counter = match event {
            Event::Received => &self.received,
            Event::Rendered => &self.renders,
            Event::Unauthorized => &self.unauthorized,
            Event::Told => &self.told,
            Event::DeadLettered => &self.dead_lettered,
            Event::Ended(outcome) => match outcome {
                Outcome::Rejected => &self.rejected,
                Outcome::Expired => &self.expired,
                Outcome::RenderFailed => &self.render_failed,
                Outcome::Stored => &self.stored,
                Outcome::Replied => &self.replied,
                Outcome::ReplyDropped => &self.reply_dropped,
                Outcome::Redeliver => &self.redeliver,
                Outcome::Cancelled => &self.cancelled,
                Outcome::GaveUp => &self.gave_up,
                Outcome::HandedOff => &self.handed_off,
                Outcome::AnsweredInline => &self.answered_inline,
                Outcome::Abandoned => &self.abandoned,
                Outcome::OutOfTime => &self.out_of_time,
                Outcome::ReplyUnknown => &self.reply_unknown,
                // Dead letters are counted as they arrive (`dead_lettered`).
                Outcome::DeadLetterTold | Outcome::DeadLetterLogged => return,
            },
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_timings(&self, t: &JobTimings) {
        let values = [
            t.decode_us,
            u64::from(t.decode_us > 0),
            t.queue_us,
            t.render_us.unwrap_or(0),
            t.encode_us.unwrap_or(0),
            t.store_us.unwrap_or(0),
            u64::from(t.store_us.is_some()),
            t.reply_us.unwrap_or(0),
            u64::from(t.reply_us.is_some()),
        ];
        for (sum, v) in self.timings.iter().zip(values) {
            sum.fetch_add(v, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let t = |i: usize| get(&self.timings[i]);
        Stats {
            received: get(&self.received),
            rejected: get(&self.rejected),
            expired: get(&self.expired),
            renders: get(&self.renders),
            render_failed: get(&self.render_failed),
            stored: get(&self.stored),
            replied: get(&self.replied),
            reply_dropped: get(&self.reply_dropped),
            redeliver: get(&self.redeliver),
            unauthorized: get(&self.unauthorized),
            cancelled: get(&self.cancelled),
            gave_up: get(&self.gave_up),
            dead_lettered: get(&self.dead_lettered),
            told: get(&self.told),
            handed_off: get(&self.handed_off),
            answered_inline: get(&self.answered_inline),
            abandoned: get(&self.abandoned),
            out_of_time: get(&self.out_of_time),
            reply_unknown: get(&self.reply_unknown),
            stages: StageTotals {
                decode_us: t(0),
                decoded: t(1),
                queue_us: t(2),
                render_us: t(3),
                encode_us: t(4),
                store_us: t(5),
                stored: t(6),
                reply_us: t(7),
                replies: t(8),
            },
        }
    }
}

/// Counts running jobs so shutdown can wait for them, and remembers when
/// the last Cloud Tasks dispatch ended (the stall watchdog sweeps for a
/// while after it).
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    closing: AtomicBool,
    idle: Notify,
    last_task_ms: AtomicU64,
}

/// Held by a running job.
pub struct JobGuard(Arc<Shared>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        let f = &self.0.in_flight;
        if f.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            f.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// Registers a job, unless shutdown has begun.
    pub fn enter(shared: &Arc<Shared>) -> Option<JobGuard> {
        let f = &shared.in_flight;
        f.count.fetch_add(1, Ordering::AcqRel);
        let guard = JobGuard(Arc::clone(shared));
        (!f.closing.load(Ordering::Acquire)).then_some(guard)
    }

    pub fn running(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// A Cloud Tasks dispatch was handled just now (Unix ms).
    pub fn task_seen(&self, now_ms: u64) {
        self.last_task_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    /// When a Cloud Tasks dispatch was last handled (Unix ms; 0: never).
    pub fn last_task_ms(&self) -> u64 {
        self.last_task_ms.load(Ordering::Acquire)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Refuses new jobs and waits until the running ones are done.
    pub async fn close_and_drain(&self) {
        self.closing.store(true, Ordering::Release);
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            idle.await;
        }
    }
}
