//! What the lab measured, summed up.
//!
//! - **Estimate error**: for every queued job with an estimate, the actual
//!   wait (answer to final state) minus what the answer said; median and
//!   90th percentile of its size, in seconds and relative to the wait, and
//!   the median signed error (positive: later than said).
//! - **Light users during the burst**: their waits beside the light job
//!   alone and the burst's own first and last.
//! - **Refusals** by reason, **final states** (image, last word, none),
//!   and **notices** seen.

use std::fmt::Write as _;
use std::time::Duration;

use super::scenario::{Answer, Class, Record};

/// The summary the lab prints and the tests check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub jobs: usize,
    pub queued: usize,
    pub refused_full: usize,
    pub refused_too_long: usize,
    pub other_answers: usize,
    pub images: usize,
    pub last_words: usize,
    /// Queued jobs with no final state within the timeout.
    pub unfinished: usize,
    pub notices: usize,
    /// |actual − told| in seconds: median, p90.
    pub error_abs_s: (f64, f64),
    /// |actual − told| / actual: median, p90.
    pub error_rel: (f64, f64),
    /// Median of actual − told, seconds (positive: later than said).
    pub error_bias_s: f64,
    /// The same, for jobs that waited 2 s or more (where a wrong estimate
    /// is felt): count, |error| median and p90 in seconds, relative median
    /// and p90.
    pub long_waits: usize,
    pub long_error_abs_s: (f64, f64),
    pub long_error_rel: (f64, f64),
    pub light_alone_s: Option<f64>,
    pub heavy_alone_s: Option<f64>,
    /// The light users' waits during the burst, seconds.
    pub light_during_burst_s: Vec<f64>,
    /// The burst's first and last waits, seconds.
    pub burst_first_last_s: Option<(f64, f64)>,
    /// How many of the burst's images arrived before the last light user's.
    pub burst_images_before_last_light: usize,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median_p90(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

/// Sums up `records`.
pub fn summarize(records: &[Record]) -> Summary {
    let queued: Vec<&Record> = records.iter().filter(|r| r.queued()).collect();
    // (signed error, relative error, actual wait), seconds.
    let errors: Vec<(f64, f64, f64)> = queued
        .iter()
        .filter_map(|r| {
            let (told, actual) = (r.told()?, r.wait()?);
            let e = secs(actual) - secs(told);
            Some((e, e.abs() / secs(actual).max(0.001), secs(actual)))
        })
        .collect();
    let long: Vec<&(f64, f64, f64)> = errors.iter().filter(|e| e.2 >= 2.0).collect();
    let alone = |heavy: bool| {
        records
            .iter()
            .find(|r| r.class == Class::Alone && r.heavy == heavy)
            .and_then(Record::wait)
            .map(secs)
    };
    let of = |class: Class| -> Vec<&Record> {
        queued
            .iter()
            .copied()
            .filter(|r| r.class == class)
            .collect()
    };
    let burst = of(Class::Burst);
    let lights = of(Class::Light);
    let last_light = lights.iter().filter_map(|r| r.final_ms).max();
    Summary {
        jobs: records.len(),
        queued: queued.len(),
        refused_full: records.iter().filter(|r| r.answer == Answer::Full).count(),
        refused_too_long: records
            .iter()
            .filter(|r| r.answer == Answer::TooLong)
            .count(),
        other_answers: records
            .iter()
            .filter(|r| matches!(r.answer, Answer::Other(_)))
            .count(),
        images: queued.iter().filter(|r| r.image).count(),
        last_words: queued
            .iter()
            .filter(|r| r.final_ms.is_some() && !r.image)
            .count(),
        unfinished: queued.iter().filter(|r| r.final_ms.is_none()).count(),
        notices: records.iter().filter(|r| r.noticed).count(),
        error_abs_s: median_p90(errors.iter().map(|e| e.0.abs()).collect()),
        error_rel: median_p90(errors.iter().map(|e| e.1).collect()),
        error_bias_s: median_p90(errors.iter().map(|e| e.0).collect()).0,
        long_waits: long.len(),
        long_error_abs_s: median_p90(long.iter().map(|e| e.0.abs()).collect()),
        long_error_rel: median_p90(long.iter().map(|e| e.1).collect()),
        light_alone_s: alone(false),
        heavy_alone_s: alone(true),
        light_during_burst_s: lights.iter().filter_map(|r| r.wait()).map(secs).collect(),
        burst_first_last_s: burst
            .first()
            .and_then(|f| Some((secs(f.wait()?), secs(burst.last()?.wait()?)))),
        burst_images_before_last_light: last_light.map_or(0, |l| {
            burst
                .iter()
                .filter(|r| r.final_ms.is_some_and(|f| f < l))
                .count()
        }),
    }
}

/// The summary as the lines docs/BENCHMARKS.md quotes.
pub fn render(title: &str, s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {title}");
    let _ = writeln!(
        out,
        "- jobs {} · queued {} · refused: user queue full {}, too long {} · other answers {}",
        s.jobs, s.queued, s.refused_full, s.refused_too_long, s.other_answers
    );
    let _ = writeln!(
        out,
        "- final states: {} images, {} last words, {} unfinished · waiting notices {}",
        s.images, s.last_words, s.unfinished, s.notices
    );
    let _ = writeln!(
        out,
        "- estimate error |actual − told|: median {:.2} s, p90 {:.2} s; relative median {:.0}%, p90 {:.0}%; bias (median actual − told) {:+.2} s",
        s.error_abs_s.0,
        s.error_abs_s.1,
        s.error_rel.0 * 100.0,
        s.error_rel.1 * 100.0,
        s.error_bias_s
    );
    let _ = writeln!(
        out,
        "- … for the {} jobs that waited 2 s or more: median {:.2} s, p90 {:.2} s; relative median {:.0}%, p90 {:.0}%",
        s.long_waits,
        s.long_error_abs_s.0,
        s.long_error_abs_s.1,
        s.long_error_rel.0 * 100.0,
        s.long_error_rel.1 * 100.0
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |x| format!("{x:.2} s"));
    let _ = writeln!(
        out,
        "- alone: light {}, heavy {}",
        fmt(s.light_alone_s),
        fmt(s.heavy_alone_s)
    );
    let lights: Vec<String> = s
        .light_during_burst_s
        .iter()
        .map(|w| format!("{w:.2} s"))
        .collect();
    let _ = writeln!(
        out,
        "- during the burst: light users waited {} · the burst's first {}, last {} · burst images before the last light user's: {}",
        lights.join(", "),
        fmt(s.burst_first_last_s.map(|b| b.0)),
        fmt(s.burst_first_last_s.map(|b| b.1)),
        s.burst_images_before_last_light
    );
    out
}
