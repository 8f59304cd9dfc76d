//! Where the render stage's reply jobs go: a Pub/Sub topic, or on one
//! machine the local push delivery to the replier ([`ReplyPublisher`]).

use std::collections::BTreeMap;
use std::time::Duration;

use mandala_model::ReplyJob;
use mandala_queue::PublishError;
use mandala_queue::local::{LocalPush, LocalPushConfig, REPLY_SUBSCRIPTION};
use mandala_queue::pubsub::PubsubPublisher;

use crate::config::{Config, Replies};

/// Where reply jobs go.
#[derive(Debug)]
pub enum ReplyPublisher {
    Pubsub(PubsubPublisher),
    Local(LocalPush<ReplyJob>),
}

/// Local reply delivery: messages held at most, and POSTs in flight.
const LOCAL_CAPACITY: usize = 1024;
const LOCAL_CONCURRENCY: usize = 8;

impl ReplyPublisher {
    /// The publisher the configuration asks for (render role only).
    pub fn start(config: &Config) -> Result<Option<ReplyPublisher>, crate::StartError> {
        Ok(match config.replies()? {
            None => None,
            Some(Replies::Pubsub {
                topic,
                emulator_host,
            }) => Some(ReplyPublisher::Pubsub(PubsubPublisher::start(
                topic,
                emulator_host,
            ))),
            Some(Replies::Local { url, dead_letter }) => {
                Some(ReplyPublisher::Local(LocalPush::start(
                    LocalPushConfig {
                        url,
                        subscription: REPLY_SUBSCRIPTION.to_owned(),
                        in_process: None,
                        tell_on_shutdown: false,
                        dead_letter_url: dead_letter,
                        max_attempts: config.local_reply_max_attempts,
                        dead_letter_file: config.local_reply_dead_letter_file.clone(),
                        spool_file: config.local_reply_spool_file.clone(),
                        capacity: LOCAL_CAPACITY,
                        // Above the replier's job deadline, like an ack deadline.
                        ack_deadline: Duration::from_secs(config.job_deadline_secs + 10),
                        concurrency: LOCAL_CONCURRENCY,
                        min_backoff: Duration::from_millis(config.local_reply_min_backoff_ms),
                        max_backoff: Duration::from_millis(config.local_reply_max_backoff_ms),
                    },
                    // The ingress's local delivery keeps the ledger: a job
                    // leaves it when its render job is acknowledged.
                    None,
                    None,
                )?))
            }
        })
    }

    pub(crate) async fn publish(&self, reply: &ReplyJob) -> Result<String, PublishError> {
        let attributes = BTreeMap::from([
            ("kind".to_owned(), reply.job.kind.as_str().to_owned()),
            ("type".to_owned(), "reply".to_owned()),
        ]);
        // One user's replies in order, as their jobs were.
        let key = reply.job.user().map(str::to_owned);
        match self {
            ReplyPublisher::Pubsub(p) => p.publish(reply.to_json(), attributes, key).await,
            ReplyPublisher::Local(l) => l.publish(reply, attributes, key),
        }
    }

    /// Flushes (Pub/Sub) or spools (local) what is not yet delivered.
    pub async fn shutdown(&self) {
        match self {
            ReplyPublisher::Pubsub(p) => p.shutdown().await,
            ReplyPublisher::Local(l) => l.shutdown().await,
        }
    }
}
