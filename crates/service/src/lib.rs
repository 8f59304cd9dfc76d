//! Run-time plumbing shared by the ingress and the worker services.
//!
//! - [`config`]: the settings both read, defined once and flattened into
//!   each service's configuration: Cloud Run's port, the HTTP server's
//!   limits, Discord's API base, topic and emulator-host checks.
//! - [`server`]: the HTTP server both run, with the limits an outside
//!   client must not be able to lift: connection cap, idle, header and body
//!   timeouts, RFC 9112's `Host` rule, and a bounded drain on shutdown.
//! - [`logging`]: `tracing` set up as JSON in Cloud Logging's format on Cloud
//!   Run (`K_SERVICE` set) and readable text everywhere else, with whatever
//!   came from outside escaped so it cannot forge lines.
//! - [`trace`]: the trace id of an incoming request, from `traceparent` or
//!   `X-Cloud-Trace-Context`, so log lines group under the request in Cloud
//!   Logging.
//! - [`shutdown`]: the future that resolves on SIGTERM (what Cloud Run sends
//!   before stopping an instance) or Ctrl-C.

pub mod config;
pub mod logging;
pub mod server;
pub mod shutdown;
pub mod trace;
