//! The ingress service: Discord's interactions endpoint (skeleton).

pub mod config;
