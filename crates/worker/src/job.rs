//! One delivery, start to finish: decode, check with the ledger, render,
//! store, reply — or tell the user why not.
//!
//! Every path ends in a [`Verdict`]: acknowledge (2xx, Pub/Sub or Cloud
//! Tasks forgets the message) or ask for redelivery (non-2xx). Poison,
//! expired tokens and replies Discord will never accept are acknowledged,
//! because redelivering them helps nobody; storage failures and retryable
//! Discord failures are not — except on the last delivery attempt, when the
//! user is told and the job is let go. Every job a user waits for ends in
//! the image or in a short message saying why not ([`last_word`]). Each job
//! logs exactly one line with its timings and outcome.
//!
//! Before any work, a job is dropped when its user was told to try again
//! (the queue took it after the ingress gave up publishing it:
//! `abandoned`), and refused with its final word when its interaction
//! token would die before the image could be sent (`out-of-time`). A job
//! from a newer build (a rolling upgrade) is redelivered for a newer worker
//! to take, and told on its last attempt.
//!
//! The final word is last, and never replaces an image. The job's deadline
//! bounds rendering and storing; the Discord send gets what is left of it,
//! and a send whose answer never came may have been applied, so nothing is
//! said over it (`reply-unknown` on the last attempt); before any final
//! word the worker looks at the message, and an image already there stays.
//! A channel post is claimed in the store before it is made, so two
//! deliveries of one message never both post ([`claim_post`]).
//!
//! In the render stage of the split design the story ends early: the image
//! is stored and a reply job handed to the reply stage ([`crate::handoff`]),
//! which owns the message from there ([`crate::replier`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use mandala_ledger::Start;
use mandala_model::i18n::{Strings, fill};
use mandala_model::{Drawing, Job, RENDER_VERSION, RenderSpec, Reply, Salvaged, Ticket};
use tokio::time::Instant;

use crate::config::{Design, Via};
use crate::delivery::Delivery;
use crate::outcome::Outcome;
use crate::render::RenderFailure;
use crate::reply::discord::SendError;
use crate::reply::last_word::{self, Ending, Why};
use crate::reply::message::{self, ATTACHMENT_LIMIT};
use crate::reply::target::{self, Plan, Target};
use crate::state::{Event, Shared};
use crate::store::{NewObject, PutOutcome};

/// What a final failure message may take, kept out of the job's deadline.
pub(crate) const LAST_WORD_BUDGET: Duration = Duration::from_secs(8);

/// Worker speed reports go to the ledger at most this often.
const REPORT_EVERY_MS: u64 = 5_000;

/// How much later than the ingress's `publish_by_ms` a queue's publish
/// time may read and still count as in time: the two clocks differ a
/// little. A publish the ingress saw succeed was stamped before it gave up.
const PUBLISH_CLOCK_SLACK_MS: u64 = 250;

/// Kept between the end of a render and the death of the interaction
/// token: the upload, and a final word should it fail.
const TOKEN_MARGIN_MS: u64 = 15_000;

/// How many times a channel post may be claimed and fail for sure before
/// the job stops trying.
const MAX_POST_CLAIMS: u32 = 16;

/// How a push ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done, or never doable.
    Ack { outcome: Outcome, detail: String },
    /// Non-2xx: Pub/Sub should redeliver later.
    Redeliver { status: StatusCode, detail: String },
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// The fields of the one log line.
#[derive(Debug, Default)]
pub(crate) struct JobLog {
    pub(crate) message_id: String,
    pub(crate) attempt: Option<u32>,
    pub(crate) kind: &'static str,
    pub(crate) spec_hash: String,
    pub(crate) cache_hit: Option<bool>,
    pub(crate) decode_us: u64,
    pub(crate) queue_us: u64,
    pub(crate) render_us: Option<u64>,
    pub(crate) encode_us: Option<u64>,
    pub(crate) store_us: Option<u64>,
    pub(crate) reply_us: Option<u64>,
    pub(crate) reply_attempts: u32,
    pub(crate) location: String,
    /// The ledger's record of the job, when the ingress admitted it.
    pub(crate) ticket: Option<Ticket>,
    /// How much later than promised the image arrived (negative: earlier).
    pub(crate) late_ms: Option<i64>,
    /// The final failure message went out.
    pub(crate) told: bool,
    /// The interaction the job answers, as the ingress's line names it.
    pub(crate) interaction_id: Option<String>,
    /// Who asked, as [`mandala_service::logging::user_hash`].
    pub(crate) user: Option<String>,
    /// The design the job ran in.
    pub(crate) design: Option<Design>,
    /// The ingress's trace, carried with the job (Cloud Logging's form).
    pub(crate) trace: Option<String>,
    /// What kept failing, for a job redelivered or given up.
    pub(crate) reason: Option<Why>,
    /// It came from the dead-letter subscription.
    pub(crate) dead_letter: bool,
}

impl JobLog {
    /// What the line says about the job: its interaction and user.
    pub(crate) fn note_job(&mut self, job: &Job) {
        if let mandala_model::Reply::Interaction(i) = &job.reply {
            self.interaction_id = Some(i.interaction_id.clone());
        }
        self.user = job.user().map(mandala_service::logging::user_hash);
    }

    /// [`JobLog::note_job`] for a job read only in part.
    pub(crate) fn note_salvaged(&mut self, job: &Salvaged) {
        if let mandala_model::Reply::Interaction(i) = &job.reply {
            self.interaction_id = Some(i.interaction_id.clone());
        }
        self.user = job
            .ticket
            .as_ref()
            .map(|t| mandala_service::logging::user_hash(&t.user));
    }

    /// What the line says about the delivery: the trace it carried and
    /// the design its arrival implies.
    pub(crate) fn note_delivery(&mut self, delivery: &Delivery, role: crate::config::Role) {
        self.trace = delivery
            .trace_id
            .as_deref()
            .map(mandala_service::logging::cloud_trace);
        self.design = Some(Design::of(role, delivery.via));
    }
}

