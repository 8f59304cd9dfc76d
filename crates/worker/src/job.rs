//! One job's delivery, start to finish: the shared start (decode, plan the
//! reply, begin in the ledger: [`crate::start`]), then render and store
//! ([`crate::image`]), then reply ([`crate::send`]) — or, in the render
//! stage of the split design, hand the reply on ([`crate::handoff`]) — or
//! tell the user why not ([`crate::tell`]).
//!
//! Every path ends in a [`Verdict`] ([`crate::verdict`]) and logs exactly
//! one line with its timings and outcome ([`crate::joblog`]). The job's
//! deadline bounds rendering and storing; the Discord send gets what is
//! left of it, and the last word has time kept for it after that.

use mandala_model::clock::now_ms;
use mandala_model::{Drawing, Job, RenderSpec};
use tokio::time::Instant;

use crate::delivery::{Delivery, DeliveryError};
use crate::failure::{Cause, Failure};
use crate::handoff::{self, Finished};
use crate::image::{self, Found, Need};
use crate::joblog::{self, JobLog};
use crate::ledger;
use crate::outcome::Outcome;
use crate::posts;
use crate::reply::last_word::{Ending, Why};
use crate::reply::target::Target;
use crate::send::{self, File, Picture, Smaller};
use crate::start;
use crate::state::Shared;
use crate::tell;
use crate::verdict::{Verdict, ack};

/// Runs the job `delivery` carries (or refuses what it could not read);
/// `deadline` bounds the whole delivery. `trace` is the Cloud Logging trace
/// of the request, if it carried one.
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
    let started = Instant::now();
    let opened = match start::open(shared, delivery, start::decode_job, log).await {
        Ok(o) => o,
        Err(verdict) => return verdict,
    };
    log.decode_us = (started.elapsed().as_micros() as u64).max(1);
    let work = Work {
        job: &opened.message,
        delivery: &opened.delivery,
        target: opened.target.as_ref(),
        lease_until_ms: opened.lease_until_ms,
        by: deadline - tell::reserve(shared.job_deadline),
    };
    let result = produce(shared, work, log).await;
    let attempt = opened.delivery.attempt;
    tell::conclude(shared, result, attempt, opened.recipient(), log).await
}

/// One job's work, and what bounds it.
struct Work<'a> {
    job: &'a Job,
    delivery: &'a Delivery,
    target: Option<&'a Target>,
    lease_until_ms: u64,
    /// Rendering and storing end by then, and every Discord send.
    by: Instant,
}

/// Renders (or finds) the image, stores it and replies (or, in the render
/// stage, hands the reply on).
async fn produce(shared: &Shared, work: Work<'_>, log: &mut JobLog) -> Result<Verdict, Failure> {
    let decode_started = Instant::now();
    // Pub/Sub keeps the message id across redeliveries (and Cloud Tasks the
    // task's), so a job without a seed still means one image however often
    // it arrives.
    let spec = work
        .job
        .spec
        .clone()
        .with_seed_from(work.delivery.message_id.as_bytes());
    let drawing = Drawing::resolve(&spec, work.job.grid).map_err(|e| {
        let words = e.to_string();
        Failure::permanent(
            Outcome::Rejected,
            Cause::InvalidSpec(e),
            Ending::InvalidSpec(words),
        )
    })?;
    let name = drawing.object_name();
    log.spec_hash = drawing.hash().to_string();
    log.location = shared.store.location(&name);
    log.decode_us += decode_started.elapsed().as_micros() as u64;

    let (bytes, content_type) = stored(shared, &work, &drawing, &name, log).await?;
    let Some(target) = work.target else {
        return Ok(ack(
            Outcome::Stored,
            format!("no reply requested; image at {}", log.location),
        ));
    };
    let made = Made {
        spec: &spec,
        drawing: &drawing,
        name: &name,
        bytes,
        content_type,
    };
    let result = match &shared.replies {
        Some(replies) => hand_off(shared, replies, &work, made, log).await,
        None => reply(shared, &work, target, made, log).await,
    };
    calibrate(shared, work.job, &drawing, &result, log);
    result
}

