//! Emulator harnesses for tests (not built yet).
