//! Per-instance replay protection: interaction ids seen recently.
//!
//! A validly signed request can be captured and sent again. The timestamp
//! window bounds how old a replay can be; this cache refuses the same
//! interaction id twice inside that window. Memory is bounded: at most
//! `capacity` ids are kept, oldest evicted first, so a flood of fresh
//! interactions cannot grow the instance past its limits (under such a
//! flood the oldest ids fall out early, which only weakens the check for
//! requests that are about to fail the timestamp window anyway).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Ids seen within `ttl`.
#[derive(Debug)]
pub struct SeenIds {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
}

impl SeenIds {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SeenIds {
            ttl,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records `id`; `false` if it was already seen within the window.
    pub fn first_time(&self, id: u64, now: Instant) -> bool {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            // A panic while holding the lock cannot leave the set inconsistent
            // in a way that matters here; keep serving.
            Err(poisoned) => poisoned.into_inner(),
        };
        while let Some(&(at, old)) = inner.order.front() {
            if now.duration_since(at) > self.ttl || inner.order.len() >= self.capacity {
                inner.order.pop_front();
                inner.ids.remove(&old);
            } else {
                break;
            }
        }
        if !inner.ids.insert(id) {
            return false;
        }
        inner.order.push_back((now, id));
        true
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
        assert!(seen.first_time(1, t0));
        assert!(!seen.first_time(1, t0 + Duration::from_secs(30)));
        assert!(seen.first_time(2, t0));
        // After the window the id is forgotten (the timestamp check refuses it then).
        assert!(seen.first_time(1, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn memory_is_bounded() {
        let seen = SeenIds::new(Duration::from_hours(1), 1000);
        let t0 = Instant::now();
        for id in 0..10_000 {
            assert!(seen.first_time(id, t0));
        }
        assert_eq!(seen.len(), 1000);
        assert!(!seen.first_time(9_999, t0));
    }
}
