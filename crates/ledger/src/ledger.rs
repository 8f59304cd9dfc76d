//! [`Ledger`]: the operations, each a compare-and-swap on one user's record.
//!
//! - [`Ledger::admit`] (ingress): the cap, the estimate and the entry, at once;
//! - [`Ledger::start`] (whoever hands the job to a renderer): marks it
//!   running, and tells whether it was cancelled meanwhile;
//! - [`Ledger::finish`] (whoever sees the job end): removes it;
//! - [`Ledger::claim_notices`] / [`Ledger::notice_sent`] (the sweeper):
//!   picks overdue waiting jobs under a short lease and re-estimates them;
//! - [`Ledger::snapshot`]: the totals and worker reports the estimate uses,
//!   cached for [`Policy::refresh`] and refreshed in the background, so an
//!   admission costs one read and one write of the user's own record.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::backend::{Backend, LedgerError};
use crate::entry::{Entry, NOTICE_LEASE_MS, NoticeTarget, Sums, UserQueue};
use crate::estimate::{Estimate, Snapshot, WorkerStat, estimate};

/// How many times a contended record is re-read before giving up.
const CAS_ATTEMPTS: u32 = 12;

/// Worker reports older than this are not even read.
const WORKER_HISTORY_MS: u64 = 15 * 60 * 1000;

/// A snapshot older than this is refreshed before use, not in the background.
const MAX_STALE_MS: u64 = 10_000;

/// The limits an admission is checked against.
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
}

/// A job asking to be admitted.
#[derive(Debug, Clone)]
pub struct AdmitRequest {
    pub user: String,
    /// The job's id (the interaction id).
    pub job: String,
    pub cost: u64,
    /// When the interaction token dies.
    pub expires_ms: u64,
    /// What the user's message says the job is.
    pub label: String,
    /// The user's Discord locale (empty: English).
    pub locale: String,
    pub reply: Option<NoticeTarget>,
    pub now_ms: u64,
}

/// What the ledger said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Recorded: expect it by `due_ms`.
    Accepted { estimate: Estimate, due_ms: u64 },
    /// The user already has `queued` jobs waiting or rendering.
    Full { queued: u64 },
    /// The wait would outlive the interaction token.
    TooLong { estimate: Estimate },
}

/// What [`Ledger::start`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Marked running. A waiting notice holds the message until `lease_until_ms`.
    Running { lease_until_ms: u64 },
    /// No entry: the job was cancelled (its publish was reported failed) or
    /// its token died.
    Missing,
}

/// An overdue job whose notice this caller has claimed.
#[derive(Debug, Clone)]
pub struct DueNotice {
    pub user: String,
    pub job: String,
    pub target: NoticeTarget,
    pub label: String,
    pub locale: String,
    /// The new estimate, already recorded as the new promise.
    pub estimate: Estimate,
    pub notices: u32,
}

/// The shared record of outstanding jobs. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    policy: Policy,
    snapshot: Mutex<Option<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
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
enum Change<R> {
    Write(R),
    Keep(R),
}

impl Ledger {
    pub fn new(backend: Arc<dyn Backend>, policy: Policy) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                backend,
                policy,
                snapshot: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    async fn within<T>(
        &self,
        op: impl Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        let limit = self.inner.policy.timeout;
        tokio::time::timeout(limit, op)
            .await
            .unwrap_or(Err(LedgerError::Timeout(limit)))
    }

    /// Read, change, write back if nobody wrote in between; else again.
    async fn modify<R>(
        &self,
        user: &str,
        now_ms: u64,
        mut change: impl FnMut(&mut UserQueue) -> Change<R>,
    ) -> Result<R, LedgerError> {
        let backend = &self.inner.backend;
        for attempt in 0..CAS_ATTEMPTS {
            let mut current = backend.read(user).await?;
            current.queue.prune(now_ms);
            match change(&mut current.queue) {
                Change::Keep(r) => return Ok(r),
                Change::Write(r) => {
                    if backend
                        .write(user, &current.queue, &current.version, now_ms)
                        .await?
                    {
                        return Ok(r);
                    }
                }
            }
            // Someone else wrote this user's record: back off a little,
            // with jitter, so two writers do not collide again in step.
            let jitter = u64::from(now_nanos() % 7) + u64::from(attempt) * 3;
            tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
        }
        Err(LedgerError::Contended {
            backend: backend.name(),
            user: user.to_owned(),
            attempts: CAS_ATTEMPTS,
        })
    }

