//! Local twins of the external services, so the whole bot runs and is
//! tested on one machine with no cloud account and no Discord application.
//!
//! - [`discord`]: a Discord REST API stand-in that records what the worker
//!   sends and checks it the way Discord would (method, path, multipart
//!   shape, `payload_json`, a decodable image), and can be told to fail.
//! - [`emulators`]: start and stop the official Pub/Sub emulator and the
//!   Cloud Storage emulators (`fake-gcs-server`, `gcp-storage-emulator`)
//!   for tests, or report why they cannot run.
//! - [`tasks`]: a Cloud Tasks twin (named-task deduplication, rate and
//!   concurrency limits, retries with backoff, OIDC-signed dispatches).
//! - [`faults`]: sick dependencies as real listeners (one that hangs, one
//!   that answers 503/429, one that resets) and a TCP proxy whose mode
//!   (pass, delay, hang, reset, divert) changes at run time.
//! - [`raw_http`]: reading answers off raw TCP connections in tests.
//! - [`suites`]: how optional test suites say loudly whether they ran.

pub mod discord;
pub mod emulators;
pub mod faults;
pub mod raw_http;
pub mod suites;
pub mod tasks;
