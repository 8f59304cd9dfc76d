//! Emulator harnesses for tests: each starts its emulator on a free
//! loopback port, waits until it answers, offers the few calls tests need,
//! and kills the process on drop. `start` returns `Err(reason)` when the
//! emulator cannot run here, for a loud skip through [`crate::suites`].
//!
//! - [`pubsub`]: the official Pub/Sub emulator that ships with gcloud (needs Java).
//! - [`gcs`]: `gcp-storage-emulator` from PyPI (installed into `.venv/` by `.ci/run`).

pub mod gcs;
pub mod pubsub;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// While waiting for an emulator to answer: why to stop waiting (it exited,
/// or `timeout` from the start has passed), or `None` to keep polling.
fn gave_up(
    name: &str,
    child: &mut Child,
    log: &Path,
    started: Instant,
    timeout: Duration,
) -> Option<String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(format!(
            "{name} exited with {status} (log: {})",
            log.display()
        ));
    }
    (started.elapsed() > timeout).then(|| {
        format!(
            "{name} did not become ready in {timeout:?} (log: {})",
            log.display()
        )
    })
}
