//! Optional suites report whether they ran.
//!
//! Some suites need tools a fresh machine cannot install (the Pub/Sub
//! emulator ships with gcloud) and skip when they are absent. A skip must
//! never be silent: [`report`] prints it to stderr (shown with
//! `--nocapture`) and appends it to `target/mandala-suites.log`, which
//! `.ci/run` prints as its summary after the test run.

use std::io::Write as _;
use std::path::PathBuf;

/// How an optional suite went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    Skipped(String),
}

fn log_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("mandala-suites.log")
}

/// Records the outcome of suite `name`.
pub fn report(name: &str, outcome: &Outcome) {
    let line = match outcome {
        Outcome::Ran => format!("{name}: ran"),
        Outcome::Skipped(why) => format!("{name}: SKIPPED ({why})"),
    };
    eprintln!("==== optional suite {line} ====");
    let path = log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write per line: tests report from parallel threads, and
        // `writeln!` may split a line into several writes that interleave.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// Reports a skip and returns `None`, or passes the value through as ran.
pub fn require<T>(name: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(v) => {
            report(name, &Outcome::Ran);
            Some(v)
        }
        Err(why) => {
            report(name, &Outcome::Skipped(why));
            None
        }
    }
}
