//! [`Ledger`]: the operations, each a compare-and-swap on one user's record.
//!
//! - [`Ledger::admit`] (ingress, [`crate::admission`]): the cap, the
//!   estimate and the entry, at once, within the caller's deadline;
//! - [`Ledger::start`] (whoever hands the job to a renderer): marks it
//!   running, and tells whether it was cancelled meanwhile;
//! - [`Ledger::end`] (whoever sees the job end): removes it, and keeps
//!   trying in the background until its token dies if the store is out;
//! - [`Ledger::claim`] (the sweeper, [`crate::notice`]): overdue jobs
//!   under a lease taken at claim time;
//! - the totals and worker reports the estimate uses, cached and refreshed
//!   by one background task at a time: no caller ever waits for them.
//!
//! Every call to the store goes through one gate: a deadline (the
//! caller's, and at most [`Policy::timeout`]) and a [`Breaker`] that stops
//! calling a store that keeps failing, so a sick store costs callers
//! nothing after the first few.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use mandala_model::clock::now_ms;
use mandala_model::clock::subsec_nanos;
use mandala_model::{Recorded, Ticket};
use tokio::time::Instant;

use crate::backend::{Backend, LedgerError};
use crate::breaker::{Breaker, Gate};
use crate::entry::{Entry, UserQueue};
use crate::estimate::{Snapshot, Totals, WorkerStat};
use crate::pending::Pending;
use crate::turns::Turns;

/// How many times a contended record is re-read before giving up.
const CAS_ATTEMPTS: u32 = 12;

/// Worker reports older than this are not even read.
const WORKER_HISTORY_MS: u64 = 15 * 60 * 1000;

/// Totals older than this say nothing honest about the queue now: an
/// admission then promises no time.
const MAX_STALE_MS: u64 = 30_000;

/// Retries of an `end` the store did not take: first after this, doubling.
const END_RETRY_FIRST: Duration = Duration::from_secs(1);
const END_RETRY_LAST: Duration = Duration::from_secs(60);

/// The limits the ledger works within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Jobs one user may have waiting or rendering; 0 means no limit.
    pub max_per_user: u32,
    /// Refuse a job expected to take longer than this.
    pub max_wait: Duration,
    /// How long a snapshot of the totals is reused.
    pub refresh: Duration,
    /// The most any one ledger operation may take.
    pub timeout: Duration,
    /// A started job with no new attempt for this long has stalled and its
    /// user is told ([`crate::entry::Due::Stalled`]); `None` where a
    /// dead-letter route tells them instead.
    pub stall_after: Option<Duration>,
}

/// What [`Ledger::start`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// Marked running. A waiting notice holds the message until `lease_until_ms`.
    Running { lease_until_ms: u64 },
    /// No entry: the job was cancelled (its publish was reported failed,
    /// its token ran out, it stalled and its user was told) or has ended.
    Missing,
}

/// The shared record of outstanding jobs. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) policy: Policy,
    snapshot: Mutex<Option<Snapshot>>,
    refreshing: AtomicBool,
    breaker: Breaker,
    pub(crate) turns: Turns,
    pub(crate) pending: Pending,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("backend", &self.inner.backend.name())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// What a record update decided.
pub(crate) enum Change<R> {
    Write(R),
    Keep(R),
}

/// A call to the store in progress: if it is dropped before it settles,
/// a probe it may hold goes back to the breaker.
struct Attempt<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.abandoned();
        }
    }
}

