//! A circuit breaker in front of the ledger's store.
//!
//! Every caller of the ledger has a deadline it cannot move (the answer to
//! Discord, a push's ack deadline). A store that fails or hangs costs each
//! caller its whole timeout before it can go on without it; after a few
//! failures in a row, over at least [`MIN_STREAK`], the breaker stops
//! calling the store for a while, so callers go on at once, and lets one
//! call through afterwards to see whether the store is back. The span
//! keeps one moment's trouble from opening it: a burst of requests that
//! time out together on a cold connection is one failure, not thirty.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Failures in a row that open the breaker, if they span [`MIN_STREAK`].
pub const FAILURES_TO_OPEN: u32 = 3;

/// How long failures must have kept coming before the breaker opens.
pub const MIN_STREAK: Duration = Duration::from_secs(1);

/// How long an open breaker refuses calls before it lets one try.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

/// Whether the store may be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Call it.
    Closed,
    /// Open, but its pause is over: this caller is the one probe.
    Probe,
    /// Open: do not call it for this long.
    Open(Duration),
}

#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    /// When the current run of failures began.
    since: Option<Instant>,
    open_until: Option<Instant>,
    probing: bool,
}

impl Breaker {
    /// Asks to call the store.
    pub fn gate(&self) -> Gate {
        let mut s = self.state();
        let Some(until) = s.open_until else {
            return Gate::Closed;
        };
        let now = Instant::now();
        if now < until {
            return Gate::Open(until - now);
        }
        if s.probing {
            // Someone is finding out; until they do, the store is still out.
            return Gate::Open(Duration::ZERO);
        }
        s.probing = true;
        Gate::Probe
    }

    /// The store answered.
    pub fn succeeded(&self) {
        let mut s = self.state();
        *s = State::default();
    }

    /// The store failed or did not answer in time; whether the breaker is
    /// open now.
    pub fn failed(&self) -> bool {
        let mut s = self.state();
        let now = Instant::now();
        let since = *s.since.get_or_insert(now);
        s.failures = s.failures.saturating_add(1);
        let was_probe = std::mem::take(&mut s.probing);
        if was_probe || (s.failures >= FAILURES_TO_OPEN && now - since >= MIN_STREAK) {
            s.open_until = Some(now + OPEN_FOR);
            return true;
        }
        false
    }

    /// A call that neither succeeded nor failed (it was cancelled): a probe
    /// gives its turn back.
    pub fn abandoned(&self) {
        self.state().probing = false;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_and_probes_once_later() {
        let b = Breaker::default();
        assert_eq!(b.gate(), Gate::Closed);
        assert!(!b.failed());
        b.succeeded();
        // A success in between resets the count.
        assert!(!b.failed());
        assert!(!b.failed());
        // Three at once are one moment's trouble.
        assert!(!b.failed());
        assert_eq!(b.gate(), Gate::Closed);
        // Still failing a moment later: open.
        tokio::time::advance(MIN_STREAK).await;
        assert!(b.failed());
        assert!(matches!(b.gate(), Gate::Open(d) if d == OPEN_FOR));
        tokio::time::advance(OPEN_FOR).await;
        assert_eq!(b.gate(), Gate::Probe);
        // While the probe is out, everyone else still goes without.
        assert!(matches!(b.gate(), Gate::Open(_)));
        // The probe fails: open again for the whole pause.
        assert!(b.failed());
        assert!(matches!(b.gate(), Gate::Open(d) if d == OPEN_FOR));
        tokio::time::advance(OPEN_FOR).await;
        assert_eq!(b.gate(), Gate::Probe);
        b.succeeded();
        assert_eq!(b.gate(), Gate::Closed);
    }
}
