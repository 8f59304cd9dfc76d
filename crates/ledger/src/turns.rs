//! One user's admissions take turns within an instance, and an instance
//! that cannot reach the ledger still holds each user to the cap.
//!
//! Every admission of a user is a compare-and-swap on that user's one
//! record. A burst of one user's requests, all at once, would contend with
//! itself: each read sees the same version, one write wins, the rest read
//! again, and under a slow store they run out of time together. Taking
//! turns here leaves at most one writer per user per instance, so the cap
//! is decided by the record, one admission after another.
//!
//! When the ledger cannot be asked in time (it fails, hangs, or a user's
//! own burst used up the time waiting for its turns), a job is let through
//! without an estimate rather than refused — but only while the user is
//! below the cap by what this instance knows: its own admissions of the
//! user in the last [`RECENT_WINDOW`], or the user's count in the ledger
//! when this instance last read it (within the window), plus what it let
//! through since. An outage must not switch the cap off for exactly the
//! users who push on it, and a burst spread over instances meets the
//! counts the others wrote whenever the ledger answered once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

/// How far back an instance remembers its own admissions of a user.
pub const RECENT_WINDOW: Duration = Duration::from_secs(60);

/// Users remembered at most; beyond it the oldest memories are dropped
/// (a user then gets a fresh allowance, never a refusal).
const MAX_USERS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Turns {
    lines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    recent: Mutex<HashMap<String, Recent>>,
}

/// What this instance knows of a user's jobs.
#[derive(Debug, Default)]
struct Recent {
    /// When it admitted each of them (Unix ms), within the window.
    times: VecDeque<u64>,
    /// The user's count in the ledger when last read, and when; plus
    /// the jobs let through without the ledger since.
    known: Option<(u64, u64)>,
}

impl Recent {
    fn count(&mut self, now_ms: u64) -> u64 {
        let window = RECENT_WINDOW.as_millis() as u64;
        while self.times.front().is_some_and(|t| t + window <= now_ms) {
            self.times.pop_front();
        }
        if self.known.is_some_and(|(_, at)| at + window <= now_ms) {
            self.known = None;
        }
        (self.times.len() as u64).max(self.known.map_or(0, |(n, _)| n))
    }
}

/// A user's turn: admissions of the same user wait until it is dropped.
pub struct Turn<'a> {
    turns: &'a Turns,
    user: String,
    line: Arc<tokio::sync::Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut lines = self.turns.lines();
        self.guard.take();
        // Nobody else holds or awaits this line (clones are made under the
        // map's lock, which is held): forget it.
        if Arc::strong_count(&self.line) == 2 {
            lines.remove(&self.user);
        }
    }
}

impl Turns {
    /// Waits for `user`'s turn until `deadline`; `None` if it did not come.
    pub async fn wait(&self, user: &str, deadline: Instant) -> Option<Turn<'_>> {
        let line = Arc::clone(self.lines().entry(user.to_owned()).or_default());
        let mut turn = Turn {
            turns: self,
            user: user.to_owned(),
            line: Arc::clone(&line),
            guard: None,
        };
        turn.guard = Some(
            tokio::time::timeout_at(deadline, line.lock_owned())
                .await
                .ok()?,
        );
        Some(turn)
    }

    /// Remembers an admission of `user`'s at `now_ms`.
    pub fn admitted(&self, user: &str, now_ms: u64) {
        self.with(user, now_ms, |r| r.times.push_back(now_ms));
    }

    /// Remembers the user's count in the ledger as read at `now_ms`.
    pub fn known(&self, user: &str, jobs: u64, now_ms: u64) {
        self.with(user, now_ms, |r| r.known = Some((jobs, now_ms)));
    }

    /// How many of `user`'s jobs this instance knows of (see the module
    /// documentation).
    pub fn recent(&self, user: &str, now_ms: u64) -> u64 {
        let mut recent = self.recent_map();
        let Some(r) = recent.get_mut(user) else {
            return 0;
        };
        let n = r.count(now_ms);
        if n == 0 {
            recent.remove(user);
        }
        n
    }

    /// Admits one more of `user`'s jobs without the ledger if what this
    /// instance knows leaves room under `cap` (0: no cap); otherwise how
    /// many jobs it knows of.
    pub fn let_through(&self, user: &str, cap: u32, now_ms: u64) -> Result<(), u64> {
        let mut recent = self.recent_map();
        let r = recent.entry(user.to_owned()).or_default();
        let n = r.count(now_ms);
        if cap > 0 && n >= u64::from(cap) {
            return Err(n);
        }
        r.times.push_back(now_ms);
        if let Some((known, _)) = &mut r.known {
            *known += 1;
        }
        Ok(())
    }

    fn with(&self, user: &str, now_ms: u64, f: impl FnOnce(&mut Recent)) {
        let mut recent = self.recent_map();
        if recent.len() >= MAX_USERS && !recent.contains_key(user) {
            recent.retain(|_, r| r.count(now_ms) > 0);
            if recent.len() >= MAX_USERS {
                recent.clear();
            }
        }
        f(recent.entry(user.to_owned()).or_default());
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn recent_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Recent>> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_per_user_at_a_time_and_lines_are_forgotten() {
        let turns = Turns::default();
        let far = Instant::now() + Duration::from_secs(5);
        let alice = turns.wait("alice", far).await.unwrap();
        // Another user is not held up.
        let bob = turns.wait("bob", far).await.unwrap();
        // Alice's second request waits for her first.
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(turns.wait("alice", soon).await.is_none());
        drop(alice);
        assert!(turns.wait("alice", soon).await.is_some());
        drop(bob);
        assert!(turns.lines().is_empty(), "lines of idle users are kept");
    }

    #[test]
    fn without_the_ledger_a_user_gets_the_cap_per_window_and_no_more() {
        let turns = Turns::default();
        let window = RECENT_WINDOW.as_millis() as u64;
        for _ in 0..3 {
            assert_eq!(turns.let_through("u", 3, 1_000), Ok(()));
        }
        assert_eq!(turns.let_through("u", 3, 1_001), Err(3));
        assert_eq!(turns.let_through("other", 3, 1_001), Ok(()));
        // No cap: always.
        assert_eq!(turns.let_through("u", 0, 1_002), Ok(()));
        // The window passes.
        assert_eq!(turns.recent("u", 1_000 + window), 1);
        assert_eq!(turns.let_through("u", 3, 1_000 + window), Ok(()));
    }

    #[test]
    fn what_the_ledger_said_last_counts_too() {
        let turns = Turns::default();
        // Other instances admitted four of this user's jobs; this one read
        // that when it admitted its own first.
        turns.admitted("u", 1_000);
        turns.known("u", 5 - 1, 1_000);
        assert_eq!(turns.let_through("u", 5, 1_100), Ok(()));
        assert_eq!(turns.let_through("u", 5, 1_200), Err(5));
        // A reading older than the window no longer holds anyone back.
        let window = RECENT_WINDOW.as_millis() as u64;
        assert_eq!(turns.recent("u", 1_000 + window), 1);
    }
}
