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
//! retries), and reply jobs that reach its dead-letter route.

use tokio::time::Instant;

use mandala_model::{Drawing, ReplyJob};

use crate::delivery::Delivery;
use crate::job::{
    self, Failure, JobLog, LAST_WORD_BUDGET, Picture, Settled, Smaller, Unreadable, Verdict, ack,
    post_marker, redeliver, tell,
};
use crate::outcome::Outcome;
use crate::reply::last_word::{Ending, Why};
use crate::reply::target::{self, Plan, Target};
use crate::state::Shared;

/// Sends the reply `delivery` carries; `deadline` bounds the delivery.
pub async fn process(
    shared: &Shared,
    delivery: Result<Delivery, String>,
    deadline: Instant,
    trace: Option<String>,
) -> Verdict {
    let mut log = JobLog::default();
    let verdict = run(shared, delivery, deadline, &mut log).await;
    job::finish(shared, &verdict, &log).await;
    job::record(shared, &verdict, &log, trace.as_deref());
    verdict
}

/// A reply job from the dead-letter subscription: its user is told, once.
pub async fn dead_letter(shared: &Shared, body: &[u8]) -> Verdict {
    job::dead_letter_of(shared, body, |data| {
        ReplyJob::from_json(data)
            .map(|r| r.job)
            .map_err(|e| Box::new((e.to_string(), ReplyJob::salvage(data))))
    })
    .await
}

async fn run(
    shared: &Shared,
    delivery: Result<Delivery, String>,
    deadline: Instant,
    log: &mut JobLog,
) -> Verdict {
    let delivery = match delivery {
        Ok(d) => d,
        Err(e) => return ack(Outcome::Rejected, e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let reply = match ReplyJob::from_json(&delivery.data) {
        Ok(r) => r,
        Err(e) => {
            let newer = ReplyJob::newer(&delivery.data);
            let error = Unreadable {
                error: match &newer {
                    Some(what) => {
                        format!("reply job is from a newer version of the bot: {what} ({e})")
                    }
                    None => format!("not a reply job: {e}"),
                },
                newer: newer.is_some(),
            };
            let salvaged = ReplyJob::salvage(&delivery.data);
            return job::unreadable(shared, &delivery, error, salvaged, log).await;
        }
    };
    log.kind = reply.job.kind.as_str();
    log.ticket.clone_from(&reply.job.ticket);
    log.note_job(&reply.job);
    log.location = shared.store.location(&reply.image.object);
    let planned = target::plan_job(
        &reply.job.reply,
        &shared.api_base,
        &shared.secrets,
        job::now_ms(),
    )
    .await;
    let target = match planned {
        Ok(Plan::Send(t)) => t,
        Ok(Plan::Expired { seconds_ago }) => {
            return ack(
                Outcome::Expired,
                format!("the interaction token expired {seconds_ago} s ago; not replying"),
            );
        }
        Ok(Plan::Nothing) => return ack(Outcome::Stored, "the job asked for no reply"),
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack(Outcome::Rejected, e.to_string()),
    };
    // Keep time for the last word after the reply itself: reading the
    // image ends by then, and every Discord send.
    let reserve = LAST_WORD_BUDGET.min(shared.job_deadline / 3);
    let result = send(shared, &reply, &target, deadline - reserve, log).await;
    match job::settle(shared, result, delivery.attempt, log) {
        Settled::Done(verdict) => verdict,
        Settled::Tell(verdict, ending) => {
            let told = tell(
                shared,
                Some(&target),
                &ending,
                reply.job.strings(),
                reply.lease_until_ms,
                log,
            )
            .await;
            job::with_told(verdict, told)
        }
    }
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
        Failure::permanent(
            Outcome::Rejected,
            format!("invalid spec in the reply job: {e}"),
            Ending::InvalidSpec(e.to_string()),
        )
    })?;
    log.spec_hash = drawing.hash().to_string();
    let (picture, note) = match &reply.preview {
        Some(p) => (
            p,
            Some(crate::handoff::preview_note(
                &reply.job,
                p,
                reply.image.size,
                &log.location,
            )),
        ),
        None => (&reply.image, None),
    };
    let stored = tokio::time::timeout_at(by, shared.store.get(&picture.object))
        .await
        .map_err(|_| {
            Failure::transient(
                format!(
                    "reading the image did not finish within the deadline of {} s",
                    shared.job_deadline.as_secs()
                ),
                Why::Store,
            )
        })?
        .map_err(|e| Failure::transient(format!("reading the image failed: {e}"), Why::Store))?
        .ok_or_else(|| {
            Failure::transient(
                format!("the image {} is not in the store", picture.object),
                Why::Store,
            )
        })?;
    log.store_us = Some(started.elapsed().as_micros() as u64);
    log.cache_hit = Some(true);
    job::wait_out(reply.lease_until_ms).await;
    let reply_started = Instant::now();
    let sent = job::reply(
        shared,
        Picture {
            job: &reply.job,
            spec: &reply.spec,
            drawing: &drawing,
            bytes: stored.bytes,
            content_type: &picture.content_type,
            note,
            smaller: Smaller::Link,
        },
        target,
        &post_marker(&reply.job_message_id),
        by,
        log,
    )
    .await;
    log.reply_us = Some(reply_started.elapsed().as_micros() as u64);
    sent
}
