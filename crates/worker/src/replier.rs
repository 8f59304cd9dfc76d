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
    self, Failure, JobLog, LAST_WORD_BUDGET, Picture, Smaller, Verdict, ack, post_marker,
    redeliver, tell,
};
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
            .map_err(|e| e.to_string())
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
        Err(e) => return ack("rejected", e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let reply = match ReplyJob::from_json(&delivery.data) {
        Ok(r) => r,
        Err(e) => return ack("rejected", format!("not a reply job: {e}")),
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
                "expired",
                format!("the interaction token expired {seconds_ago} s ago; not replying"),
            );
        }
        Ok(Plan::Nothing) => return ack("stored", "the job asked for no reply"),
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack("rejected", e.to_string()),
    };
    let strings = reply.job.strings();
    // Keep time for the last word after the reply itself.
    let reserve = LAST_WORD_BUDGET.min(shared.job_deadline / 3);
    let result =
        match tokio::time::timeout_at(deadline - reserve, send(shared, &reply, &target, log)).await
        {
            Ok(r) => r,
            Err(_) => Err(Failure::transient(
                format!(
                    "reply deadline of {} s exceeded",
                    shared.job_deadline.as_secs()
                ),
                Why::Slow,
            )),
        };
    match result {
        Ok(verdict) => verdict,
        Err(Failure::Permanent {
            outcome,
            detail,
            ending,
        }) => {
            if let Some(ending) = ending {
                tell(
                    shared,
                    Some(&target),
                    &ending,
                    strings,
                    reply.lease_until_ms,
                    log,
                )
                .await;
            }
            ack(outcome, detail)
        }
        Err(Failure::Transient { detail, why }) => {
            log.reason = Some(why);
            let attempt = delivery.attempt.unwrap_or(0);
            if attempt < shared.max_attempts {
                return redeliver(detail);
            }
            let ending = Ending::GaveUp {
                attempts: attempt,
                why,
            };
            tell(
                shared,
                Some(&target),
                &ending,
                strings,
                reply.lease_until_ms,
                log,
            )
            .await;
            ack(
                "gave-up",
                format!("last delivery attempt ({attempt}): {detail}"),
            )
        }
    }
}

/// Reads the stored image (or its stored preview) and sends the message.
async fn send(
    shared: &Shared,
    reply: &ReplyJob,
    target: &Target,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    let started = Instant::now();
    let drawing = Drawing::resolve(&reply.spec, reply.job.grid).map_err(|e| {
        Failure::permanent(
            "rejected",
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
    let stored = shared
        .store
        .get(&picture.object)
        .await
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
        log,
    )
    .await;
    log.reply_us = Some(reply_started.elapsed().as_micros() as u64);
    sent
}