/// `Why` as the job line's `reason`.
fn reason(why: Why) -> &'static str {
    match why {
        Why::Store => "store",
        Why::Discord => "discord",
        Why::Slow => "slow",
        Why::Upgrade => "upgrade",
    }
}

/// Why a job cannot end in its image now.
pub(crate) enum Failure {
    /// Will never work: tell the user (unless the message itself is gone),
    /// acknowledge.
    Permanent {
        outcome: Outcome,
        detail: String,
        ending: Option<Ending>,
    },
    /// May work later: redeliver, unless this was the last attempt.
    Transient { detail: String, why: Why },
    /// The reply may have been delivered (a send whose answer never came, a
    /// channel post another delivery began): nothing may be said over it.
    /// Redeliver while attempts remain (an edit is idempotent; a claimed
    /// post is looked at again), then let go without a word.
    Unknown { detail: String },
}

impl Failure {
    pub(crate) fn permanent(
        outcome: Outcome,
        detail: impl Into<String>,
        ending: Ending,
    ) -> Failure {
        Failure::Permanent {
            outcome,
            detail: detail.into(),
            ending: Some(ending),
        }
    }

    pub(crate) fn transient(detail: impl Into<String>, why: Why) -> Failure {
        Failure::Transient {
            detail: detail.into(),
            why,
        }
    }
}

/// Runs the job `delivery` carries (or refuses what it could not read);
/// `deadline` bounds the whole delivery. `trace` is the Cloud Logging trace
/// of the request, if it carried one.
pub async fn process(
    shared: &Shared,
    delivery: Result<Delivery, String>,
    deadline: Instant,
    trace: Option<String>,
) -> Verdict {
    let mut log = JobLog::default();
    let verdict = run(shared, delivery, deadline, &mut log).await;
    finish(shared, &verdict, &log).await;
    record(shared, &verdict, &log, trace.as_deref());
    verdict
}

/// An acknowledged job has ended: it leaves the ledger. (A job handed to
/// the reply stage has not: the reply stage ends it.)
pub(crate) async fn finish(shared: &Shared, verdict: &Verdict, log: &JobLog) {
    let (Verdict::Ack { outcome, .. }, Some(ledger), Some(t)) =
        (verdict, &shared.ledger, &log.ticket)
    else {
        return;
    };
    if *outcome == Outcome::HandedOff {
        return;
    }
    if let Err(e) = ledger.end(t, now_ms()).await {
        tracing::warn!(error = %e, job = %t.job, "could not remove an ended job from the ledger");
    }
}

/// Counts the job and writes its one log line.
pub(crate) fn record(shared: &Shared, verdict: &Verdict, log: &JobLog, trace: Option<&str>) {
    let counters = &shared.stats;
    counters.add_timings(&crate::state::JobTimings {
        decode_us: log.decode_us,
        queue_us: log.queue_us,
        render_us: log.render_us,
        encode_us: log.encode_us,
        store_us: log.store_us,
        reply_us: log.reply_us,
    });
    if log.told {
        counters.count(Event::Told);
    }
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    let (outcome, detail) = match verdict {
        Verdict::Ack { outcome, detail } => (*outcome, detail.as_str()),
        Verdict::Redeliver { detail, .. } => (Outcome::Redeliver, detail.as_str()),
    };
    counters.count(Event::Ended(outcome));
    let error_group = outcome.is_error().then(|| format!("job {outcome}"));
    // The carried trace joins the ingress's line; the push's own is the fallback.
    let trace = log.trace.as_deref().or(trace);
    let design = log.design.or_else(|| Design::of_role(shared.role));
    macro_rules! line {
        ($lvl:ident) => {
            tracing::$lvl!(
                message_id = %log.message_id,
                delivery_attempt = log.attempt,
                kind = log.kind,
                spec_hash = %log.spec_hash,
                cache_hit = log.cache_hit,
                decode_ms = log.decode_us as f64 / 1000.0,
                queue_ms = log.queue_us as f64 / 1000.0,
                render_ms = ms(log.render_us),
                encode_ms = ms(log.encode_us),
                store_ms = ms(log.store_us),
                reply_ms = ms(log.reply_us),
                reply_attempts = log.reply_attempts,
                late_ms = log.late_ms,
                told_user = log.told,
                object = %log.location,
                outcome = outcome.as_str(),
                interaction_id = log.interaction_id.as_deref(),
                user = log.user.as_deref(),
                design = design.map(Design::as_str),
                reason = log.reason.map(reason),
                dead_letter = log.dead_letter.then_some(true),
                error_group = error_group.as_deref(),
                "logging.googleapis.com/trace" = trace,
                "job {outcome}: {detail}"
            )
        };
    }
    match outcome.level() {
        tracing::Level::ERROR => line!(error),
        tracing::Level::WARN => line!(warn),
        _ => line!(info),
    }
}

pub(crate) fn ack(outcome: Outcome, detail: impl Into<String>) -> Verdict {
    Verdict::Ack {
        outcome,
        detail: detail.into(),
    }
}

pub(crate) fn redeliver(detail: impl Into<String>) -> Verdict {
    Verdict::Redeliver {
        status: StatusCode::SERVICE_UNAVAILABLE,
        detail: detail.into(),
    }
}

/// What the ledger says about going on with an admitted job.
enum Go {
    /// Go on; a waiting notice holds the message until this time (ms).
    Yes { lease_until_ms: u64 },
    /// Its entry is gone: the ingress cancelled it (the user was told to
    /// try again), so it must not be rendered.
    Cancelled,
}

