//! [`Ledger::admit`]: the cap, the estimate and the entry, within the
//! caller's deadline — and what to do when the ledger cannot say.
//!
//! 1. The estimate comes from the cached totals ([`Ledger::snapshot_now`]),
//!    never from a call made for this admission, plus the admissions this
//!    instance decided before it whose writes are still out
//!    ([`crate::pending`]).
//! 2. The user's admissions take turns within this instance
//!    ([`crate::turns`]): one compare-and-swap of their record at a time.
//! 3. The compare-and-swap checks the cap and records the entry.
//! 4. If the turn does not come by the deadline (the user's own earlier
//!    requests are still being admitted), the job is refused: letting it
//!    through unchecked is how a burst used to get past the cap.
//! 5. If the record does not come by the deadline, or the store is
//!    failing, the job is let through without an estimate while this
//!    instance knows of fewer than the cap's number of the user's jobs —
//!    otherwise refused as over the cap. Whether a write was sent that may
//!    still land is reported, so the job can carry it.

use std::sync::atomic::{AtomicBool, Ordering};

use mandala_model::Snowflake;
use tokio::time::Instant;

use crate::backend::LedgerError;
use crate::entry::{Entry, NoticeTarget, Sums, UserQueue};
use crate::estimate::{Estimate, Snapshot, estimate};
use crate::ledger::{Change, Ledger, Policy};

/// A job asking to be admitted.
#[derive(Debug, Clone)]
pub struct AdmitRequest {
    pub user: Snowflake,
    /// The job's id (the interaction id).
    pub job: Snowflake,
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
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Recorded: expect it by `due_ms`. No estimate when the totals are
    /// not known (no snapshot yet, or a stale one).
    Accepted {
        estimate: Option<Estimate>,
        due_ms: u64,
    },
    /// The user already has `queued` jobs waiting or rendering (by the
    /// ledger's record, or by this instance's own count when the ledger
    /// could not be asked).
    Full { queued: u64 },
    /// The wait would outlive the interaction token.
    TooLong { estimate: Estimate },
    /// The user's own earlier requests were still being admitted when
    /// the time ran out: refused, not let past the cap unchecked.
    Busy,
    /// The ledger could not be asked in time: let through without an
    /// estimate, within this instance's allowance for the user.
    Unchecked {
        error: LedgerError,
        written: Written,
    },
}

/// Whether an admission that did not finish sent a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Nothing was written: there is no entry, and there will be none.
    No,
    /// A write was sent and not answered: it may land later, or never.
    Maybe,
}

impl Ledger {
    /// Checks the user's cap and the estimate, and records the job if both
    /// allow it, by `deadline` whatever the store does. A job already
    /// recorded (a repeated request) is accepted again with its first
    /// promise.
    pub async fn admit(&self, request: AdmitRequest, deadline: Instant) -> Admission {
        let now = request.now_ms;
        let until = self.limit(Some(deadline));
        let Some(_turn) = self
            .inner
            .turns
            .wait(&request.user, until)
            .await
            .filter(|_| Instant::now() < until)
        else {
            return Admission::Busy;
        };
        let policy = self.inner.policy;
        let writing = AtomicBool::new(false);
        let mut notes = Notes::default();
        let pending = &self.inner.pending;
        let _settle = pending.until_settled(&request.job);
        let decided = self
            .call(
                until,
                self.modify(&request.user, now, Some(&writing), |queue| {
                    // The totals as they stand at the decision, with the
                    // admissions decided here before it and not yet written.
                    pending.decide(&request.user, |holds| {
                        let snapshot = self.snapshot_now(now).map(|mut s| {
                            s.totals = holds.ahead(s.totals);
                            s
                        });
                        let (change, learnt) = decide(queue, &request, snapshot.as_ref(), &policy);
                        if let Change::Write(Admission::Accepted { .. }) = &change {
                            holds.hold(&request.job, request.cost);
                        }
                        notes = learnt;
                        change
                    })
                }),
            )
            .await;
        match decided {
            Ok(admission) => {
                self.note(&request, &notes, &admission);
                admission
            }
            Err(error) => {
                let written = if writing.load(Ordering::Acquire) {
                    Written::Maybe
                } else {
                    Written::No
                };
                self.unchecked(&request, error, written)
            }
        }
    }

