//! End-to-end tests that start several components (skeleton).
