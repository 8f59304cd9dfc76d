//! The whole bot on one machine (skeleton while the services land).

pub mod client;
pub mod keys;
