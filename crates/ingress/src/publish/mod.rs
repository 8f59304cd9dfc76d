//! Getting a job to the worker: the [`JobPublisher`] and its two back ends.
//!
//! - [`pubsub`]: Google Cloud Pub/Sub through the official client (Cloud
//!   Run, or the emulator).
//! - [`local`]: an in-process stand-in for a push subscription that POSTs
//!   push envelopes to a URL, with the same retry and dead-letter semantics
//!   (for running the whole bot on one machine).
//!
//! Both take the job and its attributes and return once the job is safely
//! handed over: accepted by Pub/Sub, or queued in memory (and spooled to disk
//! on shutdown) by the local delivery.

pub mod local;
pub mod pubsub;

use std::collections::BTreeMap;

use mandala_model::Job;

/// Where jobs go.
#[derive(Debug)]
pub enum JobPublisher {
    Pubsub(pubsub::PubsubPublisher),
    Local(local::LocalPush),
}

/// Why a job could not be handed over. The user is asked to try again.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("local delivery queue is full ({0} messages awaiting delivery)")]
    QueueFull(usize),
    #[error("the publisher is shutting down")]
    ShuttingDown,
    #[error("could not create the Pub/Sub publisher: {0}")]
    Client(String),
    #[error("Pub/Sub publish failed: {0}")]
    Publish(String),
    #[error("publishing took longer than the {0:?} budget")]
    TooSlow(std::time::Duration),
}

/// The ordering key of a job: its user's id. Pub/Sub (with ordering on the
/// subscription) and the local delivery then hand out one job per user at
/// a time, users in turn. Manual jobs have none and go out in any order.
pub fn ordering_key(job: &Job) -> Option<String> {
    job.user().map(str::to_owned)
}

/// The attributes every job message carries, for filtering and tracing
/// without decoding the body.
///
/// No spec hash: naming the object means serializing the resolved spec
/// (four of them for a grid), which measured 12% of the ingress's CPU per
/// `/mandala`; the worker computes it anyway and logs it with the job's
/// interaction id, which is here.
pub fn attributes(job: &Job, interaction_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kind".to_owned(), job.kind.as_str().to_owned()),
        ("interaction_id".to_owned(), interaction_id.to_owned()),
        ("source".to_owned(), "discord".to_owned()),
    ])
}

impl JobPublisher {
    /// Publishes one job; returns its message id.
    pub async fn publish(
        &self,
        job: &Job,
        attributes: BTreeMap<String, String>,
    ) -> Result<String, PublishError> {
        let key = ordering_key(job);
        match self {
            JobPublisher::Pubsub(p) => p.publish(job, attributes, key).await,
            JobPublisher::Local(l) => l.publish(job, attributes, key),
        }
    }

    /// Publishes one job, giving up after `budget` (the caller still has to
    /// answer Discord in time). Queueing locally never waits, so only
    /// Pub/Sub is raced against the clock.
    pub async fn publish_within(
        &self,
        budget: std::time::Duration,
        job: &Job,
        attributes: BTreeMap<String, String>,
    ) -> Result<String, PublishError> {
        let key = ordering_key(job);
        match self {
            JobPublisher::Pubsub(p) => {
                tokio::time::timeout(budget, p.publish(job, attributes, key))
                    .await
                    .unwrap_or(Err(PublishError::TooSlow(budget)))
            }
            JobPublisher::Local(l) => l.publish(job, attributes, key),
        }
    }

    /// Flushes what is buffered; the local delivery spools what it could not deliver.
    pub async fn shutdown(&self) {
        match self {
            JobPublisher::Pubsub(p) => p.shutdown().await,
            JobPublisher::Local(l) => l.shutdown().await,
        }
    }
}
