//! The ledger in the process's memory.
//!
//! Exact wherever one process sees every job: the local default, where the
//! ingress's local push delivery is the queue. Versions are a counter per
//! record, so the compare-and-swap contract is the Firestore one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::{BoxFuture, FutureExt as _};

use super::{Backend, LedgerError, Version, Versioned};
use crate::entry::UserQueue;
use crate::estimate::{Totals, WorkerStat};

#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<String, (u64, UserQueue)>,
    workers: HashMap<String, WorkerStat>,
    next_version: u64,
}

impl MemoryBackend {
    pub fn new() -> Self {
        MemoryBackend::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below is a single insert or remove: nothing is left
        // half-done by a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn read<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Versioned, LedgerError>> {
        let found = self.state().users.get(user).cloned();
        let versioned = match found {
            Some((v, queue)) => Versioned {
                queue,
                version: Version::At(v.to_string()),
            },
            None => Versioned {
                queue: UserQueue::default(),
                version: Version::Absent,
            },
        };
        futures::future::ready(Ok(versioned)).boxed()
    }

    fn write<'a>(
        &'a self,
        user: &'a str,
        queue: &'a UserQueue,
        expected: &'a Version,
        _now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        let mut state = self.state();
        let current = state
            .users
            .get(user)
            .map(|(v, _)| Version::At(v.to_string()));
        let matches = current.as_ref().unwrap_or(&Version::Absent) == expected;
        if matches {
            if queue.jobs.is_empty() {
                state.users.remove(user);
            } else {
                state.next_version += 1;
                let v = state.next_version;
                state.users.insert(user.to_owned(), (v, queue.clone()));
            }
        }
        futures::future::ready(Ok(matches)).boxed()
    }

    fn totals(&self, now_ms: u64) -> BoxFuture<'_, Result<Totals, LedgerError>> {
        let mut t = Totals::default();
        let mut state = self.state();
        // Records whose every token has died are dropped on the way.
        state.users.retain(|_, (_, q)| {
            let s = q.sums(now_ms);
            if s.jobs == 0 {
                return false;
            }
            t.users += 1;
            t.jobs += s.jobs;
            t.running_jobs += s.running_jobs;
            t.waiting_units += s.waiting_units;
            t.running_units += s.running_units;
            true
        });
        futures::future::ready(Ok(t)).boxed()
    }

    fn workers(&self, since_ms: u64) -> BoxFuture<'_, Result<Vec<WorkerStat>, LedgerError>> {
        let list = self
            .state()
            .workers
            .values()
            .filter(|w| w.seen_ms > since_ms)
            .cloned()
            .collect();
        futures::future::ready(Ok(list)).boxed()
    }

    fn put_worker<'a>(&'a self, stat: &'a WorkerStat) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.state().workers.insert(stat.id.clone(), stat.clone());
        futures::future::ready(Ok(())).boxed()
    }

    fn due_notices(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<String>, LedgerError>> {
        let users = self
            .state()
            .users
            .iter()
            .filter(|(_, (_, q))| {
                q.sums(now_ms)
                    .next_notice_ms
                    .is_some_and(|t| t <= now_ms && t > now_ms.saturating_sub(super::DEAD_AFTER_MS))
            })
            .map(|(u, _)| u.clone())
            .take(limit)
            .collect();
        futures::future::ready(Ok(users)).boxed()
    }
}
