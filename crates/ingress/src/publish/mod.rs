//! Getting a job to the worker: the [`JobPublisher`] and its back ends.
//!
//! - [`pubsub`]: Google Cloud Pub/Sub through the official client (Cloud
//!   Run, or the emulator).
//! - [`tasks`]: a Cloud Tasks queue through the official client (Cloud Run,
//!   or the local twin in `mandala-standin`): one named task per
//!   interaction.
//! - [`local`]: an in-process stand-in for a push subscription that POSTs
//!   push envelopes to a URL (or hands them to a router in this process),
//!   with the same retry and dead-letter semantics (for running the whole
//!   bot on one machine, and for the single-service design).
//!
//! All take the job and its attributes and return once the job is safely
//! handed over: accepted by Pub/Sub or Cloud Tasks, or queued in memory (and
//! spooled to disk on shutdown) by the local delivery.
//!
//! The Pub/Sub publisher and the local delivery carry any [`Payload`]: the
//! worker's render stage reuses them for the reply jobs of the split design.

pub mod local;
pub mod pubsub;
pub mod tasks;

use std::collections::BTreeMap;

use mandala_model::{Job, ReplyJob};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where jobs go.
#[derive(Debug)]
pub enum JobPublisher {
    Pubsub(pubsub::PubsubPublisher),
    Local(local::LocalPush<Job>),
    CloudTasks(tasks::TasksPublisher),
}

/// A message body a publisher carries: a [`Job`], or a [`ReplyJob`] (which
/// holds the job it answers). The job inside gives the queue ledger its
/// entry and the delivery its ordering key.
pub trait Payload:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The job this message is about.
    fn job(&self) -> &Job;
    /// The message body as published.
    fn to_data(&self) -> Vec<u8>;
}

impl Payload for Job {
    fn job(&self) -> &Job {
        self
    }

    fn to_data(&self) -> Vec<u8> {
        self.to_json()
    }
}

impl Payload for ReplyJob {
    fn job(&self) -> &Job {
        &self.job
    }

    fn to_data(&self) -> Vec<u8> {
        self.to_json()
    }
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
    #[error("could not create the Cloud Tasks client: {0}")]
    TasksClient(String),
    #[error("creating the task failed: {0}")]
    Task(String),
}

/// The ordering key of a job: its user's id. Pub/Sub (with ordering on the
/// subscription) and the local delivery then hand out one job per user at
/// a time, users in turn. Manual jobs have none and go out in any order.
pub fn ordering_key(job: &Job) -> Option<String> {
    job.user().map(str::to_owned)
}

tokio::task_local! {
    /// The trace id (32 hex digits) of the request being answered: the
    /// interactions handler sets it around each request, and the job it
    /// queues carries it to the worker ([`attributes`]).
    static REQUEST_TRACE: Option<String>;
}

/// Runs `f` (the handling of one request) with `trace` as the trace its
/// jobs carry.
pub async fn with_request_trace<F: std::future::Future>(trace: Option<String>, f: F) -> F::Output {
    REQUEST_TRACE.scope(trace, f).await
}

/// The trace id of the request being answered, if any.
pub fn request_trace() -> Option<String> {
    REQUEST_TRACE.try_with(Clone::clone).ok().flatten()
}

/// The attributes every job message carries, for filtering and tracing
/// without decoding the body: with the request's trace id
/// ([`mandala_service::trace::TRACE_ATTRIBUTE`]), so that the worker's job
/// line joins the interaction's in Cloud Logging.
///
/// No spec hash: naming the object means serializing the resolved spec
/// (four of them for a grid), which measured 12% of the ingress's CPU per
/// `/mandala`; the worker computes it anyway and logs it with the job's
/// interaction id, which is here.
pub fn attributes(job: &Job, interaction_id: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::from([
        ("kind".to_owned(), job.kind.as_str().to_owned()),
        ("interaction_id".to_owned(), interaction_id.to_owned()),
        ("source".to_owned(), "discord".to_owned()),
    ]);
    if let Some(trace) = request_trace() {
        attributes.insert(mandala_service::trace::TRACE_ATTRIBUTE.to_owned(), trace);
    }
    attributes
}

/// The trace id among a job's attributes (for a Cloud Tasks header).
fn carried_trace(attributes: &BTreeMap<String, String>) -> Option<&str> {
    attributes
        .get(mandala_service::trace::TRACE_ATTRIBUTE)
        .map(String::as_str)
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
            JobPublisher::Pubsub(p) => p.publish(job.to_json(), attributes, key).await,
            JobPublisher::Local(l) => l.publish(job, attributes, key),
            JobPublisher::CloudTasks(t) => t.publish(job, carried_trace(&attributes)).await,
        }
    }

    /// Publishes one job, giving up after `budget` (the caller still has to
    /// answer Discord in time). Queueing locally never waits, so only
    /// Pub/Sub and Cloud Tasks are raced against the clock.
    pub async fn publish_within(
        &self,
        budget: std::time::Duration,
        job: &Job,
        attributes: BTreeMap<String, String>,
    ) -> Result<String, PublishError> {
        let key = ordering_key(job);
        match self {
            JobPublisher::Pubsub(p) => {
                tokio::time::timeout(budget, p.publish(job.to_json(), attributes, key))
                    .await
                    .unwrap_or(Err(PublishError::TooSlow(budget)))
            }
            JobPublisher::Local(l) => l.publish(job, attributes, key),
            JobPublisher::CloudTasks(t) => {
                tokio::time::timeout(budget, t.publish(job, carried_trace(&attributes)))
                    .await
                    .unwrap_or(Err(PublishError::TooSlow(budget)))
            }
        }
    }

    /// Messages queued here and not yet acknowledged (local delivery only;
    /// the cloud back ends hold nothing).
    pub fn unacked(&self) -> usize {
        match self {
            JobPublisher::Local(l) => l.unacked(),
            JobPublisher::Pubsub(_) | JobPublisher::CloudTasks(_) => 0,
        }
    }

    /// Flushes what is buffered; the local delivery spools what it could not deliver.
    pub async fn shutdown(&self) {
        match self {
            JobPublisher::Pubsub(p) => p.shutdown().await,
            JobPublisher::Local(l) => l.shutdown().await,
            JobPublisher::CloudTasks(_) => {}
        }
    }
}
