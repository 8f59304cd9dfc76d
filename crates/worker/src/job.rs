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
use mandala_model::{Drawing, Job, RENDER_VERSION, RenderSpec, Ticket};
use tokio::time::Instant;

use crate::config::Design;
use crate::delivery::Delivery;
use crate::render::RenderFailure;
use crate::reply::discord::SendError;
use crate::reply::last_word::{self, Ending, Why};
use crate::reply::message::{self, ATTACHMENT_LIMIT};
use crate::reply::target::{self, Plan, Target};
use crate::state::Shared;
use crate::store::{NewObject, PutOutcome};

/// What a final failure message may take, kept out of the job's deadline.
pub(crate) const LAST_WORD_BUDGET: Duration = Duration::from_secs(8);

/// Worker speed reports go to the ledger at most this often.
const REPORT_EVERY_MS: u64 = 5_000;

/// How a push ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done, or never doable.
    Ack {
        outcome: &'static str,
        detail: String,
    },
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

/// The outcome of a render stage that handed the reply on.
pub(crate) const HANDED_OFF: &str = "handed-off";

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

/// Outcomes that end a job without its image for a reason an operator
/// should look at: logged at ERROR as an Error Reporting event, one group
/// per outcome.
const ERROR_OUTCOMES: &[&str] = &[
    "render-failed",
    "gave-up",
    "reply-dropped",
    "dead-letter-told",
    "dead-letter-logged",
];

/// `Why` as the job line's `reason`.
fn reason(why: Why) -> &'static str {
    match why {
        Why::Store => "store",
        Why::Discord => "discord",
        Why::Slow => "slow",
    }
}

/// Why a job cannot end in its image now.
pub(crate) enum Failure {
    /// Will never work: tell the user (unless the message itself is gone),
    /// acknowledge.
    Permanent {
        outcome: &'static str,
        detail: String,
        ending: Option<Ending>,
    },
    /// May work later: redeliver, unless this was the last attempt.
    Transient { detail: String, why: Why },
}

