//! What a load test came to ([`Report`]): throughput, latency
//! percentiles, statuses, outcomes and what the sink received.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Outcome;
use super::send::Sample;

pub(super) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    pub url: String,
    pub concurrency: usize,
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
    /// Status code (0 = transport error) → count.
    pub statuses: BTreeMap<u16, usize>,
    /// How the requests ended → count.
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Push deliveries the sink received (warm-up excluded), when it ran.
    pub sink_delivered: Option<u64>,
    /// When the last of those arrived, from the start of the timed run.
    pub sink_last_after: Option<Duration>,
}

impl Report {
    /// The samples of a timed run, before the sink is counted.
    pub(super) fn of(
        url: String,
        concurrency: usize,
        elapsed: Duration,
        samples: &[Sample],
    ) -> Report {
        let mut latencies_us: Vec<u32> = samples.iter().map(|s| s.latency_us).collect();
        latencies_us.sort_unstable();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
        for s in samples {
            *statuses.entry(s.status).or_default() += 1;
            *outcomes.entry(s.outcome).or_default() += 1;
        }
        Report {
            url,
            concurrency,
            elapsed,
            latencies_us,
            statuses,
            outcomes,
            sink_delivered: None,
            sink_last_after: None,
        }
    }

    /// 200s that acknowledged a queued job.
    pub fn queued(&self) -> usize {
        self.outcomes.get(&Outcome::Queued).copied().unwrap_or(0)
    }

    /// The share of requests that failed ([`Outcome::failed`]).
    pub fn failed_share(&self) -> f64 {
        let failed: usize = self
            .outcomes
            .iter()
            .filter(|(o, _)| o.failed())
            .map(|(_, n)| n)
            .sum();
        failed as f64 / self.latencies_us.len().max(1) as f64
    }

    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at percentile `p` (nearest rank), in milliseconds.
    pub fn latency_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} requests to {}, {} concurrent",
            self.latencies_us.len(),
            self.url,
            self.concurrency
        )?;
        writeln!(f, "  duration    {:.3} s", self.elapsed.as_secs_f64())?;
        writeln!(f, "  throughput  {:.0} requests/s", self.throughput())?;
        writeln!(
            f,
            "  latency     p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            self.latency_ms(50.0),
            self.latency_ms(90.0),
            self.latency_ms(99.0),
            self.latency_ms(100.0)
        )?;
        let histogram = self
            .statuses
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("transport error × {n}")
                } else {
                    format!("{s} × {n}")
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
        writeln!(f, "  statuses    {histogram}")?;
        let outcomes = self
            .outcomes
            .iter()
            .map(|(o, n)| format!("{} × {n}", o.label()))
            .collect::<Vec<_>>()
            .join(" · ");
        write!(f, "  outcomes    {outcomes}")?;
        if let Some(n) = self.sink_delivered {
            write!(
                f,
                "\n  sink        {n} push deliveries received (warm-up excluded)"
            )?;
            if let Some(last) = self.sink_last_after.filter(|_| n > 0) {
                write!(
                    f,
                    ", the last {:.3} s after the start: {:.0} jobs/s acknowledged and delivered",
                    last.as_secs_f64(),
                    n as f64 / last.as_secs_f64()
                )?;
            }
        }
        Ok(())
    }
}