/// Marks the job started in the ledger; a job a Cloud Tasks dispatch
/// delivers is marked for the stall watchdog too ([`Shared::ledger_for`]).
async fn begin(shared: &Shared, ticket: Option<&Ticket>, via: Via) -> Go {
    let (Some(ledger), Some(t)) = (shared.ledger_for(via), ticket) else {
        return Go::Yes { lease_until_ms: 0 };
    };
    match ledger.start(t, now_ms()).await {
        Ok(Start::Running { lease_until_ms }) => Go::Yes { lease_until_ms },
        Ok(Start::Missing) => Go::Cancelled,
        Err(e) => {
            // A ledger outage must not stop rendering.
            tracing::warn!(error = %e, job = %t.job, "queue ledger unavailable: could not mark the job started; going on");
            Go::Yes { lease_until_ms: 0 }
        }
    }
}

/// A waiting notice may be on its way to the same message: the final edit
/// goes after it.
pub(crate) async fn wait_out(lease_until_ms: u64) {
    let now = now_ms();
    if lease_until_ms > now {
        tokio::time::sleep(Duration::from_millis(lease_until_ms - now)).await;
    }
}

async fn run(
    shared: &Shared,
    delivery: Result<Delivery, String>,
    deadline: Instant,
    log: &mut JobLog,
) -> Verdict {
    let started = Instant::now();
    let delivery = match delivery {
        Ok(d) => d,
        Err(e) => return ack(Outcome::Rejected, e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let job: Job = match Job::from_json(&delivery.data) {
        Ok(j) => j,
        Err(e) => {
            let salvaged = Salvaged::from_json(&delivery.data);
            if let Some(abandoned) = abandoned(salvaged.publish_by_ms, &delivery) {
                log.ticket = salvaged.ticket;
                return abandoned;
            }
            let error = Unreadable {
                error: e.to_string(),
                newer: e.is_newer(),
            };
            return unreadable(shared, &delivery, error, salvaged, log).await;
        }
    };
    log.kind = job.kind.as_str();
    log.ticket.clone_from(&job.ticket);
    log.note_job(&job);
    if let Some(abandoned) = abandoned(job.publish_by_ms, &delivery) {
        return abandoned;
    }
    let plan = match target::plan_job(&job.reply, &shared.api_base, &shared.secrets, now_ms()).await
    {
        Ok(p) => p,
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack(Outcome::Rejected, e.to_string()),
    };
    let target = match plan {
        Plan::Expired { seconds_ago } => {
            return ack(
                Outcome::Expired,
                format!("the interaction token expired {seconds_ago} s ago; not rendering"),
            );
        }
        Plan::Nothing => None,
        Plan::Send(t) => Some(t),
    };
    let lease_until_ms = match begin(shared, job.ticket.as_ref(), delivery.via).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        Go::Cancelled => return cancelled(),
    };
    log.decode_us = (started.elapsed().as_micros() as u64).max(1);

    // Keep time for the last word after the work itself: rendering and
    // storing must be done by then, and every Discord send ends by then.
    let reserve = LAST_WORD_BUDGET.min(shared.job_deadline / 3);
    let result = produce(
        shared,
        Work {
            job: &job,
            delivery: &delivery,
            target: target.as_ref(),
            lease_until_ms,
            by: deadline - reserve,
        },
        log,
    )
    .await;
    let (verdict, ending) = match settle(shared, result, delivery.attempt, log) {
        Settled::Done(verdict) => return verdict,
        Settled::Tell(verdict, ending) => (verdict, ending),
    };
    let told = tell(
        shared,
        target.as_ref(),
        &ending,
        job.strings(),
        lease_until_ms,
        log,
    )
    .await;
    with_told(verdict, told)
}

/// What a job's result comes to on this attempt.
pub(crate) enum Settled {
    /// Answer with this: nobody is to be told anything.
    Done(Verdict),
    /// Answer with this, after telling the user this.
    Tell(Verdict, Ending),
}

/// Turns a job's result into its verdict on this delivery `attempt`: a
/// transient failure is redelivered until the last attempt, which tells
/// the user; a reply of unknown fate is redelivered, and let go without a
/// word on the last attempt.
pub(crate) fn settle(
    shared: &Shared,
    result: Result<Verdict, Failure>,
    attempt: Option<u32>,
    log: &mut JobLog,
) -> Settled {
    if let Err(Failure::Transient { why, .. }) = &result {
        log.reason = Some(*why);
    }
    let attempt = attempt.unwrap_or(0);
    let last = attempt >= shared.max_attempts;
    match result {
        Ok(verdict) => Settled::Done(verdict),
        Err(Failure::Permanent {
            outcome,
            detail,
            ending: None,
        }) => Settled::Done(ack(outcome, detail)),
        Err(Failure::Permanent {
            outcome,
            detail,
            ending: Some(ending),
        }) => Settled::Tell(ack(outcome, detail), ending),
        Err(Failure::Transient { detail, .. } | Failure::Unknown { detail }) if !last => {
            Settled::Done(redeliver(detail))
        }
        // The last attempt: nobody will try again, so say so now.
        Err(Failure::Transient { detail, why }) => Settled::Tell(
            ack(
                Outcome::GaveUp,
                format!("last delivery attempt ({attempt}): {detail}"),
            ),
            Ending::GaveUp {
                attempts: attempt,
                why,
            },
        ),
        // The user may be looking at their image: no word over it.
        Err(Failure::Unknown { detail }) => Settled::Done(ack(
            Outcome::ReplyUnknown,
            format!(
                "last delivery attempt ({attempt}): {detail}; the image may have been delivered, so no final word follows"
            ),
        )),
    }
}

/// A verdict's detail, with what telling the user came to.
pub(crate) fn with_told(verdict: Verdict, told: Told) -> Verdict {
    let note = match told {
        Told::Yes | Told::Nobody => return verdict,
        Told::Shown => "; the image is already shown, so nothing was said over it",
        Told::Failed => "; the user could not be told",
    };
    match verdict {
        Verdict::Ack { outcome, detail } => ack(outcome, detail + note),
        v @ Verdict::Redeliver { .. } => v,
    }
}

fn cancelled() -> Verdict {
    ack(
        Outcome::Cancelled,
        "the ledger has no entry for this job: it was cancelled (its user was told to try again) or has ended",
    )
}

/// The verdict for a job its user was told to retry: the queue took it
/// (`delivery`'s publish time) after the ingress had given up publishing
/// it (`publish_by_ms`). Nothing is rendered, nobody is told. Only for a
/// job's own delivery: a reply job or a dead letter is published later by
/// design.
fn abandoned(publish_by_ms: Option<u64>, delivery: &Delivery) -> Option<Verdict> {
    let (by, at) = (publish_by_ms?, delivery.published_ms?);
    (at > by + PUBLISH_CLOCK_SLACK_MS).then(|| {
        ack(
            Outcome::Abandoned,
            format!(
                "the queue took it {} ms after the ingress gave up publishing it and told its user to try again; not rendered",
                at - by
            ),
        )
    })
}

/// Why a message is not a job (or reply job) this build can serve.
pub(crate) struct Unreadable {
    pub(crate) error: String,
    /// It comes from a newer build, which could serve it.
    pub(crate) newer: bool,
}

/// A job (or reply job) this build cannot decode. One from a newer build
/// is redelivered for a newer worker to take while attempts remain; on the
/// last attempt, and at once for a malformed one, its user is told, if
/// what could be read of it (`salvaged`) says where.
pub(crate) async fn unreadable(
    shared: &Shared,
    delivery: &Delivery,
    unreadable: Unreadable,
    salvaged: Salvaged,
    log: &mut JobLog,
) -> Verdict {
    let Unreadable { error, newer } = unreadable;
    log.ticket.clone_from(&salvaged.ticket);
    let attempt = delivery.attempt.unwrap_or(0);
    let (verdict, ending) = if newer {
        if attempt < shared.max_attempts {
            // Not this worker's job: nothing of it was started.
            return redeliver(format!("{error}; a newer worker may take it"));
        }
        (
            ack(
                Outcome::GaveUp,
                format!("last delivery attempt ({attempt}): {error}"),
            ),
            Ending::GaveUp {
                attempts: attempt,
                why: Why::Upgrade,
            },
        )
    } else {
        (
            ack(Outcome::Rejected, error.clone()),
            Ending::InvalidSpec(error),
        )
    };
    let Ok(Plan::Send(target)) = target::plan(&salvaged.reply, &shared.api_base, now_ms()) else {
        return verdict;
    };
    let lease_until_ms = match begin(shared, salvaged.ticket.as_ref(), delivery.via).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        Go::Cancelled => return cancelled(),
    };
    let told = tell(
        shared,
        Some(&target),
        &ending,
        salvaged.strings(),
        lease_until_ms,
        log,
    )
    .await;
    with_told(verdict, told)
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

/// When the job's interaction token dies (Unix ms): the ticket's record,
/// or the token's own (whichever is earlier); `None` without a token.
fn token_expires_ms(job: &Job) -> Option<u64> {
    let Reply::Interaction(i) = &job.reply else {
        return None;
    };
    let recorded = job.ticket.as_ref().map(|t| t.expires_ms).filter(|e| *e > 0);
    match (recorded, i.token_expires_at_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long rendering `drawing` is expected to take here: this instance's
/// measured speed, with the renders waiting for a slot ahead of it.
fn render_estimate(shared: &Shared, drawing: &Drawing) -> Duration {
    let stat = shared.calibrator.stat(now_ms());
    let one = drawing.cost().0 as f64 * stat.us_per_unit + stat.overhead_us;
    let slots = shared.pool.size().max(1) as f64;
    let ahead = 1.0 + shared.pool.waiting() as f64 / slots;
    Duration::from_micros((one * ahead).clamp(0.0, 3.6e9) as u64)
}

/// Renders (or finds) the image, stores it and replies (or, in the render
/// stage, hands the reply on).
async fn produce(shared: &Shared, work: Work<'_>, log: &mut JobLog) -> Result<Verdict, Failure> {
    let Work {
        job,
        delivery,
        target,
        lease_until_ms,
        by,
    } = work;
    let decode_started = Instant::now();
    // Pub/Sub keeps the message id across redeliveries (and Cloud Tasks the
    // task's), so a job without a seed still means one image however often
    // it arrives.
    let spec = job
        .spec
        .clone()
        .with_seed_from(delivery.message_id.as_bytes());
    let drawing = Drawing::resolve(&spec, job.grid).map_err(|e| {
        Failure::permanent(
            Outcome::Rejected,
            format!("invalid spec: {e}"),
            Ending::InvalidSpec(e.to_string()),
        )
    })?;
    let name = drawing.object_name();
    log.spec_hash = drawing.hash().to_string();
    log.location = shared.store.location(&name);
    log.decode_us += us(decode_started.elapsed());

    // The image must reach the user while their token lives: keep time
    // for the upload (and a final word) after the render, and for a
    // waiting notice's lease before it.
    let render_by_ms = token_expires_ms(job).map(|expires| {
        expires
            .saturating_sub(TOKEN_MARGIN_MS)
            .saturating_sub(lease_until_ms.saturating_sub(now_ms()))
    });
    let got = tokio::time::timeout_at(by, async {
        // Identical jobs in flight at once wait for each other here, so the
        // second finds the first's object instead of rendering it again.
        // The lock is released when this block ends, on every path.
        let _lock = shared.lock_object(&name).await;
        obtain(
            shared,
            job,
            &drawing,
            &name,
            Need {
                bytes: target.is_some(),
                render_by_ms,
            },
            log,
        )
        .await
    })
    .await;
    let (bytes, content_type) = got.map_err(|_| {
        Failure::transient(
            format!(
                "job deadline of {} s exceeded before the image was stored",
                shared.job_deadline.as_secs()
            ),
            Why::Slow,
        )
    })??;

    let Some(target) = target else {
        return Ok(ack(
            Outcome::Stored,
            format!("no reply requested; image at {}", log.location),
        ));
    };
    if let Some(replies) = &shared.replies {
        let handing = crate::handoff::hand_off(
            shared,
            replies,
            crate::handoff::Finished {
                job,
                spec: &spec,
                drawing: &drawing,
                object: &name,
                bytes,
                content_type: &content_type,
                message_id: &delivery.message_id,
                lease_until_ms,
            },
            log,
        );
        let handed = tokio::time::timeout_at(by, handing)
            .await
            .unwrap_or_else(|_| {
                // The reply job may still be published and answered: no
                // final word may follow it.
                Err(Failure::Unknown {
                    detail: format!(
                        "handing the reply on did not finish within the job deadline of {} s",
                        shared.job_deadline.as_secs()
                    ),
                })
            });
        calibrate(shared, job, &drawing, &handed, log);
        return handed;
    }
    wait_out(lease_until_ms).await;
    let reply_started = Instant::now();
    let marker = post_marker(&delivery.message_id);
    let sent = reply(
        shared,
        Picture {
            job,
            spec: &spec,
            drawing: &drawing,
            bytes,
            content_type: &content_type,
            note: None,
            smaller: Smaller::Render,
        },
        target,
        &marker,
        by,
        log,
    )
    .await;
    log.reply_us = Some(us(reply_started.elapsed()));
    calibrate(shared, job, &drawing, &sent, log);
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
        report_speed(shared);
    }
}

/// What a job needs of [`obtain`].
struct Need {
    /// The image's bytes (false when nobody will be sent the image).
    bytes: bool,
    /// A render must be done by then (Unix ms), or not started.
    render_by_ms: Option<u64>,
}

/// The job's final word when its token would die before its image could
/// be sent.
fn out_of_time(needed: Duration) -> Failure {
    Failure::permanent(
        Outcome::OutOfTime,
        format!(
            "the interaction token would expire before the image could be sent (about {:.1} s of work, {} s kept for the reply); not started",
            needed.as_secs_f64(),
            TOKEN_MARGIN_MS / 1000
        ),
        Ending::OutOfTime,
    )
}

/// The image's bytes and content type: found in the store, or rendered and
/// stored — unless a render could not end in time for the token.
async fn obtain(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    name: &str,
    need: Need,
    log: &mut JobLog,
) -> Result<(Bytes, String), Failure> {
    if need.render_by_ms.is_some_and(|by| now_ms() > by) {
        return Err(out_of_time(Duration::ZERO));
    }
    let need_bytes = need.bytes;
    let store_started = Instant::now();
    let existing = if need_bytes {
        shared
            .store
            .get(name)
            .await
            .map(|o| o.map(|o| (o.bytes, o.content_type)))
    } else {
        shared
            .store
            .exists(name)
            .await
            .map(|e| e.then(|| (Bytes::new(), String::new())))
    };
    let existing = existing
        .map_err(|e| Failure::transient(format!("storage check failed: {e}"), Why::Store))?;
    let mut store_us = us(store_started.elapsed());
    log.cache_hit = Some(existing.is_some());
    log.store_us = Some(store_us);
    if let Some(found) = existing {
        return Ok(found);
    }
    if let Some(by) = need.render_by_ms {
        let estimate = render_estimate(shared, drawing);
        if now_ms() + estimate.as_millis() as u64 > by {
            return Err(out_of_time(estimate));
        }
    }
    let image = shared
        .pool
        .render(drawing.clone(), job.user())
        .await
        .map_err(
            |e @ (RenderFailure::Refused(_) | RenderFailure::Crashed(_))| {
                Failure::permanent(
                    Outcome::RenderFailed,
                    e.to_string(),
                    Ending::RenderFailed(e.to_string()),
                )
            },
        )?;
    shared.stats.count(Event::Rendered);
    log.queue_us = image.queue_us;
    log.render_us = Some(image.render_us);
    log.encode_us = Some(image.encode_us);
    let put_started = Instant::now();
    let put = shared
        .store
        .put(NewObject {
            name: name.to_owned(),
            bytes: image.bytes.clone(),
            content_type: image.content_type.clone(),
            metadata: metadata(drawing),
        })
        .await;
    store_us += us(put_started.elapsed());
    log.store_us = Some(store_us);
    match put {
        Ok(PutOutcome::Created | PutOutcome::AlreadyExisted) => {
            Ok((image.bytes, image.content_type))
        }
        Err(e) => Err(Failure::transient(
            format!("storing the image failed: {e}"),
            Why::Store,
        )),
    }
}

/// What to send: the image and what its message says.
pub(crate) struct Picture<'a> {
    pub(crate) job: &'a Job,
    /// The user's spec with the seed filled in (the buttons carry it).
    pub(crate) spec: &'a RenderSpec,
    pub(crate) drawing: &'a Drawing,
    pub(crate) bytes: Bytes,
    pub(crate) content_type: &'a str,
    /// A line for the caption (that a smaller preview is attached).
    pub(crate) note: Option<String>,
    pub(crate) smaller: Smaller,
}

/// What to do when the image is too large for Discord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Smaller {
    /// Render the same spec at a smaller edge until it fits (a worker).
    Render,
    /// Send the message without the file, saying where the image is
    /// stored: the reply stage never renders.
    Link,
}

