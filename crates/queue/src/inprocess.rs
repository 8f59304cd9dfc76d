//! A worker in the same process as the ingress (the single-service design,
//! `mandala dev`): what the ingress needs of it, as neither service's own
//! types, so that neither crate depends on the other.
//!
//! - [`InProcess`]: the worker's router and delivery settings, for the
//!   local push delivery to call directly instead of POSTing.
//! - [`InlineAnswer`]: a worker that can render a cheap job and answer its
//!   interaction with the image, inside Discord's 3 s.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mandala_model::Job;

/// The worker in this process, as the local push delivery reaches it.
pub struct InProcess {
    /// Its router: `/pubsub/push` and `/pubsub/dead-letter` are called directly.
    pub worker: axum::Router,
    /// Deliveries before a job is given up (the worker's MAX_DELIVERY_ATTEMPTS).
    pub max_attempts: u32,
    /// How long one delivery may take (above the worker's job deadline).
    pub ack_deadline: Duration,
    /// At shutdown, tell the users of jobs still queued instead of spooling them.
    pub tell_on_shutdown: bool,
}

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
