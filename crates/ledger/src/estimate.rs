//! The wait estimate: measured load in, `ready in ~N` out.
//!
//! Three measured things go in:
//! - the work ahead, from the ledger: how many jobs wait or render, for how
//!   many users, and how many work units they add up to ([`Totals`]);
//! - how fast the workers finish work now, from their own reports
//!   ([`WorkerStat`]): render slots, real microseconds per work unit, and
//!   the time a job spends outside the renderer (decoding, storing,
//!   replying);
//! - the job's own cost, predicted from its spec ([`mandala_model::Cost`]).
//!
//! Jobs are served fairly (one at a time per user, users in turn), so a
//! user's k-th job waits for at most k+1 jobs of each other user, not for
//! the whole backlog; and a user's own earlier jobs run one after another.
//! The estimate is the longer of those two waits, plus the job itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::entry::Sums;

/// A worker whose last report is older than this no longer counts as
/// capacity (Cloud Run has scaled it in, or it is idle and reports nothing).
pub const LIVE_WINDOW_MS: u64 = 120_000;

/// Allowance for a cold start when no worker has reported recently.
pub const COLD_START_MS: u64 = 2_000;

/// Allowance for getting a job to a worker (publish, push) when the queue
/// is empty.
pub const DELIVERY_MS: u64 = 150;

/// A running job is on average half done.
const RUNNING_REMAINING: f64 = 0.5;

/// The ledger's totals over every user's live entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Users with at least one live entry.
    pub users: u64,
    pub jobs: u64,
    /// Of `jobs`, those being rendered.
    #[serde(default)]
    pub running_jobs: u64,
    pub waiting_units: u64,
    pub running_units: u64,
}

/// One worker instance's report of its speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStat {
    /// An id the instance chose at start.
    pub id: String,
    /// Renders it runs at once.
    pub slots: u32,
    /// Real microseconds one work unit takes on it (moving average).
    pub us_per_unit: f64,
    /// Microseconds a job spends outside the renderer (moving average).
    pub overhead_us: f64,
    /// How long jobs really took from admission to image, over what they
    /// were promised (moving average; 1 when estimates are right). Fair
    /// turns let later jobs of other users go first, which a snapshot of
    /// the queue cannot see; this measured factor makes up for it.
    #[serde(default = "one")]
    pub lateness: f64,
    /// When it reported (Unix ms).
    pub seen_ms: u64,
}

fn one() -> f64 {
    1.0
}

/// The correction [`WorkerStat::lateness`] may apply, at most.
pub const LATENESS_RANGE: (f64, f64) = (0.7, 3.0);

/// What the estimate is computed from: the ledger's totals and the workers'
/// reports, as of `at_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub totals: Totals,
    pub workers: Vec<WorkerStat>,
    pub at_ms: u64,
}

/// How fast the workers finish work, from their reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Work units finished per second with every slot busy.
    pub units_per_sec: f64,
    /// Real microseconds per work unit on one slot.
    pub us_per_unit: f64,
    /// Time a job spends outside the renderer, plus delivery.
    pub overhead_ms: f64,
    /// Measured actual / promised wait (see [`WorkerStat::lateness`]).
    pub lateness: f64,
    /// No worker reported recently: the first job pays a cold start.
    pub cold: bool,
}

impl Snapshot {
    pub fn capacity(&self, now_ms: u64) -> Capacity {
        let live: Vec<&WorkerStat> = self
            .workers
            .iter()
            .filter(|w| w.seen_ms + LIVE_WINDOW_MS > now_ms && w.slots > 0 && w.us_per_unit > 0.0)
            .collect();
        let newest = self
            .workers
            .iter()
            .filter(|w| w.slots > 0 && w.us_per_unit > 0.0)
            .max_by_key(|w| w.seen_ms);
        let (pool, cold): (Vec<&WorkerStat>, bool) = if live.is_empty() {
            (newest.into_iter().collect(), true)
        } else {
            (live, false)
        };
        if pool.is_empty() {
            // Nothing ever reported: one slot at the fitted speed (units are
            // µs on the machine the cost model was fitted on).
            return Capacity {
                units_per_sec: 1e6,
                us_per_unit: 1.0,
                overhead_ms: DELIVERY_MS as f64 + 50.0,
                lateness: 1.0,
                cold: true,
            };
        }
        let slots: f64 = pool.iter().map(|w| f64::from(w.slots)).sum();
        let units_per_sec: f64 = pool
            .iter()
            .map(|w| f64::from(w.slots) * 1e6 / w.us_per_unit)
            .sum();
        let weighted = |f: fn(&WorkerStat) -> f64| {
            pool.iter().map(|w| f(w) * f64::from(w.slots)).sum::<f64>() / slots
        };
        Capacity {
            units_per_sec,
            us_per_unit: weighted(|w| w.us_per_unit),
            overhead_ms: weighted(|w| w.overhead_us) / 1000.0 + DELIVERY_MS as f64,
            lateness: weighted(|w| w.lateness).clamp(LATENESS_RANGE.0, LATENESS_RANGE.1),
            cold,
        }
    }
}

/// The estimate for one new job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub wait: Duration,
    /// Jobs of other users expected to go before it.
    pub others_ahead: u64,
    /// The user's own jobs already queued.
    pub yours_ahead: u64,
}

