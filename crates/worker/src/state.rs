//! What every request shares: the store, the render pool, the Discord
//! client, counters, and the bookkeeping that lets shutdown wait for
//! in-flight jobs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;
use tokio::sync::Notify;

use crate::auth::PushVerifier;
use crate::render::RenderPool;
use crate::reply::discord::Discord;
use crate::store::Store;

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub pool: RenderPool,
    pub discord: Discord,
    pub api_base: Url,
    pub job_deadline: Duration,
    pub verifier: Option<PushVerifier>,
    pub stats: Counters,
    pub in_flight: InFlight,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    pub fn new(
        store: Arc<dyn Store>,
        pool: RenderPool,
        discord: Discord,
        api_base: Url,
        job_deadline: Duration,
        verifier: Option<PushVerifier>,
    ) -> Self {
        Shared {
            store,
            pool,
            discord,
            api_base,
            job_deadline,
            verifier,
            stats: Counters::default(),
            in_flight: InFlight::default(),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The lock serialising jobs for one object name.
    pub fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(name.to_owned()).or_default())
    }

    /// Forgets the lock when nobody else holds or waits for it.
    pub fn release_lock(&self, name: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        drop(lock);
        if locks.get(name).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(name);
        }
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
    pub stages: StageTotals,
}

impl Counters {
    pub fn count(&self, what: &str) {
        let counter = match what {
            "received" => &self.received,
            "rejected" => &self.rejected,
            "expired" => &self.expired,
            "render" => &self.renders,
            "render-failed" => &self.render_failed,
            "stored" => &self.stored,
            "replied" => &self.replied,
            "reply-dropped" => &self.reply_dropped,
            "redeliver" => &self.redeliver,
            "unauthorized" => &self.unauthorized,
            _ => return,
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

/// Counts running jobs so shutdown can wait for them.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    closing: AtomicBool,
    idle: Notify,
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
