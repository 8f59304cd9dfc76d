//! Emulator harnesses for tests (not built yet).
pub mod pubsub;