    /// Checks the user's cap and the estimate, and records the job if both
    /// allow it. A job already recorded (a repeated request) is accepted
    /// again with its first promise.
    pub async fn admit(&self, request: AdmitRequest) -> Result<Admission, LedgerError> {
        let policy = self.inner.policy;
        let now = request.now_ms;
        let snapshot = self.snapshot(now).await?;
        let mut own_before = Sums::default();
        let admission = self
            .within(self.modify(&request.user, now, |queue| {
                if let Some(e) = queue.jobs.get(&request.job) {
                    let mut others = queue.clone();
                    others.jobs.remove(&request.job);
                    let estimate = estimate(&snapshot, &others.sums(now), e.cost, now);
                    return Change::Keep(Admission::Accepted {
                        estimate,
                        due_ms: e.due_ms,
                    });
                }
                let own = queue.sums(now);
                if policy.max_per_user > 0 && own.jobs >= u64::from(policy.max_per_user) {
                    return Change::Keep(Admission::Full { queued: own.jobs });
                }
                let estimate = estimate(&snapshot, &own, request.cost, now);
                if estimate.wait > policy.max_wait {
                    return Change::Keep(Admission::TooLong { estimate });
                }
                let due_ms = now + estimate.wait.as_millis() as u64;
                queue.jobs.insert(
                    request.job.clone(),
                    Entry {
                        cost: request.cost,
                        accepted_ms: now,
                        due_ms,
                        expires_ms: request.expires_ms,
                        started_ms: 0,
                        lease_ms: 0,
                        notified_ms: 0,
                        notices: 0,
                        label: request.label.clone(),
                        locale: request.locale.clone(),
                        reply: request.reply.clone(),
                    },
                );
                own_before = own;
                Change::Write(Admission::Accepted { estimate, due_ms })
            }))
            .await?;
        if let Admission::Accepted { .. } = admission {
            // Count our own admission until the next refresh, so a burst
            // arriving here sees itself.
            self.adjust_snapshot(|t| {
                t.users += u64::from(own_before.jobs == 0);
                t.jobs += 1;
                t.waiting_units += request.cost;
            });
        }
        Ok(admission)
    }

    /// Records a job admitted earlier whose entry this ledger does not hold
    /// (jobs resumed from a spool after a restart of an in-memory ledger):
    /// no cap, no estimate, its first promise kept.
    pub async fn restore(&self, request: AdmitRequest, due_ms: u64) -> Result<(), LedgerError> {
        let now = request.now_ms;
        self.within(self.modify(&request.user, now, |queue| {
            if queue.jobs.contains_key(&request.job) || request.expires_ms <= now {
                return Change::Keep(());
            }
            queue.jobs.insert(
                request.job.clone(),
                Entry {
                    cost: request.cost,
                    accepted_ms: now,
                    due_ms,
                    expires_ms: request.expires_ms,
                    started_ms: 0,
                    lease_ms: 0,
                    notified_ms: 0,
                    notices: 0,
                    label: request.label.clone(),
                    locale: request.locale.clone(),
                    reply: request.reply.clone(),
                },
            );
            Change::Write(())
        }))
        .await
    }

