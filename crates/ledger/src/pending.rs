//! Admissions this instance has decided but not yet written: counted as
//! work ahead by every admission decided after them.
//!
//! The cached totals learn of an admitted job when its write is answered
//! ([`crate::Ledger::admit`] adds it then). With a store a round trip away,
//! a burst of users arriving together would all decide before any of those
//! answers, read the same totals and be promised the same short wait. A
//! decision holds its job here from the moment it is taken until its write
//! settles, so the next decision counts it.
//!
//! Admissions on other instances still appear only with the next refresh
//! of the totals (docs/SCALE.md says how far that goes).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::estimate::Totals;

/// Jobs decided and being written, by job id.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    jobs: Mutex<HashMap<String, Held>>,
}

#[derive(Debug, Clone)]
struct Held {
    user: String,
    units: u64,
}

impl Pending {
    /// Runs one decision for `user` with the held jobs in view, and no
    /// other decision of this instance between its look and its hold.
    pub(crate) fn decide<R>(&self, user: &str, f: impl FnOnce(&mut Holds<'_>) -> R) -> R {
        let mut holds = Holds {
            jobs: self.jobs.lock().unwrap_or_else(PoisonError::into_inner),
            user,
        };
        f(&mut holds)
    }

    /// Releases `job` when dropped: however its admission ends, even if
    /// the request that asked for it is dropped midway.
    pub(crate) fn until_settled<'a>(&'a self, job: &'a str) -> Settle<'a> {
        Settle { pending: self, job }
    }
}

/// The held jobs, as one decision sees them.
pub(crate) struct Holds<'a> {
    jobs: MutexGuard<'a, HashMap<String, Held>>,
    user: &'a str,
}

impl Holds<'_> {
    /// `totals` with the held jobs of other users added as waiting work.
    /// The user's own held jobs are left out: their own record, read for
    /// the decision, is what counts for them.
    pub(crate) fn ahead(&self, totals: Totals) -> Totals {
        let mut t = totals;
        let mut users: Vec<&str> = Vec::new();
        for held in self.jobs.values().filter(|h| h.user != self.user) {
            t.jobs += 1;
            t.waiting_units += held.units;
            if !users.contains(&held.user.as_str()) {
                users.push(&held.user);
            }
        }
        // Some of them may already have jobs in the totals: an upper bound
        // on users, which only matters for how many turns go first.
        t.users += users.len() as u64;
        t
    }

    /// Holds `job` as decided (again, if a compare-and-swap retries).
    pub(crate) fn hold(&mut self, job: &str, units: u64) {
        self.jobs.insert(
            job.to_owned(),
            Held {
                user: self.user.to_owned(),
                units,
            },
        );
    }
}

/// See [`Pending::until_settled`].
pub(crate) struct Settle<'a> {
    pending: &'a Pending,
    job: &'a str,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.pending
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(p: &Pending, user: &str, job: &str, units: u64) {
        p.decide(user, |h| h.hold(job, units));
    }

    fn ahead(p: &Pending, user: &str, totals: Totals) -> Totals {
        p.decide(user, |h| h.ahead(totals))
    }

    #[test]
    fn other_users_held_jobs_count_as_waiting_work() {
        let p = Pending::default();
        hold(&p, "ann", "j1", 10);
        hold(&p, "bob", "j2", 7);
        hold(&p, "bob", "j3", 5);
        let base = Totals {
            users: 1,
            jobs: 2,
            waiting_units: 20,
            ..Totals::default()
        };
        let for_cyd = ahead(&p, "cyd", base);
        assert_eq!(
            (for_cyd.users, for_cyd.jobs, for_cyd.waiting_units),
            (3, 5, 42)
        );
        // Ann's own held job is not ahead of Ann.
        let for_ann = ahead(&p, "ann", base);
        assert_eq!((for_ann.jobs, for_ann.waiting_units), (4, 32));
    }

    #[test]
    fn a_settled_job_stops_counting_and_a_retry_holds_it_once() {
        let p = Pending::default();
        hold(&p, "ann", "j1", 10);
        hold(&p, "ann", "j1", 10);
        assert_eq!(ahead(&p, "bob", Totals::default()).jobs, 1);
        drop(p.until_settled("j1"));
        assert_eq!(ahead(&p, "bob", Totals::default()), Totals::default());
    }
}