/// The custom metadata every stored image carries.
pub(crate) fn metadata(drawing: &Drawing) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("spec".to_owned(), drawing.canonical_json()),
        ("seed".to_owned(), drawing.seed().to_string()),
        ("render-version".to_owned(), RENDER_VERSION.to_string()),
        ("summary".to_owned(), drawing.summary()),
    ])
}

/// Sends the image. When it is too large for Discord (by our count, or by
/// Discord's 413), a smaller render of the same spec goes instead, with a
/// note saying where the full one is (or, from the reply stage, the
/// message alone with that note). `marker` is where a channel webhook's
/// post is recorded ([`post_marker`]); every send ends by `by`.
pub(crate) async fn reply(
    shared: &Shared,
    picture: Picture<'_>,
    target: &Target,
    marker: &str,
    by: Instant,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
    let Picture {
        job,
        spec,
        drawing,
        bytes,
        content_type,
        note,
        smaller,
    } = picture;
    let mut limit = ATTACHMENT_LIMIT;
    let mut picture = (bytes, content_type.to_owned(), note);
    let mut linked = false;
    for _ in 0..3 {
        if picture.0.len() > limit
            && smaller == Smaller::Render
            && let Some(smaller) = preview(shared, job, drawing, limit).await
        {
            picture = smaller;
        }
        let mut message = message::build(
            job,
            spec,
            drawing,
            picture.0.clone(),
            &picture.1,
            &log.location,
            picture.2.as_deref(),
        );
        if linked {
            message = message::without_file(message, job.strings(), &log.location);
        }
        // A channel post is not idempotent: it is claimed first, and a job
        // that posted before edits its message instead.
        let (to, claim) = match target {
            Target::Webhook { .. } => match claim_post(shared, target, marker).await? {
                Post::Edit(edit) => (edit, None),
                Post::Mine(claim) => (target.clone(), Some(claim)),
            },
            _ => (target.clone(), None),
        };
        let sent = shared.discord.send(&to, &message, now_ms, by).await;
        match sent {
            Ok(report) => {
                log.reply_attempts += report.attempts;
                match (&claim, &report.message_id) {
                    (Some(_), Some(id)) => record_post(shared, marker, id).await,
                    // Posted, but the answer named no message: the claim
                    // stays, so nothing posts it again.
                    (Some(_), None) => tracing::warn!(
                        "the channel post was made but its message id is unknown; a redelivery will not edit it"
                    ),
                    (None, _) => {}
                }
                return Ok(ack(
                    Outcome::Replied,
                    format!("{} answered {}", to.describe(), report.status),
                ));
            }
            Err(e) => {
                log.reply_attempts += e.attempts();
                // A post that surely was not made frees the next claim.
                if let Some(claim) = &claim
                    && !matches!(e, SendError::Unknown { .. })
                {
                    release_post(shared, claim).await;
                }
                match e {
                    // Too large after all: Discord's limit for this channel
                    // is lower than we assumed. Try half the bytes, or the
                    // message with a link instead of the file.
                    SendError::Drop {
                        status: Some(413), ..
                    } if picture.0.len() > 1024 && !linked => match smaller {
                        Smaller::Render => limit = picture.0.len() / 2,
                        Smaller::Link => linked = true,
                    },
                    // The token or the message is gone: nothing can be told.
                    SendError::Drop {
                        status: Some(401 | 403 | 404),
                        ..
                    } => {
                        return Err(Failure::Permanent {
                            outcome: Outcome::ReplyDropped,
                            detail: format!("{e}; nobody can be told"),
                            ending: None,
                        });
                    }
                    SendError::Drop { ref why, .. } => {
                        let short = why.clone();
                        return Err(Failure::permanent(
                            Outcome::ReplyDropped,
                            e.to_string(),
                            Ending::Refused(short),
                        ));
                    }
                    SendError::Redeliver { .. } => {
                        return Err(Failure::transient(e.to_string(), Why::Discord));
                    }
                    SendError::Unknown { .. } => {
                        return Err(Failure::Unknown {
                            detail: e.to_string(),
                        });
                    }
                }
            }
        }
    }
    Err(Failure::permanent(
        Outcome::ReplyDropped,
        "Discord refused every smaller version as too large",
        Ending::Refused("the image is too large".into()),
    ))
}