    /// Marks a job running.
    pub async fn start(&self, user: &str, job: &str, now_ms: u64) -> Result<Start, LedgerError> {
        let mut moved = 0;
        let start = self
            .within(
                self.modify(user, now_ms, |queue| match queue.jobs.get_mut(job) {
                    None => Change::Keep(Start::Missing),
                    Some(e) if !e.is_waiting() => Change::Keep(Start::Running {
                        lease_until_ms: e.lease_ms,
                    }),
                    Some(e) => {
                        e.started_ms = now_ms.max(1);
                        moved = e.cost;
                        Change::Write(Start::Running {
                            lease_until_ms: e.lease_ms,
                        })
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

    /// Removes a job: it ended (image, final message, or cancelled).
    pub async fn finish(&self, user: &str, job: &str, now_ms: u64) -> Result<(), LedgerError> {
        let mut removed: Option<(Entry, bool)> = None;
        self.within(
            self.modify(user, now_ms, |queue| match queue.jobs.remove(job) {
                None => Change::Keep(()),
                Some(e) => {
                    removed = Some((e, queue.jobs.is_empty()));
                    Change::Write(())
                }
            }),
        )
        .await?;
        if let Some((e, last)) = removed {
            self.adjust_snapshot(|t| {
                t.users = t.users.saturating_sub(u64::from(last));
                t.jobs = t.jobs.saturating_sub(1);
                if e.is_waiting() {
                    t.waiting_units = t.waiting_units.saturating_sub(e.cost);
                } else {
                    t.running_jobs = t.running_jobs.saturating_sub(1);
                    t.running_units = t.running_units.saturating_sub(e.cost);
                }
            });
        }
        Ok(())
    }

    /// Records a worker's report of its speed.
    pub async fn report_worker(&self, stat: WorkerStat) -> Result<(), LedgerError> {
        self.within(self.inner.backend.put_worker(&stat)).await?;
        let mut cached = self.cached();
        if let Some(s) = cached.as_mut() {
            s.workers.retain(|w| w.id != stat.id);
            s.workers.push(stat);
        }
        Ok(())
    }

    /// Claims the waiting jobs whose notice is due (at most `limit` users'),
    /// re-estimates each, records the new promise and holds a short lease
    /// on the message while the caller sends the notice.
    pub async fn claim_notices(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueNotice>, LedgerError> {
        let users = self
            .within(self.inner.backend.due_notices(now_ms, limit))
            .await?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let snapshot = self.snapshot(now_ms).await?;
        let mut claimed = Vec::new();
        for user in users {
            let mut mine = Vec::new();
            let result = self
                .within(self.modify(&user, now_ms, |queue| {
                    mine.clear();
                    let ids: Vec<String> = queue
                        .jobs
                        .iter()
                        .filter(|(_, e)| e.next_notice_ms().is_some_and(|t| t <= now_ms))
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in ids {
                        let Some(e) = queue.jobs.get(&id) else {
                            continue;
                        };
                        // Ahead of it: this user's jobs accepted before it.
                        let mut earlier = queue.clone();
                        earlier
                            .jobs
                            .retain(|other, o| other != &id && o.accepted_ms <= e.accepted_ms);
                        let est = estimate(&snapshot, &earlier.sums(now_ms), e.cost, now_ms);
                        let Some(e) = queue.jobs.get_mut(&id) else {
                            continue;
                        };
                        let Some(target) = e.reply.clone() else {
                            continue;
                        };
                        e.lease_ms = now_ms + NOTICE_LEASE_MS;
                        e.notified_ms = now_ms;
                        e.notices += 1;
                        e.due_ms = now_ms + est.wait.as_millis() as u64;
                        mine.push(DueNotice {
                            user: user.clone(),
                            job: id.clone(),
                            target,
                            label: e.label.clone(),
                            locale: e.locale.clone(),
                            estimate: est,
                            notices: e.notices,
                        });
                    }
                    if mine.is_empty() {
                        Change::Keep(())
                    } else {
                        Change::Write(())
                    }
                }))
                .await;
            match result {
                Ok(()) => claimed.append(&mut mine),
                Err(e) => tracing::warn!(error = %e, "could not claim a waiting notice"),
            }
        }
        Ok(claimed)
    }

    /// Releases a notice's lease once it was sent (or given up).
    pub async fn notice_sent(&self, user: &str, job: &str, now_ms: u64) -> Result<(), LedgerError> {
        self.within(
            self.modify(user, now_ms, |queue| match queue.jobs.get_mut(job) {
                Some(e) if e.lease_ms != 0 => {
                    e.lease_ms = 0;
                    Change::Write(())
                }
                _ => Change::Keep(()),
            }),
        )
        .await
    }

    /// Takes a first snapshot in the background, so the first admission does
    /// not pay for connecting to the backend (a cold start is where a bot
    /// misses Discord's 3 s).
    pub fn warm_up(&self, now_ms: u64) {
        let ledger = self.clone();
        tokio::spawn(async move {
            if let Err(e) = ledger.refresh(now_ms).await {
                tracing::warn!(error = %e, "queue ledger not reachable yet; will retry on the first job");
            }
        });
    }

    /// The totals and worker reports, reused for [`Policy::refresh`].
    pub async fn snapshot(&self, now_ms: u64) -> Result<Snapshot, LedgerError> {
        let refresh_ms = self.inner.policy.refresh.as_millis() as u64;
        let age = self
            .cached()
            .as_ref()
            .map(|s| now_ms.saturating_sub(s.at_ms));
        match age {
            Some(a) if a < refresh_ms => {}
            // Stale but recent: serve it now and refresh behind the request.
            Some(a) if refresh_ms > 0 && a < MAX_STALE_MS => {
                let ledger = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = ledger.refresh(now_ms).await {
                        tracing::warn!(error = %e, "could not refresh the queue totals");
                    }
                });
            }
            _ => self.refresh(now_ms).await?,
        }
        Ok(self.cached().clone().unwrap_or_default())
    }

    async fn refresh(&self, now_ms: u64) -> Result<(), LedgerError> {
        // One refresh at a time; whoever waited finds it done.
        let _one = self.inner.refreshing.lock().await;
        let refresh_ms = self.inner.policy.refresh.as_millis() as u64;
        if self
            .cached()
            .as_ref()
            .is_some_and(|s| now_ms.saturating_sub(s.at_ms) < refresh_ms)
        {
            return Ok(());
        }
        let backend = &self.inner.backend;
        let (totals, workers) = self
            .within(async {
                futures::try_join!(
                    backend.totals(now_ms),
                    backend.workers(now_ms.saturating_sub(WORKER_HISTORY_MS))
                )
            })
            .await?;
        *self.cached() = Some(Snapshot {
            totals,
            workers,
            at_ms: now_ms,
        });
        Ok(())
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.inner
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn adjust_snapshot(&self, f: impl FnOnce(&mut crate::estimate::Totals)) {
        if let Some(s) = self.cached().as_mut() {
            f(&mut s.totals);
        }
    }
}

fn now_nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}
