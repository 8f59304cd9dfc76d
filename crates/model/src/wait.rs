//! How a wait is said to a user: `ready in ~4 s`, `ready in ~2 min`.
//!
//! One number and one unit, read at a glance. Seconds below a minute,
//! whole minutes above; rounded to the nearest, never below one.

use std::time::Duration;

/// `~4 s`, `~2 min`.
pub fn approx(wait: Duration) -> String {
    let secs = wait.as_secs_f64();
    if secs < 59.5 {
        format!("~{} s", secs.round().max(1.0) as u64)
    } else {
        format!("~{} min", (secs / 60.0).round().max(1.0) as u64)
    }
}

/// `ready in ~4 s`.
pub fn ready_in(wait: Duration) -> String {
    format!("ready in {}", approx(wait))
}

/// Reads back what [`approx`] wrote, as the user would: `~2 min` is 120 s.
/// For tests and the load lab, which compare what users were told with
/// what happened.
pub fn parse_approx(text: &str) -> Option<Duration> {
    let rest = text.split('~').nth(1)?;
    let mut words = rest.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_alphabetic())
    {
        "s" => Some(Duration::from_secs(n)),
        "min" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_then_minutes() {
        let s = |ms| approx(Duration::from_millis(ms));
        assert_eq!(s(0), "~1 s");
        assert_eq!(s(400), "~1 s");
        assert_eq!(s(3_600), "~4 s");
        assert_eq!(s(59_000), "~59 s");
        assert_eq!(s(59_600), "~1 min");
        assert_eq!(s(100_000), "~2 min");
        assert_eq!(s(14 * 60_000 + 20_000), "~14 min");
        assert_eq!(ready_in(Duration::from_secs(4)), "ready in ~4 s");
    }

    #[test]
    fn parse_reads_what_approx_writes() {
        for ms in [300, 4_000, 59_000, 61_000, 150_000, 840_000] {
            let said = ready_in(Duration::from_millis(ms));
            let back = parse_approx(&format!("🌀 Rendering · {said} · seed 1")).unwrap();
            assert_eq!(approx(back), approx(Duration::from_millis(ms)), "{said}");
        }
        assert_eq!(parse_approx("no estimate"), None);
    }
}