impl Failure {
    pub(crate) fn permanent(
        outcome: &'static str,
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
    if *outcome == HANDED_OFF {
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
        counters.count("told");
    }
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    let (outcome, detail) = match verdict {
        Verdict::Ack { outcome, detail } => {
            counters.count(outcome);
            (*outcome, detail.as_str())
        }
        Verdict::Redeliver { detail, .. } => {
            counters.count("redeliver");
            ("redeliver", detail.as_str())
        }
    };
    let level_warn = !matches!(
        outcome,
        "replied" | "stored" | "answered-inline" | HANDED_OFF
    );
    let error_group = ERROR_OUTCOMES
        .contains(&outcome)
        .then(|| format!("job {outcome}"));
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
                outcome,
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
    if error_group.is_some() {
        line!(error);
    } else if level_warn {
        line!(warn);
    } else {
        line!(info);
    }
}

pub(crate) fn ack(outcome: &'static str, detail: impl Into<String>) -> Verdict {
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

async fn begin(shared: &Shared, ticket: Option<&Ticket>) -> Go {
    let (Some(ledger), Some(t)) = (&shared.ledger, ticket) else {
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
        Err(e) => return ack("rejected", e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let job: Job = match Job::from_json(&delivery.data) {
        Ok(j) => j,
        Err(e) => return ack("rejected", e.to_string()),
    };
    log.kind = job.kind.as_str();
    log.ticket.clone_from(&job.ticket);
    log.note_job(&job);
    let plan = match target::plan_job(&job.reply, &shared.api_base, &shared.secrets, now_ms()).await
    {
        Ok(p) => p,
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack("rejected", e.to_string()),
    };
    let target = match plan {
        Plan::Expired { seconds_ago } => {
            return ack(
                "expired",
                format!("the interaction token expired {seconds_ago} s ago; not rendering"),
            );
        }
        Plan::Nothing => None,
        Plan::Send(t) => Some(t),
    };
    let lease_until_ms = match begin(shared, job.ticket.as_ref()).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        Go::Cancelled => {
            return ack(
                "cancelled",
                "the ledger has no entry for this job: its publish was reported failed",
            );
        }
    };
    log.decode_us = (started.elapsed().as_micros() as u64).max(1);

    // Keep time for the last word after the work itself.
    let reserve = LAST_WORD_BUDGET.min(shared.job_deadline / 3);
    let work = produce(
        shared,
        &job,
        &delivery,
        target.as_ref(),
        lease_until_ms,
        log,
    );
    let result = match tokio::time::timeout_at(deadline - reserve, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::transient(
            format!(
                "job deadline of {} s exceeded",
                shared.job_deadline.as_secs()
            ),
            Why::Slow,
        )),
    };
    let (verdict, ending) = match result {
        Ok(verdict) => return verdict,
        Err(Failure::Permanent {
            outcome,
            detail,
            ending,
        }) => (ack(outcome, detail), ending),
        Err(Failure::Transient { detail, why }) => {
            log.reason = Some(why);
            let attempt = delivery.attempt.unwrap_or(0);
            if attempt < shared.max_attempts {
                return redeliver(detail);
            }
            // The last attempt: nobody will try again, so say so now.
            (
                ack(
                    "gave-up",
                    format!("last delivery attempt ({attempt}): {detail}"),
                ),
                Some(Ending::GaveUp {
                    attempts: attempt,
                    why,
                }),
            )
        }
    };
    if let Some(ending) = ending {
        let strings = job.strings();
        tell(
            shared,
            target.as_ref(),
            &ending,
            strings,
            lease_until_ms,
            log,
        )
        .await;
    }
    verdict
}

/// Renders (or finds) the image, stores it and replies (or, in the render
/// stage, hands the reply on).
async fn produce(
    shared: &Shared,
    job: &Job,
    delivery: &Delivery,
    target: Option<&Target>,
    lease_until_ms: u64,
    log: &mut JobLog,
) -> Result<Verdict, Failure> {
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
            "rejected",
            format!("invalid spec: {e}"),
            Ending::InvalidSpec(e.to_string()),
        )
    })?;
    let name = drawing.object_name();
    log.spec_hash = drawing.hash().to_string();
    log.location = shared.store.location(&name);
    log.decode_us += us(decode_started.elapsed());

    let (bytes, content_type) = {
        // Identical jobs in flight at once wait for each other here, so the
        // second finds the first's object instead of rendering it again.
        // The lock is released when this block ends, on every path.
        let _lock = shared.lock_object(&name).await;
        obtain(shared, job, &drawing, &name, target.is_some(), log).await?
    };

    let Some(target) = target else {
        return Ok(ack(
            "stored",
            format!("no reply requested; image at {}", log.location),
        ));
    };
    if let Some(replies) = &shared.replies {
        let handed = crate::handoff::hand_off(
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
        )
        .await;
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

/// The image's bytes and content type: found in the store, or rendered and
/// stored. `need_bytes` is false when nobody will be sent the image.
async fn obtain(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    name: &str,
    need_bytes: bool,
    log: &mut JobLog,
) -> Result<(Bytes, String), Failure> {
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
    let image = shared
        .pool
        .render(drawing.clone(), job.user())
        .await
        .map_err(
            |e @ (RenderFailure::Refused(_) | RenderFailure::Crashed(_))| {
                Failure::permanent(
                    "render-failed",
                    e.to_string(),
                    Ending::RenderFailed(e.to_string()),
                )
            },
        )?;
    shared.stats.count("render");
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
/// post is recorded ([`post_marker`]).
pub(crate) async fn reply(
    shared: &Shared,
    picture: Picture<'_>,
    target: &Target,
    marker: &str,
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
    // A channel webhook post is not idempotent: a redelivered job edits the
    // message its earlier delivery posted instead of posting another.
    let posted = match target {
        Target::Webhook { .. } => shared.store.get(marker).await.map_err(|e| {
            Failure::transient(format!("reading the post record failed: {e}"), Why::Store)
        })?,
        _ => None,
    };
    let edit = posted
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.bytes).ok())
        .and_then(|v| v["message_id"].as_str().map(str::to_owned))
        .and_then(|id| target.posted_message(&id));
    let target = edit.as_ref().unwrap_or(target);
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
        let sent = shared
            .discord
            .send(
                target,
                &message,
                now_ms,
                Instant::now() + shared.job_deadline,
            )
            .await;
        match sent {
            Ok(report) => {
                log.reply_attempts += report.attempts;
                if let (Target::Webhook { .. }, Some(id)) = (target, &report.message_id) {
                    record_post(shared, marker, id).await;
                }
                return Ok(ack(
                    "replied",
                    format!("{} answered {}", target.describe(), report.status),
                ));
            }
            Err(e) => {
                log.reply_attempts += e.attempts();
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
                            outcome: "reply-dropped",
                            detail: format!("{e}; nobody can be told"),
                            ending: None,
                        });
                    }
                    SendError::Drop { ref why, .. } => {
                        let short = why.clone();
                        return Err(Failure::permanent(
                            "reply-dropped",
                            e.to_string(),
                            Ending::Refused(short),
                        ));
                    }
                    SendError::Redeliver { .. } => {
                        return Err(Failure::transient(e.to_string(), Why::Discord));
                    }
                }
            }
        }
    }
    Err(Failure::permanent(
        "reply-dropped",
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

/// Records the posted message's id, create-only: the first delivery that
/// posted wins. Failing here only means a redelivery would post again.
async fn record_post(shared: &Shared, marker: &str, message_id: &str) {
    let put = shared
        .store
        .put(NewObject {
            name: marker.to_owned(),
            bytes: serde_json::json!({ "message_id": message_id })
                .to_string()
                .into(),
            content_type: "application/json".to_owned(),
            metadata: BTreeMap::new(),
        })
        .await;
    if let Err(e) = put {
        tracing::warn!(error = %e, "could not record the posted message; a redelivery would post again");
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

/// Sends the last word, if someone is waiting for this job.
pub(crate) async fn tell(
    shared: &Shared,
    target: Option<&Target>,
    ending: &Ending,
    strings: &Strings,
    lease_until_ms: u64,
    log: &mut JobLog,
) {
    // Channel webhooks have nobody waiting: the failure is in the log line.
    let Some(target @ Target::Original { .. }) = target else {
        return;
    };
    wait_out(lease_until_ms).await;
    let message = last_word::message(ending, strings);
    let send = shared
        .discord
        .send(target, &message, now_ms, Instant::now() + LAST_WORD_BUDGET);
    match tokio::time::timeout(LAST_WORD_BUDGET, send).await {
        Ok(Ok(_)) => log.told = true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not tell the user why their mandala will not come");
        }
        Err(_) => tracing::warn!("telling the user why their mandala will not come took too long"),
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
/// deadline). Its user is told, once.
pub async fn dead_letter(shared: &Shared, body: &[u8]) -> Verdict {
    dead_letter_of(shared, body, |data| {
        Job::from_json(data).map_err(|e| e.to_string())
    })
    .await
}

/// [`dead_letter`] for a message whose body `decode` turns into its job (a
/// job, or a reply job).
pub(crate) async fn dead_letter_of(
    shared: &Shared,
    body: &[u8],
    decode: impl Fn(&[u8]) -> Result<Job, String>,
) -> Verdict {
    let mut log = JobLog {
        dead_letter: true,
        ..JobLog::default()
    };
    let verdict = dead_letter_inner(shared, body, decode, &mut log).await;
    finish(shared, &verdict, &log).await;
    record(shared, &verdict, &log, None);
    shared.stats.count("dead-lettered");
    verdict
}

async fn dead_letter_inner(
    shared: &Shared,
    body: &[u8],
    decode: impl Fn(&[u8]) -> Result<Job, String>,
    log: &mut JobLog,
) -> Verdict {
    let delivery = match Delivery::from_push(body) {
        Ok(d) => d,
        Err(e) => return ack("rejected", e),
    };
    log.message_id.clone_from(&delivery.message_id);
    log.attempt = delivery.attempt;
    log.note_delivery(&delivery, shared.role);
    let job = match decode(&delivery.data) {
        Ok(j) => j,
        Err(e) => return ack("rejected", e),
    };
    log.kind = job.kind.as_str();
    log.ticket.clone_from(&job.ticket);
    log.note_job(&job);
    let target = match target::plan_job(&job.reply, &shared.api_base, &shared.secrets, now_ms())
        .await
    {
        Ok(Plan::Send(t)) => t,
        Ok(Plan::Expired { seconds_ago }) => {
            return ack(
                "expired",
                format!("dead-lettered; the token expired {seconds_ago} s ago, nobody can be told"),
            );
        }
        Ok(Plan::Nothing) => return ack("dead-letter-logged", "dead-lettered; no reply requested"),
        Err(e) if e.is_transient() => return redeliver(e.to_string()),
        Err(e) => return ack("rejected", e.to_string()),
    };
    let lease_until_ms = match begin(shared, job.ticket.as_ref()).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        // Already ended (its user was told) or cancelled.
        Go::Cancelled => return ack("dead-letter-logged", "dead-lettered; already ended"),
    };
    // Pub/Sub says how often it tried in an attribute of the forwarded message.
    let attempts = delivery.source_attempts.or(delivery.attempt);
    tell(
        shared,
        Some(&target),
        &Ending::DeadLettered { attempts },
        job.strings(),
        lease_until_ms,
        log,
    )
    .await;
    ack("dead-letter-told", "dead-lettered; the user was told")
}
