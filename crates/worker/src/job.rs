//! One push, start to finish: decode, check first, render, store, reply.
//!
//! Every path ends in a [`Verdict`]: acknowledge (2xx, Pub/Sub forgets the
//! message) or ask for redelivery (non-2xx). Poison, expired tokens and
//! replies Discord will never accept are acknowledged, because redelivering
//! them helps nobody; storage failures and retryable Discord failures are
//! not. Each job logs exactly one line with its timings and outcome.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use mandala_model::{Job, PushEnvelope, RENDER_VERSION};
use tokio::time::Instant;

use crate::render::RenderFailure;
use crate::reply::discord::SendError;
use crate::reply::message;
use crate::reply::target::{self, Plan};
use crate::state::Shared;
use crate::store::{NewObject, PutOutcome};

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

/// The fields of the one log line.
#[derive(Debug, Default)]
struct JobLog {
    message_id: String,
    attempt: Option<u32>,
    kind: &'static str,
    spec_hash: String,
    cache_hit: Option<bool>,
    decode_us: u64,
    queue_us: u64,
    render_us: Option<u64>,
    encode_us: Option<u64>,
    store_us: Option<u64>,
    reply_us: Option<u64>,
    reply_attempts: u32,
    location: String,
}

/// Runs the job in `body`; `deadline` bounds the whole push. `trace` is the
/// Cloud Logging trace of the push request, if it carried one.
pub async fn process(
    shared: &Shared,
    body: Bytes,
    deadline: Instant,
    trace: Option<String>,
) -> Verdict {
    let mut log = JobLog::default();
    let verdict = run(shared, &body, deadline, &mut log).await;
    let counters = &shared.stats;
    counters.add_timings(&crate::state::JobTimings {
        decode_us: log.decode_us,
        queue_us: log.queue_us,
        render_us: log.render_us,
        encode_us: log.encode_us,
        store_us: log.store_us,
        reply_us: log.reply_us,
    });
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    let (outcome, detail) = match &verdict {
        Verdict::Ack { outcome, detail } => {
            counters.count(outcome);
            (*outcome, detail.as_str())
        }
        Verdict::Redeliver { detail, .. } => {
            counters.count("redeliver");
            ("redeliver", detail.as_str())
        }
    };
    let level_warn = !matches!(outcome, "replied" | "stored");
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
                object = %log.location,
                outcome,
                "logging.googleapis.com/trace" = trace.as_deref(),
                "job {outcome}: {detail}"
            )
        };
    }
    if level_warn {
        line!(warn);
    } else {
        line!(info);
    }
    verdict
}

fn ack(outcome: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict::Ack {
        outcome,
        detail: detail.into(),
    }
}

fn redeliver(detail: impl Into<String>) -> Verdict {
    Verdict::Redeliver {
        status: StatusCode::SERVICE_UNAVAILABLE,
        detail: detail.into(),
    }
}

async fn run(shared: &Shared, body: &[u8], deadline: Instant, log: &mut JobLog) -> Verdict {
    let started = Instant::now();
    let envelope = match PushEnvelope::from_slice(body) {
        Ok(e) => e,
        Err(e) => return ack("rejected", e.to_string()),
    };
    log.message_id.clone_from(&envelope.message.message_id);
    log.attempt = envelope.delivery_attempt;
    if envelope.message.message_id.is_empty() {
        return ack("rejected", "push envelope has no messageId");
    }
    let job: Job = match envelope.decode_job() {
        Ok(j) => j,
        Err(e) => return ack("rejected", e.to_string()),
    };
    log.kind = job.kind.as_str();
    // Pub/Sub keeps the message id across redeliveries, so a job without a
    // seed still means one image however often it arrives.
    let spec = job
        .spec
        .clone()
        .with_seed_from(envelope.message.message_id.as_bytes());
    let resolved = match spec.resolve() {
        Ok(r) => r,
        Err(e) => return ack("rejected", format!("invalid spec: {e}")),
    };
    let name = resolved.object_name();
    log.spec_hash = resolved.hash().to_string();
    log.location = shared.store.location(&name);
    let plan = match target::plan(&job.reply, &shared.api_base, now_ms()) {
        Ok(p) => p,
        Err(e) => return ack("rejected", e.to_string()),
    };
    log.decode_us = (started.elapsed().as_micros() as u64).max(1);
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

    // Identical jobs in flight at once wait for each other here, so the
    // second finds the first's object instead of rendering it again.
    let lock = shared.lock_for(&name);
    let guard = lock.lock().await;

    let store_started = Instant::now();
    let existing = if target.is_some() {
        shared
            .store
            .get(&name)
            .await
            .map(|o| o.map(|o| (o.bytes, o.content_type)))
    } else {
        shared
            .store
            .exists(&name)
            .await
            .map(|e| e.then(|| (Bytes::new(), String::new())))
    };
    let existing = match existing {
        Ok(e) => e,
        Err(e) => return redeliver(format!("storage check failed: {e}")),
    };
    let mut store_us = us(store_started.elapsed());
    log.cache_hit = Some(existing.is_some());
    log.store_us = Some(store_us);

    let (bytes, content_type) = match existing {
        Some(found) => found,
        None => {
            let image = match shared.pool.render(resolved.clone()).await {
                Ok(i) => i,
                Err(e @ (RenderFailure::Refused(_) | RenderFailure::Crashed(_))) => {
                    return ack("render-failed", e.to_string());
                }
            };
            shared.stats.count("render");
            log.queue_us = image.queue_us;
            log.render_us = Some(image.render_us);
            log.encode_us = Some(image.encode_us);
            let put_started = Instant::now();
            let metadata = BTreeMap::from([
                ("spec".to_owned(), resolved.canonical_json()),
                ("seed".to_owned(), resolved.seed.to_string()),
                ("render-version".to_owned(), RENDER_VERSION.to_string()),
                ("summary".to_owned(), resolved.summary()),
            ]);
            let put = shared
                .store
                .put(NewObject {
                    name: name.clone(),
                    bytes: image.bytes.clone(),
                    content_type: image.content_type.clone(),
                    metadata,
                })
                .await;
            store_us += us(put_started.elapsed());
            log.store_us = Some(store_us);
            match put {
                Ok(PutOutcome::Created | PutOutcome::AlreadyExisted) => {}
                Err(e) => return redeliver(format!("storing the image failed: {e}")),
            }
            (image.bytes, image.content_type)
        }
    };
    drop(guard);
    shared.release_lock(&name, lock);

    let Some(target) = target else {
        return ack(
            "stored",
            format!("no reply requested; image at {}", log.location),
        );
    };
    let message = message::build(&job, &spec, &resolved, bytes, &content_type, &log.location);
    let reply_started = Instant::now();
    let sent = shared
        .discord
        .send(&target, &message, now_ms, deadline)
        .await;
    log.reply_us = Some(us(reply_started.elapsed()));
    match sent {
        Ok(report) => {
            log.reply_attempts = report.attempts;
            ack(
                "replied",
                format!("{} answered {}", target.describe(), report.status),
            )
        }
        Err(e) => {
            log.reply_attempts = e.attempts();
            match e {
                SendError::Drop { .. } => ack("reply-dropped", e.to_string()),
                SendError::Redeliver { .. } => redeliver(e.to_string()),
            }
        }
    }
}
