//! The whole bot on one machine: the in-process stack behind `mandala dev`
//! and the end-to-end tests, the playground page, the development key, and
//! the client that signs interactions the way Discord does.
//!
//! - [`stack`]: starts ingress, worker, Discord stand-in and playground.
//! - [`playground`]: the page at `/` and its JSON API.
//! - [`client`]: builds, signs and sends interactions.
//! - [`keys`]: the development key pair under `.mandala/`.
//! - [`emulators`]: topic, subscription and bucket set-up in emulators.
//! - [`store`]: where rendered images end up, shared by the stack and the
//!   playground.

pub mod client;
pub mod emulators;
pub mod keys;
pub mod playground;
pub mod stack;
pub mod store;

pub use stack::{DevOptions, DevStack, Topology};
pub use store::StoreLocation;

/// Development application id used when no real application is configured.
pub const DEV_APPLICATION_ID: &str = "1000000000000000001";
