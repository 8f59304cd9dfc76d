//! The worker service: renders pushed jobs (skeleton).

pub mod config;