/// Where the id of the message a webhook job posted is kept, by Pub/Sub
/// message id (stable across redeliveries).
pub(crate) fn post_marker(message_id: &str) -> String {
    let safe: String = message_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect();
    format!("posts/{safe}.json")
}

/// Next to a post record (`posts/<id>.json`): `posts/<id>.<what>-<n>.json`.
fn beside(marker: &str, what: &str, n: u32) -> String {
    let stem = marker.strip_suffix(".json").unwrap_or(marker);
    format!("{stem}.{what}-{n}.json")
}

/// A claim this delivery holds on making a channel post.
pub(crate) struct PostClaim {
    /// The post record it belongs to ([`post_marker`]).
    marker: String,
    /// Which claim: the ones before it ended in posts that surely failed.
    n: u32,
}

/// What a channel webhook's send may do.
enum Post {
    /// The job posted before: edit that message.
    Edit(Target),
    /// This delivery may post.
    Mine(PostClaim),
}

/// The content of a claim: whose, and since when.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClaimRecord {
    owner: String,
    at_ms: u64,
}

fn json_object(name: String, value: &serde_json::Value) -> NewObject {
    NewObject {
        name,
        bytes: value.to_string().into(),
        content_type: "application/json".to_owned(),
        metadata: BTreeMap::new(),
    }
}

