//! The reply stage of the split design: one reply job, start to finish.
//!
//! A thin service behind its own push subscription (`WORKER_ROLE=reply`):
//! it reads the image the render stage stored, edits the Discord message
//! and ends the job in the queue ledger. It never renders: a redelivered
//! reply job reads the image again, and an image Discord refuses as too
//! large goes as a link to where it is stored.
//!
//! It owns the last word for reply failures: Discord refusing the message
//! for good, the last delivery attempt failing (429s and 5xx outlasting the
//! retries), and reply jobs that reach its dead-letter route
//! ([`crate::dead_letter`]).

use mandala_model::{Drawing, ReplyJob, StoredImage};
use tokio::time::Instant;

use crate::delivery::{Delivery, DeliveryError};
use crate::failure::{Cause, Failure};
use crate::image;
use crate::joblog::{self, JobLog};
use crate::ledger;
use crate::outcome::Outcome;
use crate::posts;
use crate::reply::last_word::{Ending, Why};
use crate::reply::target::Target;
use crate::send::{self, File, Picture, Smaller};
use crate::start;
use crate::state::Shared;
use crate::store::StoredObject;
use crate::tell;
use crate::verdict::{Verdict, ack};

/// Sends the reply `delivery` carries; `deadline` bounds the delivery.
pub async fn process(
    shared: &Shared,
    delivery: Result<Delivery, DeliveryError>,
    deadline: Instant,
    trace: Option<String>,
) -> Verdict {
    let mut log = JobLog::default();
    let verdict = run(shared, delivery, deadline, &mut log).await;
    joblog::close(shared, &verdict, &log, trace.as_deref()).await;
    verdict
}

async fn run(
    shared: &Shared,
    delivery: Result<Delivery, DeliveryError>,
    deadline: Instant,
    log: &mut JobLog,
) -> Verdict {
    let opened = match start::open(shared, delivery, start::decode_reply_job, log).await {
        Ok(o) => o,
        Err(verdict) => return verdict,
    };
    let Some(target) = &opened.target else {
        // Not reached: a reply job asking for no reply ends at the start.
        return ack(Outcome::Stored, "the job asked for no reply");
    };
    let by = deadline - tell::reserve(shared.job_deadline);
    let result = send(shared, &opened.message, target, by, log).await;
    let attempt = opened.delivery.attempt;
    tell::conclude(shared, result, attempt, opened.recipient(), log).await
}

/// Reads the stored image (or its stored preview) and sends the message,
/// both by `by`.
async fn send(
    shared: &Shared,
    reply: &ReplyJob,
    target: &Target,
    by: Instant,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    let started = Instant::now();
    let drawing = Drawing::resolve(&reply.spec, reply.job.grid).map_err(|e| {
        let words = e.to_string();
        Failure::permanent(
            Outcome::Rejected,
            Cause::InvalidReplySpec(e),
            Ending::InvalidSpec(words),
        )
    })?;
    log.spec_hash = drawing.hash().to_string();
    let (shown, note) = match &reply.preview {
        Some(p) => (
            p,
            Some(image::preview_note(
                reply.job.strings(),
                p.size,
                reply.image.size,
                &log.location,
            )),
        ),
        None => (&reply.image, None),
    };
    let stored = read(shared, shown, by).await?;
    log.store_us = Some(started.elapsed().as_micros() as u64);
    log.cache_hit = Some(true);
    ledger::wait_out(reply.lease_until_ms).await;
    let reply_started = Instant::now();
    let picture = Picture {
        job: &reply.job,
        spec: &reply.spec,
        drawing: &drawing,
        file: File {
            bytes: stored.bytes,
            content_type: shown.content_type.clone(),
            note,
        },
        smaller: Smaller::Link,
    };
    let marker = posts::marker(&reply.job_message_id);
    let sent = send::send(shared, picture, target, &marker, by, log).await;
    log.reply_us = Some(reply_started.elapsed().as_micros() as u64);
    sent
}

/// The stored image, read by `by`.
async fn read(shared: &Shared, image: &StoredImage, by: Instant) -> Result<StoredObject, Failure> {
    let transient = |cause| Failure::transient(cause, Why::Store);
    tokio::time::timeout_at(by, shared.store.get(&image.object))
        .await
        .map_err(|_| transient(Cause::NotReadInTime(shared.job_deadline)))?
        .map_err(|e| transient(Cause::Read(e)))?
        .ok_or_else(|| transient(Cause::NotStored(image.object.clone())))
}