    /// What this instance learns from a decision: the user's count in the
    /// ledger, its own admission, and the job in the cached totals until
    /// the next refresh (so a burst arriving here sees itself).
    fn note(&self, request: &AdmitRequest, notes: &Notes, admission: &Admission) {
        let now = request.now_ms;
        if let Some(jobs) = notes.counted {
            self.inner.turns.known(&request.user, jobs, now);
        }
        if let (Some(own), Admission::Accepted { .. }) = (notes.own_before, admission) {
            self.inner.turns.admitted(&request.user, now);
            self.adjust_snapshot(|t| {
                t.users += u64::from(own.jobs == 0);
                t.jobs += 1;
                t.waiting_units += request.cost;
            });
        }
    }

    /// The ledger could not decide: let the job through while this
    /// instance's recent admissions of the user leave room under the cap.
    fn unchecked(&self, request: &AdmitRequest, error: LedgerError, written: Written) -> Admission {
        let cap = self.inner.policy.max_per_user;
        match self
            .inner
            .turns
            .let_through(&request.user, cap, request.now_ms)
        {
            Ok(()) => Admission::Unchecked { error, written },
            Err(queued) => {
                if written == Written::Maybe {
                    // Refused after all: an entry that lands late must not
                    // count against the user. `end` writes over it.
                    let ledger = self.clone();
                    let ticket = mandala_model::Ticket {
                        user: request.user.clone(),
                        job: request.job.clone(),
                        due_ms: request.now_ms,
                        cost: mandala_model::Cost(request.cost),
                        expires_ms: request.expires_ms,
                        recorded: mandala_model::Recorded::Unknown,
                    };
                    tokio::spawn(async move {
                        let _ = ledger.end(&ticket, crate::ledger::now_ms()).await;
                    });
                }
                Admission::Full { queued }
            }
        }
    }
}

/// What one attempt learnt of the user's record.
#[derive(Default)]
struct Notes {
    /// The user's jobs in the ledger after this decision.
    counted: Option<u64>,
    /// The user's sums before a new entry was added.
    own_before: Option<Sums>,
}

/// The cap, the estimate and the new entry, on the record as read.
fn decide(
    queue: &mut UserQueue,
    request: &AdmitRequest,
    snapshot: Option<&Snapshot>,
    policy: &Policy,
) -> (Change<Admission>, Notes) {
    let now = request.now_ms;
    if let Some(e) = queue.jobs.get(request.job.as_str()) {
        let mut others = queue.clone();
        others.jobs.remove(request.job.as_str());
        let estimate = snapshot.map(|s| estimate(s, &others.sums(now), e.cost, now));
        let again = Admission::Accepted {
            estimate,
            due_ms: e.due_ms,
        };
        return (Change::Keep(again), Notes::default());
    }
    let own = queue.sums(now);
    let keep = |admission| {
        let notes = Notes {
            counted: Some(own.jobs),
            own_before: None,
        };
        (Change::Keep(admission), notes)
    };
    if policy.max_per_user > 0 && own.jobs >= u64::from(policy.max_per_user) {
        return keep(Admission::Full { queued: own.jobs });
    }
    let estimate = snapshot.map(|s| estimate(s, &own, request.cost, now));
    if let Some(estimate) = estimate
        && estimate.wait > policy.max_wait
    {
        return keep(Admission::TooLong { estimate });
    }
    let due_ms = now + estimate.map_or(0, |e| e.wait.as_millis() as u64);
    let mut entry = Entry::waiting(request.cost, now, due_ms, request.expires_ms);
    entry.label.clone_from(&request.label);
    entry.locale.clone_from(&request.locale);
    entry.reply.clone_from(&request.reply);
    queue.jobs.insert(request.job.to_string(), entry);
    let notes = Notes {
        counted: Some(own.jobs + 1),
        own_before: Some(own),
    };
    (
        Change::Write(Admission::Accepted { estimate, due_ms }),
        notes,
    )
}