/// The message a webhook job posted, if its post was recorded.
async fn posted(shared: &Shared, target: &Target, marker: &str) -> Result<Option<Target>, Failure> {
    let record = shared.store.get(marker).await.map_err(|e| {
        Failure::transient(format!("reading the post record failed: {e}"), Why::Store)
    })?;
    Ok(record
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.bytes).ok())
        .and_then(|v| v["message_id"].as_str().map(str::to_owned))
        .and_then(|id| target.posted_message(&id)))
}

/// A claim's record; an unreadable one counts as very old.
async fn read_claim(shared: &Shared, name: &str) -> Result<Option<ClaimRecord>, Failure> {
    let found =
        shared.store.get(name).await.map_err(|e| {
            Failure::transient(format!("reading a post claim failed: {e}"), Why::Store)
        })?;
    Ok(found.map(|o| {
        serde_json::from_slice(&o.bytes).unwrap_or(ClaimRecord {
            owner: String::new(),
            at_ms: 0,
        })
    }))
}

/// Decides whether this delivery may post a channel webhook's message.
///
/// A post is claimed by a create-only record in the store before it is
/// made (`posts/<id>.posting-<n>.json`), and recorded after it
/// (`posts/<id>.json`, with the message's id). A delivery that finds the
/// post recorded edits that message; one that finds a claim without a
/// record does not post: another delivery is posting, or posted and its
/// answer was lost. It asks again later ([`Failure::Unknown`]); once the
/// claim is older than any delivery lasts, the post's fate stays unknown
/// and the job is let go without posting. A claim whose post surely
/// failed is released (`posts/<id>.failed-<n>.json`): the next one may post.
async fn claim_post(shared: &Shared, target: &Target, marker: &str) -> Result<Post, Failure> {
    if let Some(edit) = posted(shared, target, marker).await? {
        return Ok(Post::Edit(edit));
    }
    let owner = format!(
        "{:016x}-{}",
        crate::reply::discord::random_u64(),
        std::process::id()
    );
    let store_failed =
        |e| Failure::transient(format!("claiming the channel post failed: {e}"), Why::Store);
    for n in 0..MAX_POST_CLAIMS {
        let name = beside(marker, "posting", n);
        let mut claim = read_claim(shared, &name).await?;
        if claim.is_none() {
            let record = serde_json::json!({ "owner": owner, "at_ms": now_ms() });
            let put = shared
                .store
                .put(json_object(name.clone(), &record))
                .await
                .map_err(store_failed)?;
            if put == PutOutcome::Created {
                return Ok(Post::Mine(PostClaim {
                    marker: marker.to_owned(),
                    n,
                }));
            }
            // Someone was first — or this very write landed and its answer
            // was lost.
            claim = read_claim(shared, &name).await?;
            if claim.as_ref().is_some_and(|c| c.owner == owner) {
                return Ok(Post::Mine(PostClaim {
                    marker: marker.to_owned(),
                    n,
                }));
            }
        }
        let failed = shared
            .store
            .exists(&beside(marker, "failed", n))
            .await
            .map_err(store_failed)?;
        if failed {
            continue;
        }
        // Claimed, not surely failed: posting now, or posted.
        if let Some(edit) = posted(shared, target, marker).await? {
            return Ok(Post::Edit(edit));
        }
        let age_ms = now_ms().saturating_sub(claim.map_or(0, |c| c.at_ms));
        // No delivery that claimed the post is still at it after this.
        let settled_ms = 2 * shared.job_deadline.as_millis() as u64;
        if age_ms < settled_ms {
            return Err(Failure::Unknown {
                detail: format!(
                    "another delivery claimed this channel post {:.1} s ago and has not recorded it; not posting",
                    age_ms as f64 / 1000.0
                ),
            });
        }
        return Err(Failure::Permanent {
            outcome: Outcome::ReplyUnknown,
            detail: format!(
                "a delivery claimed this channel post {} s ago and never recorded a message: it may have been posted, so it is not posted again",
                age_ms / 1000
            ),
            ending: None,
        });
    }
    Err(Failure::Permanent {
        outcome: Outcome::ReplyDropped,
        detail: format!("the channel post failed for sure {MAX_POST_CLAIMS} times"),
        ending: None,
    })
}

