//! Answering an interaction with its finished image, inside Discord's
//! 3-second window.
//!
//! Only a process that renders can do this: in the single-service design
//! the worker shares the ingress's process, and a small render takes a few
//! milliseconds. Before a job is queued, the ingress offers it to the
//! [`InlineAnswer`] the worker gave it; if the worker rendered it and
//! Discord took the image as the interaction's response (its callback
//! endpoint carries files; the ingress then answers Discord's request 202
//! with no body, as Discord asks), the job is done. Otherwise it is queued
//! as usual and the user sees the estimate first.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mandala_model::Job;

/// How long an inline answer may take, from the moment the job was
/// admitted: Discord's whole window is 3 s, and the fallback (queueing and
/// answering with the estimate) must still fit.
pub const BUDGET: Duration = Duration::from_millis(1800);

/// A worker in this process that can render a job and answer its
/// interaction with the image right away.
pub trait InlineAnswer: Send + Sync {
    /// Renders `job` (the one answering the interaction `interaction_id`)
    /// and sends it as the interaction's response, within `budget`; `true`
    /// if Discord took it. `false` leaves the interaction unanswered, so
    /// the caller queues the job instead.
    fn answer<'a>(
        &'a self,
        job: &'a Job,
        interaction_id: &'a str,
        budget: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}
