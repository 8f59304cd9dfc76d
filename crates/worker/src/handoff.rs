//! The render stage's last step in the split design: hand the finished
//! image to the reply stage.
//!
//! The image is stored under its content hash; the [`ReplyJob`] names it,
//! with everything the message needs, and goes to the reply topic (or, on
//! one machine, through a local push delivery to the replier). From then on
//! the reply stage owns the Discord edit, its retries and its last word: a
//! Discord 429 or 5xx is retried there and never costs a render here.
//!
//! An image over Discord's upload limit gets its smaller version rendered
//! and stored here too, so the replier never renders. A hand-off that
//! fails is a transient failure of this job: the render job is redelivered,
//! finds its image stored, and hands off again.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use mandala_model::i18n::fill;
use mandala_model::{Drawing, Job, RenderSpec, ReplyJob, StoredImage};
use mandala_queue::PublishError;
use mandala_queue::local::{LocalPush, LocalPushConfig, REPLY_SUBSCRIPTION};
use mandala_queue::pubsub::PubsubPublisher;
use tokio::time::Instant;

use crate::config::{Config, Replies};
use crate::job::{Failure, JobLog, Verdict, ack};
use crate::outcome::Outcome;
use crate::reply::last_word::Why;
use crate::reply::message::ATTACHMENT_LIMIT;
use crate::state::Shared;
use crate::store::NewObject;

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

    async fn publish(&self, reply: &ReplyJob) -> Result<String, PublishError> {
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

/// A finished image and the job it answers.
pub(crate) struct Finished<'a> {
    pub(crate) job: &'a Job,
    pub(crate) spec: &'a RenderSpec,
    pub(crate) drawing: &'a Drawing,
    /// Where the image is stored.
    pub(crate) object: &'a str,
    pub(crate) bytes: Bytes,
    pub(crate) content_type: &'a str,
    /// The render job's message id (stable across its redeliveries).
    pub(crate) message_id: &'a str,
    pub(crate) lease_until_ms: u64,
}

/// Publishes the reply job for `finished`; acknowledged as handed off.
pub(crate) async fn hand_off(
    shared: &Shared,
    replies: &ReplyPublisher,
    finished: Finished<'_>,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    let started = Instant::now();
    let preview = if finished.bytes.len() > ATTACHMENT_LIMIT {
        smaller(shared, finished.job, finished.drawing).await?
    } else {
        None
    };
    let reply = ReplyJob {
        v: mandala_model::reply_job::REPLY_JOB_VERSION,
        job: finished.job.clone(),
        spec: finished.spec.clone(),
        image: StoredImage {
            object: finished.object.to_owned(),
            content_type: finished.content_type.to_owned(),
            size: finished.drawing.size(),
        },
        preview,
        job_message_id: finished.message_id.to_owned(),
        lease_until_ms: finished.lease_until_ms,
    };
    let published = replies.publish(&reply).await;
    log.reply_us = Some(started.elapsed().as_micros() as u64);
    match published {
        // Counted with the verdict, like every outcome.
        Ok(id) => Ok(ack(Outcome::HandedOff, format!("reply job {id} published"))),
        Err(e) => Err(Failure::transient(
            format!("handing the reply to the reply stage failed: {e}"),
            Why::Slow,
        )),
    }
}

/// The drawing at a smaller edge that fits Discord's limit, rendered and
/// stored (content-addressed like every image); `None` if nothing does.
async fn smaller(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
) -> Result<Option<StoredImage>, Failure> {
    let mut smaller = drawing.halved();
    while let Some(d) = smaller {
        let name = d.object_name();
        let found =
            shared.store.exists(&name).await.map_err(|e| {
                Failure::transient(format!("storage check failed: {e}"), Why::Store)
            })?;
        let image = if found {
            None
        } else {
            shared.pool.render(d.clone(), job.user()).await.ok()
        };
        let fits = match &image {
            Some(i) => i.bytes.len() <= ATTACHMENT_LIMIT,
            // Stored before: it was stored because it fitted.
            None => found,
        };
        if !fits {
            smaller = d.halved();
            continue;
        }
        let content_type = match image {
            Some(i) => {
                shared.stats.count(crate::state::Event::Rendered);
                shared
                    .store
                    .put(NewObject {
                        name: name.clone(),
                        bytes: i.bytes,
                        content_type: i.content_type.clone(),
                        metadata: crate::job::metadata(&d),
                    })
                    .await
                    .map_err(|e| {
                        Failure::transient(format!("storing the preview failed: {e}"), Why::Store)
                    })?;
                i.content_type
            }
            None => d.format().content_type().to_owned(),
        };
        return Ok(Some(StoredImage {
            object: name,
            content_type,
            size: d.size(),
        }));
    }
    Ok(None)
}

/// The caption line for a preview: shown smaller, the full image stored.
pub(crate) fn preview_note(job: &Job, preview: &StoredImage, full: u32, location: &str) -> String {
    fill(
        job.strings().preview_note,
        &[
            ("small", &preview.size.to_string()),
            ("full", &full.to_string()),
            ("location", location),
        ],
    )
}