/// Records the posted message's id, create-only: the first delivery that
/// posted wins. Failing here only means a redelivery cannot edit the
/// message; the claim keeps it from posting again.
async fn record_post(shared: &Shared, marker: &str, message_id: &str) {
    let record = serde_json::json!({ "message_id": message_id });
    if let Err(e) = shared
        .store
        .put(json_object(marker.to_owned(), &record))
        .await
    {
        tracing::warn!(error = %e, "could not record the posted message; a redelivery will not post again, nor edit it");
    }
}

/// Releases a claim whose post surely was not made.
async fn release_post(shared: &Shared, claim: &PostClaim) {
    let record = serde_json::json!({ "at_ms": now_ms() });
    let name = beside(&claim.marker, "failed", claim.n);
    if let Err(e) = shared.store.put(json_object(name, &record)).await {
        tracing::warn!(error = %e, "could not release a failed channel post; the job will not post again");
    }
}

/// The same drawing rendered at a smaller edge until it fits `limit`
/// bytes, with a note for the caption; `None` if nothing smaller fits.
pub(crate) async fn preview(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    limit: usize,
) -> Option<(Bytes, String, Option<String>)> {
    let mut smaller = drawing.halved()?;
    loop {
        let image = shared.pool.render(smaller.clone(), job.user()).await.ok()?;
        if image.bytes.len() <= limit {
            let note = fill(
                job.strings().preview_note,
                &[
                    ("small", &smaller.size().to_string()),
                    ("full", &drawing.size().to_string()),
                    ("location", &shared.store.location(&drawing.object_name())),
                ],
            );
            return Some((image.bytes, image.content_type, Some(note)));
        }
        smaller = smaller.halved()?;
    }
}

/// What telling a user their job's final word came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Told {
    /// The word went out.
    Yes,
    /// The message already shows a finished image (an earlier delivery's,
    /// whose answer was lost or whose worker stopped): it stays.
    Shown,
    /// Discord did not take the word (or did not answer).
    Failed,
    /// Nobody waits for this job (a channel webhook, or no reply).
    Nobody,
}