/// Clears a flag when dropped, however the task holding it ends.
struct Clear<'a>(&'a AtomicBool);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Ledger {
    pub fn new(backend: Arc<dyn Backend>, policy: Policy) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                backend,
                policy,
                snapshot: Mutex::new(None),
                refreshing: AtomicBool::new(false),
                breaker: Breaker::default(),
                turns: Turns::default(),
                pending: Pending::default(),
            }),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The store underneath (tests read and write it directly).
    pub fn backend(&self) -> Arc<dyn Backend> {
        Arc::clone(&self.inner.backend)
    }

    /// The latest a call starting now may end: `deadline`, and at most
    /// [`Policy::timeout`] from now.
    pub(crate) fn limit(&self, deadline: Option<Instant>) -> Instant {
        let own = Instant::now() + self.inner.policy.timeout;
        deadline.map_or(own, |d| d.min(own))
    }

    /// Runs one call to the store through the breaker, until `until`.
    pub(crate) async fn call<T>(
        &self,
        until: Instant,
        op: impl Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        let breaker = &self.inner.breaker;
        // No time left is the caller's state, not the store's.
        if Instant::now() >= until {
            return Err(LedgerError::Timeout(Duration::ZERO));
        }
        if let Gate::Open(left) = breaker.gate() {
            return Err(LedgerError::Paused {
                backend: self.inner.backend.name(),
                for_ms: left.as_millis() as u64,
            });
        }
        let limit = until.saturating_duration_since(Instant::now());
        // A caller dropped half-way (its own deadline) gives a probe back.
        let mut attempt = Attempt {
            breaker,
            settled: false,
        };
        let result = match tokio::time::timeout_at(until, op).await {
            // Contention is load on one record: the store answered.
            Ok(r @ (Ok(_) | Err(LedgerError::Contended { .. }))) => {
                breaker.succeeded();
                r
            }
            Ok(Err(e)) => {
                self.note_failure();
                Err(e)
            }
            Err(_) => {
                self.note_failure();
                Err(LedgerError::Timeout(limit))
            }
        };
        attempt.settled = true;
        result
    }

    fn note_failure(&self) {
        if self.inner.breaker.failed() {
            tracing::warn!(
                ledger = self.inner.backend.name(),
                pause_ms = crate::breaker::OPEN_FOR.as_millis() as u64,
                "queue ledger keeps failing; not calling it for a while"
            );
        }
    }

    /// Read, change, write back if nobody wrote in between; else again.
    /// `writing` is set just before each write is sent, so a caller whose
    /// deadline cuts this short knows whether a write may still land.
    pub(crate) async fn modify<R>(
        &self,
        user: &str,
        now_ms: u64,
        writing: Option<&AtomicBool>,
        mut change: impl FnMut(&mut UserQueue) -> Change<R>,
    ) -> Result<R, LedgerError> {
        let backend = &self.inner.backend;
        for attempt in 0..CAS_ATTEMPTS {
            let mut current = backend.read(user).await?;
            let pruned = current.queue.prune(now_ms);
            let (r, write) = match change(&mut current.queue) {
                Change::Keep(r) => (r, pruned),
                Change::Write(r) => (r, true),
            };
            if !write {
                return Ok(r);
            }
            if let Some(flag) = writing {
                flag.store(true, Ordering::Release);
            }
            if backend
                .write(user, &current.queue, &current.version, now_ms)
                .await?
            {
                return Ok(r);
            }
            // Someone else wrote this user's record: back off a little,
            // with jitter, so two writers do not collide again in step.
            let jitter = u64::from(subsec_nanos() % 7) + u64::from(attempt) * 3;
            tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
        }
        Err(LedgerError::Contended {
            backend: backend.name(),
            user: user.to_owned(),
            attempts: CAS_ATTEMPTS,
        })
    }

    /// Records a job admitted earlier whose entry this ledger does not hold
    /// (jobs resumed from a spool after a restart of an in-memory ledger):
    /// no cap, no estimate, its first promise kept.
    pub async fn restore(
        &self,
        ticket: &Ticket,
        entry: Entry,
        now_ms: u64,
    ) -> Result<(), LedgerError> {
        let until = self.limit(None);
        self.call(
            until,
            self.modify(&ticket.user, now_ms, None, |queue| {
                if queue.jobs.contains_key(ticket.job.as_str()) || entry.expires_ms <= now_ms {
                    return Change::Keep(());
                }
                queue.jobs.insert(ticket.job.to_string(), entry.clone());
                Change::Write(())
            }),
        )
        .await
    }

    /// Marks a job running (again, on a redelivery: the latest attempt's
    /// time is what the stall watchdog looks at). A ticket whose entry may
    /// never have been written gets one now, so a late admission write
    /// cannot land on top of it.
    pub async fn start(&self, ticket: &Ticket, now_ms: u64) -> Result<Start, LedgerError> {
        let stall_after_ms = self
            .inner
            .policy
            .stall_after
            .map_or(0, |d| d.as_millis() as u64);
        let mut moved = 0;
        let until = self.limit(None);
        let start = self
            .call(
                until,
                self.modify(&ticket.user, now_ms, None, |queue| {
                    moved = 0;
                    match queue.jobs.get_mut(ticket.job.as_str()) {
                        Some(e) if e.ended => Change::Keep(Start::Missing),
                        Some(e) => {
                            if e.is_waiting() {
                                moved = e.cost;
                            }
                            e.started_ms = now_ms.max(1);
                            e.stall_after_ms = stall_after_ms;
                            Change::Write(Start::Running {
                                lease_until_ms: e.lease_ms,
                            })
                        }
                        None if ticket.recorded == Recorded::Unknown => {
                            let mut e = Entry::waiting(
                                ticket.cost.0,
                                now_ms,
                                ticket.due_ms,
                                expires(ticket, now_ms),
                            );
                            e.started_ms = now_ms.max(1);
                            e.stall_after_ms = stall_after_ms;
                            queue.jobs.insert(ticket.job.to_string(), e);
                            Change::Write(Start::Running { lease_until_ms: 0 })
                        }
                        None => Change::Keep(Start::Missing),
                    }
                }),
            )
            .await?;
        if moved > 0 {
            self.adjust_snapshot(|t| {
                t.running_jobs += 1;
                t.waiting_units = t.waiting_units.saturating_sub(moved);
                t.running_units += moved;
            });
        }
        Ok(start)
    }

    /// The job ended (image, final word, or cancelled): its entry leaves
    /// the queue. If the store does not take that now, it is retried in
    /// the background until the token dies, so the job stops counting
    /// against its user; the first error is returned for the caller's log.
    pub async fn end(&self, ticket: &Ticket, now_ms: u64) -> Result<(), LedgerError> {
        let first = self.end_once(ticket, now_ms).await;
        if first.is_err() {
            let ledger = self.clone();
            let ticket = ticket.clone();
            tokio::spawn(async move { ledger.end_eventually(ticket).await });
        }
        first
    }

    async fn end_eventually(&self, ticket: Ticket) {
        let mut pause = END_RETRY_FIRST;
        loop {
            tokio::time::sleep(pause).await;
            let now = now_ms();
            if expires(&ticket, now) <= now {
                return;
            }
            match self.end_once(&ticket, now).await {
                Ok(()) => {
                    tracing::info!(job = %ticket.job, "ended a job in the ledger after a retry");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, job = %ticket.job, "ending a job: still failing");
                }
            }
            pause = (pause * 2).min(END_RETRY_LAST);
        }
    }

    async fn end_once(&self, ticket: &Ticket, now_ms: u64) -> Result<(), LedgerError> {
        let mut removed: Option<(Entry, bool)> = None;
        let until = self.limit(None);
        self.call(
            until,
            self.modify(&ticket.user, now_ms, None, |queue| {
                removed = None;
                let unknown = ticket.recorded == Recorded::Unknown;
                match queue.jobs.get_mut(ticket.job.as_str()) {
                    Some(e) if e.ended => Change::Keep(()),
                    Some(e) => {
                        let gone = e.clone();
                        if unknown {
                            e.ended = true;
                        } else {
                            queue.jobs.remove(ticket.job.as_str());
                        }
                        let last = queue.live(now_ms).next().is_none();
                        removed = Some((gone, last));
                        Change::Write(())
                    }
                    None if unknown => {
                        let mut e =
                            Entry::waiting(ticket.cost.0, now_ms, now_ms, expires(ticket, now_ms));
                        e.ended = true;
                        queue.jobs.insert(ticket.job.to_string(), e);
                        Change::Write(())
                    }
                    None => Change::Keep(()),
                }
            }),
        )
        .await?;
        if let Some((e, last)) = removed {
            self.forget_in_snapshot(&e, last);
        }
        Ok(())
    }

    /// Takes an entry's counts out of the cached totals.
    pub(crate) fn forget_in_snapshot(&self, e: &Entry, last_of_user: bool) {
        self.adjust_snapshot(|t| {
            t.users = t.users.saturating_sub(u64::from(last_of_user));
            t.jobs = t.jobs.saturating_sub(1);
            if e.is_waiting() {
                t.waiting_units = t.waiting_units.saturating_sub(e.cost);
            } else {
                t.running_jobs = t.running_jobs.saturating_sub(1);
                t.running_units = t.running_units.saturating_sub(e.cost);
            }
        });
    }

    /// Records a worker's report of its speed.
    pub async fn report_worker(&self, stat: WorkerStat) -> Result<(), LedgerError> {
        let until = self.limit(None);
        self.call(until, self.inner.backend.put_worker(&stat))
            .await?;
        let mut cached = self.cached();
        if let Some(s) = cached.as_mut() {
            s.workers.retain(|w| w.id != stat.id);
            s.workers.push(stat);
        }
        Ok(())
    }

    /// Takes a first snapshot in the background, so the first admission
    /// finds totals to estimate from (a cold start is where a bot misses
    /// Discord's 3 s).
    pub fn warm_up(&self, now_ms: u64) {
        self.refresh_behind(now_ms);
    }

    /// The cached totals and worker reports, at once: never waits for the
    /// store. A stale snapshot starts one refresh in the background. Before
    /// the first refresh has landed (a cold start), an empty queue is
    /// assumed; `None` when the last refresh is too old to promise anything
    /// from (the store has been out for a while).
    pub fn snapshot_now(&self, now_ms: u64) -> Option<Snapshot> {
        let refresh_ms = self.inner.policy.refresh.as_millis() as u64;
        let cached = self.cached().clone();
        let Some(cached) = cached else {
            self.refresh_behind(now_ms);
            return Some(Snapshot::default());
        };
        let age = now_ms.saturating_sub(cached.at_ms);
        if age >= refresh_ms {
            self.refresh_behind(now_ms);
        }
        (age < MAX_STALE_MS.max(refresh_ms)).then_some(cached)
    }

    /// The totals and worker reports, refreshed first if they are stale
    /// (for tools and tests; request paths use [`Ledger::snapshot_now`]).
    pub async fn snapshot(&self, now_ms: u64) -> Result<Snapshot, LedgerError> {
        let refresh_ms = self.inner.policy.refresh.as_millis() as u64;
        let fresh = self
            .cached()
            .as_ref()
            .is_some_and(|s| now_ms.saturating_sub(s.at_ms) < refresh_ms);
        if !fresh {
            self.refresh(now_ms).await?;
        }
        Ok(self.cached().clone().unwrap_or_default())
    }

    /// Starts a refresh in the background unless one is under way.
    fn refresh_behind(&self, now_ms: u64) {
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let ledger = self.clone();
        tokio::spawn(async move {
            let _clear = Clear(&ledger.inner.refreshing);
            if let Err(e) = ledger.refresh(now_ms).await {
                tracing::warn!(error = %e, "could not refresh the queue totals");
            }
        });
    }

    async fn refresh(&self, now_ms: u64) -> Result<(), LedgerError> {
        let backend = &self.inner.backend;
        // Not through the breaker: the aggregation is heavier than a
        // user's record, and a slow one must not stop admissions from
        // asking the store; no request waits for it anyway.
        let limit = self.inner.policy.timeout;
        let (totals, workers) = tokio::time::timeout(limit, async {
            futures::try_join!(
                backend.totals(now_ms),
                backend.workers(now_ms.saturating_sub(WORKER_HISTORY_MS))
            )
        })
        .await
        .map_err(|_| LedgerError::Timeout(limit))??;
        let mut cached = self.cached();
        // A refresh that started earlier than the one cached loses.
        if cached.as_ref().is_none_or(|s| s.at_ms <= now_ms) {
            *cached = Some(Snapshot {
                totals,
                workers,
                at_ms: now_ms,
            });
        }
        Ok(())
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.inner
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn adjust_snapshot(&self, f: impl FnOnce(&mut Totals)) {
        if let Some(s) = self.cached().as_mut() {
            f(&mut s.totals);
        }
    }
}

/// When a ticket's entry stops counting: its own expiry, or (tickets from
/// before it was carried) a whole token's life from now.
fn expires(ticket: &Ticket, now_ms: u64) -> u64 {
    if ticket.expires_ms > 0 {
        ticket.expires_ms
    } else {
        now_ms + mandala_model::job::TOKEN_LIFETIME_MS
    }
}
