//! Per-instance replay protection: interaction ids seen recently.
//!
//! A validly signed request can be captured and sent again. The timestamp
//! window bounds how old a replay can be; this memory refuses the same
//! interaction id twice inside that window, at any request rate.
//!
//! Memory is a fixed budget of `capacity` ids (about 30 bytes each when
//! full). An id is forgotten only once its window has passed; evicting
//! earlier would let a replay through, so when every remembered id is
//! still inside its window a new interaction is not taken
//! ([`Seen::Full`]): the ingress asks the user to try again, which is
//! what an overloaded instance should say anyway. The budget is sized so
//! that this happens only far above what one instance is asked to carry.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the memory says about an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen inside the window; now remembered.
    First,
    /// Seen inside the window: a replay.
    Again,
    /// Not seen, but the memory is full of ids still inside their window;
    /// not remembered, so the interaction must not be acted on.
    Full,
}

/// Ids seen within `ttl`.
#[derive(Debug)]
pub struct SeenIds {
    ttl: Duration,
    capacity: usize,
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<u64>,
    /// Ids in arrival order, and beside them when each may be forgotten
    /// (whole seconds since `started`, rounded up): two queues rather than
    /// one of pairs, which padding would make 16 bytes an entry.
    order: VecDeque<u64>,
    expires: VecDeque<u32>,
    /// Whether the last id was refused for lack of room (logged once).
    full: bool,
}

impl SeenIds {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SeenIds {
            ttl,
            capacity: capacity.max(1),
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whole seconds from start to `at`, rounded down or up: an id expires
    /// at a rounded-up second and is dropped once the rounded-down clock
    /// reaches it, so it is never forgotten early.
    fn secs(&self, at: Instant, round_up: bool) -> u32 {
        let since = at.saturating_duration_since(self.started);
        let up = round_up && since.subsec_nanos() > 0;
        u32::try_from(since.as_secs() + u64::from(up)).unwrap_or(u32::MAX)
    }

    /// Looks `id` up at `now` and remembers it if it is new and fits.
    pub fn check(&self, id: u64, now: Instant) -> Seen {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            // A panic while holding the lock cannot leave the set inconsistent
            // in a way that matters here; keep serving.
            Err(poisoned) => poisoned.into_inner(),
        };
        let now_secs = self.secs(now, false);
        while inner.expires.front().is_some_and(|&at| at <= now_secs) {
            inner.expires.pop_front();
            if let Some(old) = inner.order.pop_front() {
                inner.ids.remove(&old);
            }
        }
        // Give back what a burst made the set grow to.
        if inner.ids.capacity() > 1024 && inner.ids.len() * 8 < inner.ids.capacity() {
            let keep = inner.ids.len() * 2;
            inner.ids.shrink_to(keep);
            inner.order.shrink_to(keep);
            inner.expires.shrink_to(keep);
        }
        if inner.ids.contains(&id) {
            return Seen::Again;
        }
        if inner.ids.len() >= self.capacity {
            if !inner.full {
                inner.full = true;
                tracing::warn!(
                    capacity = self.capacity,
                    window_secs = self.ttl.as_secs(),
                    "replay memory is full of ids still inside their window; refusing new interactions"
                );
            }
            return Seen::Full;
        }
        inner.full = false;
        inner.ids.insert(id);
        inner.order.push_back(id);
        inner.expires.push_back(self.secs(now + self.ttl, true));
        Seen::First
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.ids.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_inside_the_window_are_refused() {
        let seen = SeenIds::new(Duration::from_mins(1), 100);
        let t0 = Instant::now();
        assert_eq!(seen.check(1, t0), Seen::First);
        assert_eq!(seen.check(1, t0 + Duration::from_secs(30)), Seen::Again);
        assert_eq!(seen.check(2, t0), Seen::First);
        // After the window the id is forgotten (the timestamp check refuses it then).
        assert_eq!(seen.check(1, t0 + Duration::from_secs(62)), Seen::First);
    }

    #[test]
    fn the_window_holds_at_any_rate_within_the_budget() {
        let seen = SeenIds::new(Duration::from_hours(1), 1000);
        let t0 = Instant::now();
        for id in 0..1000 {
            assert_eq!(seen.check(id, t0), Seen::First);
        }
        // Full of ids inside their window: new ones are not taken, and the
        // oldest is still refused as a replay.
        for id in 1000..10_000 {
            assert_eq!(seen.check(id, t0), Seen::Full);
        }
        assert_eq!(seen.check(0, t0), Seen::Again);
        assert_eq!(seen.len(), 1000);
        // Once the window has passed there is room again.
        let later = t0 + Duration::from_hours(1) + Duration::from_secs(1);
        assert_eq!(seen.check(5_000, later), Seen::First);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn ids_live_at_least_the_whole_window() {
        let seen = SeenIds::new(Duration::from_secs(10), 10);
        let t0 = Instant::now() + Duration::from_millis(300);
        assert_eq!(seen.check(7, t0), Seen::First);
        assert_eq!(
            seen.check(7, t0 + Duration::from_millis(9_999)),
            Seen::Again
        );
    }
}