/// Sends the last word, if someone is waiting for this job — unless the
/// message already shows an image: then that stays.
pub(crate) async fn tell(
    shared: &Shared,
    target: Option<&Target>,
    ending: &Ending,
    strings: &Strings,
    lease_until_ms: u64,
    log: &mut JobLog,
) -> Told {
    // Channel webhooks have nobody waiting: the failure is in the log line.
    let Some(target @ Target::Original { .. }) = target else {
        return Told::Nobody;
    };
    wait_out(lease_until_ms).await;
    let message = last_word::message(ending, strings);
    let started = Instant::now();
    let budget_end = started + LAST_WORD_BUDGET;
    // Look first: an image may be there that this delivery does not know of.
    match shared
        .discord
        .shows_result(target, LAST_WORD_BUDGET / 2)
        .await
    {
        Ok(true) => {
            tracing::info!("the message already shows an image; no final word over it");
            return Told::Shown;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not look at the message before its final word; sending it");
        }
    }
    let send = shared.discord.send(target, &message, now_ms, budget_end);
    match tokio::time::timeout_at(budget_end, send).await {
        Ok(Ok(_)) => {
            log.told = true;
            Told::Yes
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not tell the user why their mandala will not come");
            Told::Failed
        }
        Err(_) => {
            tracing::warn!("telling the user why their mandala will not come took too long");
            Told::Failed
        }
    }
}

/// Records this instance's speed in the ledger, at most every few seconds.
fn report_speed(shared: &Shared) {
    let Some(ledger) = shared.ledger.clone() else {
        return;
    };
    let now = now_ms();
    let last = shared.last_report_ms.load(Ordering::Relaxed);
    if now < last + REPORT_EVERY_MS
        || shared
            .last_report_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let stat = shared.calibrator.stat(now);
    tokio::spawn(async move {
        if let Err(e) = ledger.report_worker(stat).await {
            tracing::warn!(error = %e, "could not report this worker's speed");
        }
    });
}

/// A job from the dead-letter subscription: every delivery failed without
/// the worker giving an answer (it crashed, or the job outlived the ack
/// deadline). Its user is told, once — also when the job itself cannot be
/// decoded but its interaction can be read. A user who could not be told
/// while their token lives is tried again (non-2xx): the dead-letter
/// subscription redelivers.
pub async fn dead_letter(shared: &Shared, body: &[u8]) -> Verdict {
    dead_letter_of(shared, body, |data| {
        Job::from_json(data).map_err(|e| Box::new((e.to_string(), Salvaged::from_json(data))))
    })
    .await
}

/// [`dead_letter`] for a message whose body `decode` turns into its job (a
/// job, or a reply job), or into why not and what could be read of it.
pub(crate) async fn dead_letter_of(
    shared: &Shared,
    body: &[u8],
    decode: impl Fn(&[u8]) -> Result<Job, Box<(String, Salvaged)>>,
) -> Verdict {
    let mut log = JobLog {
        dead_letter: true,
        ..JobLog::default()
    };
    let verdict = dead_letter_inner(shared, body, decode, &mut log).await;
    finish(shared, &verdict, &log).await;
    record(shared, &verdict, &log, None);
    shared.stats.count(Event::DeadLettered);
    verdict
}

/// What a decoded job says about where its final word goes.
fn salvaged_of(job: &Job) -> Salvaged {
    Salvaged {
        reply: job.reply.clone(),
        ticket: job.ticket.clone(),
        locale: job.locale.clone(),
        publish_by_ms: job.publish_by_ms,
    }
}

async fn dead_letter_inner(
    shared: &Shared,
    body: &[u8],
    decode: impl Fn(&[u8]) -> Result<Job, Box<(String, Salvaged)>>,
    log: &mut JobLog,
) -> Verdict {
    let delivery = match Delivery::from_push(body) {
        Ok(d) => d,
        Err(e) => return ack(Outcome::Rejected, e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let (job, unreadable) = match decode(&delivery.data) {
        Ok(job) => {
            log.kind = job.kind.as_str();
            log.note_job(&job);
            (salvaged_of(&job), None)
        }
        Err(unreadable) => {
            let (e, salvaged) = *unreadable;
            log.note_salvaged(&salvaged);
            (salvaged, Some(e))
        }
    };
    log.ticket.clone_from(&job.ticket);
    let planned = target::plan_job(&job.reply, &shared.api_base, &shared.secrets, now_ms()).await;
    let target = match planned {
        Ok(Plan::Send(t)) => t,
        Ok(Plan::Expired { seconds_ago }) => {
            return ack(
                Outcome::Expired,
                format!("dead-lettered; the token expired {seconds_ago} s ago, nobody can be told"),
            );
        }
        Ok(Plan::Nothing) => {
            let detail = match unreadable {
                Some(e) => format!("dead-lettered and unreadable ({e}); nobody to tell"),
                None => "dead-lettered; no reply requested".to_owned(),
            };
            return ack(Outcome::DeadLetterLogged, detail);
        }
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack(Outcome::Rejected, e.to_string()),
    };
    let lease_until_ms = match begin(shared, job.ticket.as_ref(), delivery.via).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        // Already ended (its user was told) or cancelled.
        Go::Cancelled => return ack(Outcome::DeadLetterLogged, "dead-lettered; already ended"),
    };
    // Pub/Sub says how often it tried in an attribute of the forwarded message.
    let attempts = delivery.source_attempts.or(delivery.attempt);
    let told = tell(
        shared,
        Some(&target),
        &Ending::DeadLettered { attempts },
        job.strings(),
        lease_until_ms,
        log,
    )
    .await;
    match told {
        Told::Yes => ack(Outcome::DeadLetterTold, "dead-lettered; the user was told"),
        Told::Shown => ack(
            Outcome::DeadLetterLogged,
            "dead-lettered; the message already shows the image, so nothing was said",
        ),
        Told::Failed if token_alive(&job.reply) => {
            redeliver("dead-lettered; the user could not be told yet, and their token lives")
        }
        Told::Failed => ack(
            Outcome::DeadLetterLogged,
            "dead-lettered; the user could not be told, and their token is dead",
        ),
        Told::Nobody => ack(
            Outcome::DeadLetterLogged,
            "dead-lettered; nobody waits for a channel post",
        ),
    }
}

/// Whether the job's interaction token can still carry a message.
fn token_alive(reply: &Reply) -> bool {
    match reply {
        Reply::Interaction(i) => i
            .token_expires_at_ms()
            .is_some_and(|expires| expires > now_ms()),
        _ => false,
    }
}