/// Estimates when a new job of `cost` units will be ready, for a user whose
/// own live entries sum to `own`, given the global `snapshot`.
pub fn estimate(snapshot: &Snapshot, own: &Sums, cost: u64, now_ms: u64) -> Estimate {
    let cap = snapshot.capacity(now_ms);
    let t = &snapshot.totals;
    // The snapshot may already hold some of this user's jobs; count the
    // others as what is left, never below zero.
    let others_jobs = t.jobs.saturating_sub(own.jobs);
    let others_users = t
        .users
        .saturating_sub(u64::from(own.jobs > 0))
        .max(u64::from(others_jobs > 0));
    let others_units = (t.waiting_units as f64 + RUNNING_REMAINING * t.running_units as f64)
        - (own.waiting_units as f64 + RUNNING_REMAINING * own.running_units as f64);
    let others_units = others_units.max(0.0);
    let avg = if others_jobs == 0 {
        0.0
    } else {
        others_units / others_jobs as f64
    };
    // Users take turns: per other user at most (k+1) jobs go first.
    let turns = own.jobs + 1;
    let others_ahead = others_jobs.min(others_users.saturating_mul(turns));
    let own_units = own.waiting_units as f64 + RUNNING_REMAINING * own.running_units as f64;
    let fair_ms = (others_ahead as f64 * avg + own_units) / cap.units_per_sec * 1000.0;
    // A user's own jobs run one after another, on one slot.
    let serial_ms =
        (own_units * cap.us_per_unit + own.jobs as f64 * cap.overhead_ms * 1000.0) / 1000.0;
    let queue_ms = fair_ms.max(serial_ms);
    let own_ms = cost as f64 * cap.us_per_unit / 1000.0 + cap.overhead_ms;
    let cold_ms = if cap.cold { COLD_START_MS as f64 } else { 0.0 };
    let ms = ((queue_ms + own_ms) * cap.lateness + cold_ms).max(0.0);
    Estimate {
        wait: Duration::from_millis(ms.round() as u64),
        others_ahead,
        yours_ahead: own.jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(slots: u32, us_per_unit: f64, seen_ms: u64) -> WorkerStat {
        WorkerStat {
            id: "w".into(),
            slots,
            us_per_unit,
            overhead_us: 10_000.0,
            lateness: 1.0,
            seen_ms,
        }
    }

    fn snapshot(users: u64, jobs: u64, waiting: u64) -> Snapshot {
        Snapshot {
            totals: Totals {
                users,
                jobs,
                running_jobs: 0,
                waiting_units: waiting,
                running_units: 0,
            },
            workers: vec![worker(1, 1.0, 1_000)],
            at_ms: 1_000,
        }
    }

    const NOW: u64 = 2_000;

    #[test]
    fn an_idle_queue_estimates_the_job_itself() {
        let e = estimate(&snapshot(0, 0, 0), &Sums::default(), 500_000, NOW);
        // 0.5 s of rendering + 10 ms overhead + delivery.
        assert_eq!(e.wait, Duration::from_millis(660));
        assert_eq!((e.others_ahead, e.yours_ahead), (0, 0));
    }

    #[test]
    fn a_burst_of_one_user_does_not_count_fully_against_another() {
        // One other user has 5 jobs of 2 s each queued.
        let s = snapshot(1, 5, 5 * 2_000_000);
        let light = estimate(&s, &Sums::default(), 100_000, NOW);
        // Users take turns: one of theirs, then ours.
        assert_eq!(light.others_ahead, 1);
        assert!(light.wait < Duration::from_secs(3), "{:?}", light.wait);
        // Without turns it would have been 10 s.
    }

    #[test]
    fn a_users_own_jobs_run_one_after_another() {
        let own = Sums {
            jobs: 3,
            waiting_units: 3 * 1_000_000,
            ..Sums::default()
        };
        let mut s = snapshot(1, 3, 3 * 1_000_000);
        s.workers = vec![worker(8, 1.0, 1_000)];
        let e = estimate(&s, &own, 1_000_000, NOW);
        // Eight slots, but the user's three earlier jobs go one at a time.
        assert!(e.wait >= Duration::from_secs(4), "{:?}", e.wait);
        assert_eq!(e.yours_ahead, 3);
    }

    #[test]
    fn more_and_faster_workers_shorten_the_wait() {
        let s = snapshot(10, 10, 10 * 1_000_000);
        let slow = estimate(&s, &Sums::default(), 1_000, NOW).wait;
        let mut fast = s.clone();
        fast.workers = vec![worker(2, 0.5, 1_000), worker(2, 0.5, 1_500)];
        let fast = estimate(&fast, &Sums::default(), 1_000, NOW).wait;
        assert!(fast * 3 < slow, "{fast:?} vs {slow:?}");
    }

    #[test]
    fn measured_lateness_stretches_the_estimate_within_bounds() {
        let s = snapshot(3, 3, 3_000_000);
        let base = estimate(&s, &Sums::default(), 1_000_000, NOW).wait;
        let mut late = s.clone();
        late.workers[0].lateness = 1.5;
        let stretched = estimate(&late, &Sums::default(), 1_000_000, NOW).wait;
        assert_eq!(stretched, base.mul_f64(1.5));
        late.workers[0].lateness = 50.0;
        let capped = estimate(&late, &Sums::default(), 1_000_000, NOW).wait;
        assert_eq!(capped, base.mul_f64(LATENESS_RANGE.1));
    }

    #[test]
    fn stale_workers_mean_a_cold_start() {
        let mut s = snapshot(0, 0, 0);
        s.workers = vec![worker(2, 1.0, 0)];
        let cap = s.capacity(LIVE_WINDOW_MS + 1);
        assert!(cap.cold);
        let e = estimate(&s, &Sums::default(), 1_000, LIVE_WINDOW_MS + 1);
        assert!(
            e.wait >= Duration::from_millis(COLD_START_MS),
            "{:?}",
            e.wait
        );
    }
}
