//! Emulator harnesses for tests (not built yet).
pub mod gcs;
pub mod pubsub;
