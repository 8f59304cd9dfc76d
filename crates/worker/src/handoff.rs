//! The render stage's last step in the split design: hand the finished
//! image to the reply stage.
//!
//! The image is stored under its content hash; the [`ReplyJob`] names it,
//! with everything the message needs, and goes to the reply topic (or, on
//! one machine, through a local push delivery to the replier:
//! [`crate::replies`]). From then on the reply stage owns the Discord edit,
//! its retries and its last word: a Discord 429 or 5xx is retried there and
//! never costs a render here.
//!
//! An image over Discord's upload limit gets its smaller version rendered
//! and stored here too, so the replier never renders. A hand-off that
//! fails is a transient failure of this job: the render job is redelivered,
//! finds its image stored, and hands off again.

use bytes::Bytes;
use mandala_model::{Drawing, Job, RenderSpec, ReplyJob, StoredImage};
use tokio::time::Instant;

use crate::failure::{Cause, Failure};
use crate::image::{self, first_fit};
use crate::joblog::JobLog;
use crate::outcome::Outcome;
use crate::replies::ReplyPublisher;
use crate::reply::last_word::Why;
use crate::reply::message::ATTACHMENT_LIMIT;
use crate::state::{Event, Shared};
use crate::verdict::{Verdict, ack};

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
        Err(e) => Err(Failure::transient(Cause::HandOff(e), Why::Slow)),
    }
}

/// The drawing at a smaller edge that fits Discord's limit, rendered and
/// stored (content-addressed like every image); `None` if nothing does.
/// One that is stored already was stored because it fitted; one whose
/// render fails is passed over for the next smaller.
async fn smaller(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
) -> Result<Option<StoredImage>, Failure> {
    first_fit(drawing, |d: Drawing| async move {
        let name = d.object_name();
        let found = shared
            .store
            .exists(&name)
            .await
            .map_err(|e| Failure::transient(Cause::StoreCheck(e), Why::Store))?;
        if found {
            return Ok(Some(StoredImage {
                object: name,
                content_type: d.format().content_type().to_owned(),
                size: d.size(),
            }));
        }
        let Ok(image) = shared.pool.render(d.clone(), job.user()).await else {
            return Ok(None);
        };
        if image.bytes.len() > ATTACHMENT_LIMIT {
            return Ok(None);
        }
        shared.stats.count(Event::Rendered);
        image::store(shared, &name, &d, &image)
            .await
            .map_err(|e| Failure::transient(Cause::StorePreview(e), Why::Store))?;
        Ok(Some(StoredImage {
            object: name,
            content_type: image.content_type,
            size: d.size(),
        }))
    })
    .await
}
