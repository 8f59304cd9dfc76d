//! Answering an interaction with its finished image, inside Discord's
//! 3-second window.
//!
//! Only a process that renders can do this: in the single-service design
//! the worker shares the ingress's process, and a small render takes a few
//! milliseconds. Before a job is queued, the ingress offers it to the
//! [`crate::InlineAnswer`] the worker gave it; if the worker rendered it
//! and Discord took the image as the interaction's response (its callback
//! endpoint carries files; the ingress then answers Discord's request 202
//! with no body, as Discord asks), the job is done. Otherwise it is queued
//! as usual and the user sees the estimate first.

use std::time::Duration;

/// How long an inline answer may take, from the moment the job was
/// admitted: Discord's whole window is 3 s, and the fallback (queueing and
/// answering with the estimate) must still fit.
pub const BUDGET: Duration = Duration::from_millis(1800);
