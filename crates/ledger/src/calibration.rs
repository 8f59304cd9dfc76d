//! How fast this worker really is: measured, averaged, reported.
//!
//! The cost model predicts work units from a spec; a [`Calibrator`] learns
//! how many real microseconds a unit takes on this instance's CPUs (with
//! its render slots all busy, as they are when it matters) and how long a
//! job spends outside the renderer. The average is exponential, so the
//! report follows a change of machine or load within a few dozen jobs.
//!
//! Reports reach the ledger two ways: written to Firestore by the worker,
//! or, with local push delivery, carried back in the push response's
//! headers ([`WorkerStat::to_headers`] / [`WorkerStat::from_headers`]).

use std::sync::{Mutex, PoisonError};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::estimate::WorkerStat;

/// Weight of a new sample once the average has settled.
const SMOOTHING: f64 = 0.2;

const WORKER: HeaderName = HeaderName::from_static("x-mandala-worker");
const SLOTS: HeaderName = HeaderName::from_static("x-mandala-slots");
const US_PER_UNIT: HeaderName = HeaderName::from_static("x-mandala-us-per-unit");
const OVERHEAD_US: HeaderName = HeaderName::from_static("x-mandala-overhead-us");
const LATENESS: HeaderName = HeaderName::from_static("x-mandala-lateness");

/// Weight of a new lateness sample: slower, so one outage does not swing it.
const LATENESS_SMOOTHING: f64 = 0.1;

/// Only waits promised at least this long say something about the queue.
const LATENESS_MIN_PROMISE_MS: u64 = 500;

/// The moving averages of one worker instance.
#[derive(Debug)]
pub struct Calibrator {
    id: String,
    slots: u32,
    state: Mutex<Averages>,
}

#[derive(Debug, Clone, Copy)]
struct Averages {
    us_per_unit: f64,
    overhead_us: f64,
    samples: u64,
    lateness: f64,
    lateness_samples: u64,
}

impl Calibrator {
    /// Starts from the model's own scale (a unit is a µs on the fitting
    /// machine) until the first job is measured.
    pub fn new(id: String, slots: u32) -> Calibrator {
        Calibrator {
            id,
            slots,
            state: Mutex::new(Averages {
                us_per_unit: 1.0,
                overhead_us: 20_000.0,
                samples: 0,
                lateness: 1.0,
                lateness_samples: 0,
            }),
        }
    }

    /// One rendered job: its predicted `cost`, the microseconds it took in
    /// the renderer, and those it took elsewhere (decode, store, reply).
    pub fn record(&self, cost: u64, render_us: u64, other_us: u64) {
        if cost == 0 {
            return;
        }
        let mut a = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        a.samples += 1;
        // The first samples count fully, then settle to the smoothing weight.
        let w = (1.0 / a.samples as f64).max(SMOOTHING);
        let ratio = render_us as f64 / cost as f64;
        a.us_per_unit += w * (ratio - a.us_per_unit);
        a.overhead_us += w * (other_us as f64 - a.overhead_us);
    }

    /// One admitted job delivered: it was promised `promised_ms` after its
    /// admission and arrived `actual_ms` after it.
    pub fn record_wait(&self, promised_ms: u64, actual_ms: u64) {
        if promised_ms < LATENESS_MIN_PROMISE_MS {
            return;
        }
        let mut a = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        a.lateness_samples += 1;
        let w = (1.0 / a.lateness_samples as f64).max(LATENESS_SMOOTHING);
        let ratio = (actual_ms as f64 / promised_ms as f64).clamp(0.1, 10.0);
        a.lateness += w * (ratio - a.lateness);
    }

    pub fn samples(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples
    }

    /// The report as of `now_ms`.
    pub fn stat(&self, now_ms: u64) -> WorkerStat {
        let a = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        WorkerStat {
            id: self.id.clone(),
            slots: self.slots,
            us_per_unit: a.us_per_unit,
            overhead_us: a.overhead_us,
            lateness: a.lateness,
            seen_ms: now_ms,
        }
    }
}

impl WorkerStat {
    /// The report as response headers.
    pub fn to_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let value = |s: String| HeaderValue::from_str(&s).ok();
        [
            (WORKER, value(self.id.clone())),
            (SLOTS, value(self.slots.to_string())),
            (US_PER_UNIT, value(format!("{:.6}", self.us_per_unit))),
            (OVERHEAD_US, value(format!("{:.0}", self.overhead_us))),
            (LATENESS, value(format!("{:.3}", self.lateness))),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
    }

    /// Reads a report from response headers; `None` unless all are there
    /// and sane (the response may come from anything at that URL).
    pub fn from_headers(headers: &HeaderMap, now_ms: u64) -> Option<WorkerStat> {
        let text = |k: &HeaderName| headers.get(k)?.to_str().ok();
        let id = text(&WORKER)?;
        let slots: u32 = text(&SLOTS)?.parse().ok()?;
        let us_per_unit: f64 = text(&US_PER_UNIT)?.parse().ok()?;
        let overhead_us: f64 = text(&OVERHEAD_US)?.parse().ok()?;
        // Older workers do not send it: no correction.
        let lateness: f64 = text(&LATENESS).map_or(Some(1.0), |l| l.parse().ok())?;
        let sane = !id.is_empty()
            && id.len() <= 64
            && (1..=4096).contains(&slots)
            && us_per_unit.is_finite()
            && us_per_unit > 0.0
            && overhead_us.is_finite()
            && overhead_us >= 0.0
            && lateness.is_finite()
            && lateness > 0.0;
        sane.then(|| WorkerStat {
            id: id.to_owned(),
            slots,
            us_per_unit,
            overhead_us,
            lateness,
            seen_ms: now_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_follow_the_measurements() {
        let c = Calibrator::new("w1".into(), 2);
        c.record(1_000, 3_000, 10_000);
        assert!(
            (c.stat(0).us_per_unit - 3.0).abs() < 1e-9,
            "first sample counts fully"
        );
        for _ in 0..60 {
            c.record(1_000, 2_000, 10_000);
        }
        let s = c.stat(5);
        assert!((s.us_per_unit - 2.0).abs() < 0.01, "{}", s.us_per_unit);
        assert_eq!((s.slots, s.seen_ms), (2, 5));
    }

    #[test]
    fn headers_round_trip_and_nonsense_is_ignored() {
        let c = Calibrator::new("w1".into(), 3);
        c.record(100, 250, 4_000);
        let mut h = HeaderMap::new();
        for (k, v) in c.stat(1).to_headers() {
            h.insert(k, v);
        }
        let back = WorkerStat::from_headers(&h, 9).unwrap();
        assert_eq!((back.id.as_str(), back.slots, back.seen_ms), ("w1", 3, 9));
        assert!((back.us_per_unit - 2.5).abs() < 1e-6);
        h.insert(US_PER_UNIT, HeaderValue::from_static("-1"));
        assert_eq!(WorkerStat::from_headers(&h, 9), None);
        assert_eq!(WorkerStat::from_headers(&HeaderMap::new(), 9), None);
    }
}
