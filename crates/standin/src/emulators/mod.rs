//! Emulator harnesses for tests: each starts its emulator on a free
//! loopback port, waits until it answers, offers the few calls tests need,
//! and kills the process on drop. `start` returns `Err(reason)` when the
//! emulator cannot run here, for a loud skip through [`crate::suites`].
//!
//! - [`pubsub`]: the official Pub/Sub emulator that ships with gcloud (needs Java).
//! - [`gcs`]: `gcp-storage-emulator` from PyPI (installed into `.venv/` by `.ci/run`).

pub mod gcs;
pub mod pubsub;
