//! The wall clock, read one way everywhere: Unix milliseconds, as the
//! ledger, job messages and Discord's snowflakes count time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The current second's nanoseconds: a cheap source of jitter, so clients
/// refused together do not come back together.
pub fn subsec_nanos() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// Lets something happen at most once every `every_ms` across threads
/// (a worker's speed report): the first caller past the interval wins,
/// the others are told to skip.
#[derive(Debug)]
pub struct AtMostEvery {
    every_ms: u64,
    last_ms: AtomicU64,
}

impl AtMostEvery {
    pub const fn new(every_ms: u64) -> AtMostEvery {
        AtMostEvery {
            every_ms,
            last_ms: AtomicU64::new(0),
        }
    }

    /// Whether the caller should do it now, at `now_ms`; if so, the next
    /// time comes `every_ms` later.
    pub fn due(&self, now_ms: u64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms >= last.saturating_add(self.every_ms)
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_interval_whoever_asks() {
        let every = AtMostEvery::new(1_000);
        assert!(every.due(5_000));
        assert!(!every.due(5_000), "a second caller at the same time skips");
        assert!(!every.due(5_999));
        assert!(every.due(6_000));
    }
}