/// The job's image, found or rendered, and stored, by the job's deadline.
async fn stored(
    shared: &Shared,
    work: &Work<'_>,
    drawing: &Drawing,
    name: &str,
    log: &mut JobLog,
) -> Result<Found, Failure> {
    let need = Need {
        bytes: work.target.is_some(),
        render_by_ms: image::render_by_ms(work.job, work.lease_until_ms),
    };
    let got = tokio::time::timeout_at(work.by, async {
        // Identical jobs in flight at once wait for each other here, so the
        // second finds the first's object instead of rendering it again.
        // The lock is released when this block ends, on every path.
        let _lock = shared.lock_object(name).await;
        image::obtain(shared, work.job, drawing, name, need, log).await
    })
    .await;
    got.map_err(|_| Failure::transient(Cause::NotStoredInTime(shared.job_deadline), Why::Slow))?
}

/// The finished image of a job, and what it was made from.
struct Made<'a> {
    /// The user's spec with its seed filled in.
    spec: &'a RenderSpec,
    drawing: &'a Drawing,
    /// Where it is stored.
    name: &'a str,
    bytes: bytes::Bytes,
    content_type: String,
}

/// The render stage's end: the reply job published, by the job's deadline.
async fn hand_off(
    shared: &Shared,
    replies: &crate::replies::ReplyPublisher,
    work: &Work<'_>,
    made: Made<'_>,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    let finished = Finished {
        job: work.job,
        spec: made.spec,
        drawing: made.drawing,
        object: made.name,
        bytes: made.bytes,
        content_type: &made.content_type,
        message_id: &work.delivery.message_id,
        lease_until_ms: work.lease_until_ms,
    };
    let handing = handoff::hand_off(shared, replies, finished, log);
    tokio::time::timeout_at(work.by, handing)
        .await
        .unwrap_or_else(|_| {
            // The reply job may still be published and answered: no final
            // word may follow it.
            Err(Failure::unknown(Cause::NotHandedOffInTime(
                shared.job_deadline,
            )))
        })
}

/// The image sent to `target`, after any waiting notice's lease.
async fn reply(
    shared: &Shared,
    work: &Work<'_>,
    target: &Target,
    made: Made<'_>,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    ledger::wait_out(work.lease_until_ms).await;
    let reply_started = Instant::now();
    let marker = posts::marker(&work.delivery.message_id);
    let picture = Picture {
        job: work.job,
        spec: made.spec,
        drawing: made.drawing,
        file: File {
            bytes: made.bytes,
            content_type: made.content_type,
            note: None,
        },
        smaller: Smaller::Render,
    };
    let sent = send::send(shared, picture, target, &marker, work.by, log).await;
    log.reply_us = Some(reply_started.elapsed().as_micros() as u64);
    sent
}

/// What a finished job teaches this instance about its speed and its
/// promises, for the estimates.
fn calibrate(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    sent: &Result<Verdict, Failure>,
    log: &mut JobLog,
) {
    if let Some(t) = &log.ticket {
        let now = now_ms();
        log.late_ms = Some(now as i64 - t.due_ms as i64);
        // How the promise compares with what happened, for the estimates.
        if let (Ok(Verdict::Ack { .. }), Some(at)) = (sent, job.requested_at) {
            let admitted = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(now);
            shared.calibrator.record_wait(
                t.due_ms.saturating_sub(admitted),
                now.saturating_sub(admitted),
            );
        }
    }
    if let Some(us_total) = log.render_us.zip(log.encode_us).map(|(r, e)| r + e) {
        let other = log.decode_us + log.store_us.unwrap_or(0) + log.reply_us.unwrap_or(0);
        shared.calibrator.record(drawing.cost().0, us_total, other);
        ledger::report_speed(shared);
    }
}
