//! The dispatcher of the local delivery: hands ready messages to delivery
//! tasks, POSTs each as a push envelope, retries with backoff, dead-letters
//! after the last attempt, records the worker's speed reports, and tells
//! the users of messages left at shutdown (the single design).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use mandala_ledger::{Ledger, Start, WorkerStat};
use mandala_model::PushEnvelope;
use mandala_model::clock::now_ms;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::{Pending, Shared, files, lock};
use crate::Payload;

/// Status codes a push endpoint acknowledges with (Pub/Sub's list).
const ACK_STATUSES: [u16; 5] = [102, 200, 201, 202, 204];

/// A worker's speed report is recorded at most this often.
pub(super) const REPORT_EVERY_MS: u64 = 2_000;

/// Gives the ledger back the entries of jobs resumed from the spool: an
/// in-memory ledger starts empty, and a job without an entry counts as
/// cancelled. Delivery waits until this is done.
async fn restore_entries<T: Payload>(shared: &Shared<T>, ledger: &Ledger) {
    let jobs: Vec<Arc<Pending<T>>> = lock(&shared.state)
        .pending
        .values()
        .map(|q| Arc::clone(&q.message))
        .collect();
    for message in jobs {
        let job = message.job.job();
        let (Some(t), mandala_model::Reply::Interaction(reply)) = (&job.ticket, &job.reply) else {
            continue;
        };
        let now = now_ms();
        let expires_ms = reply.token_expires_at_ms().unwrap_or(0);
        let mut entry = mandala_ledger::Entry::waiting(t.cost.0, now, t.due_ms, expires_ms);
        entry.locale = job.locale.clone().unwrap_or_default();
        entry.reply = Some(mandala_ledger::NoticeTarget {
            application_id: reply.application_id.clone(),
            token: reply.token.clone(),
        });
        if let Err(e) = ledger.restore(t, entry, now).await {
            tracing::warn!(error = %e, job = %t.job, "could not restore a spooled job in the ledger");
        }
    }
}

/// Hands ready messages to delivery tasks while the window has room.
pub(super) async fn dispatch<T: Payload>(shared: Arc<Shared<T>>) {
    if let Some(ledger) = &shared.ledger {
        restore_entries(&shared, ledger).await;
    }
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if shared.closing.load(Ordering::Acquire) {
            // Let shutdown's drain wait see the wake-ups from now on.
            shared.wake.notify_waiters();
            return;
        }
        let room = shared.in_flight.load(Ordering::Acquire) < shared.window.load(Ordering::Acquire);
        let next = if room {
            let mut state = lock(&shared.state);
            let state = &mut *state;
            std::iter::from_fn(|| state.lanes.take_next()).find_map(|id| {
                let q = state.pending.get_mut(&id)?;
                q.attempts += 1;
                Some((Arc::clone(&q.message), q.attempts))
            })
        } else {
            None
        };
        let Some((message, attempt)) = next else {
            woken.await;
            continue;
        };
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let s = Arc::clone(&shared);
        let mut tasks = lock(&shared.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            deliver(&s, &message, attempt).await;
            s.in_flight.fetch_sub(1, Ordering::AcqRel);
            s.wake.notify_waiters();
            s.wake.notify_one();
        });
    }
}

/// The message left the queue for good.
async fn forget<T: Payload>(shared: &Shared<T>, message: &Pending<T>) {
    {
        let mut state = lock(&shared.state);
        state.pending.remove(&message.message_id);
        state.lanes.done(&message.message_id, message.key());
    }
    shared.wake.notify_one();
    if let (Some(ledger), Some(t)) = (&shared.ledger, &message.job.job().ticket)
        && let Err(e) = ledger.end(t, now_ms()).await
    {
        tracing::warn!(error = %e, job = %t.job, "could not remove a finished job from the ledger");
    }
}

/// Marks an admitted job started before it is handed over; `false` if the
/// ledger says it was cancelled. Waits out a waiting notice being sent, so
/// the worker's final edit comes after it.
async fn start<T: Payload>(shared: &Shared<T>, message: &Pending<T>) -> bool {
    let (Some(ledger), Some(t)) = (&shared.ledger, &message.job.job().ticket) else {
        return true;
    };
    let now = now_ms();
    match ledger.start(t, now).await {
        Ok(Start::Missing) => false,
        Ok(Start::Running { lease_until_ms }) => {
            if lease_until_ms > now {
                tokio::time::sleep(Duration::from_millis(lease_until_ms - now)).await;
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, job = %t.job, "could not mark a job started; delivering anyway");
            true
        }
    }
}

/// One POST and what follows from its answer.
async fn deliver<T: Payload>(shared: &Arc<Shared<T>>, message: &Arc<Pending<T>>, attempt: u32) {
    if !start(shared, message).await {
        tracing::info!(message_id = %message.message_id, "job cancelled before delivery (its user was told to try again)");
        forget(shared, message).await;
        return;
    }
    let envelope = message.envelope(&shared.config.subscription, attempt);
    let outcome = match post(shared, &shared.config.url, &envelope).await {
        Ok((status, headers)) => {
            record_report(shared, &headers).await;
            if ACK_STATUSES.contains(&status.as_u16()) {
                Ok(())
            } else {
                Err(format!("push endpoint answered {status}"))
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            tracing::debug!(message_id = %message.message_id, attempt, "push acknowledged");
            forget(shared, message).await;
        }
        Err(error) if attempt >= shared.config.max_attempts => {
            tracing::error!(
                message_id = %message.message_id,
                attempt,
                %error,
                dead_letter = %shared.config.dead_letter_file.display(),
                "push delivery failed for the last time; dead-lettered"
            );
            if let Err(e) = files::dead_letter(&shared.config.dead_letter_file, &envelope, &error) {
                // Keep the message: it is spooled on shutdown instead of lost.
                tracing::error!(error = %e, "could not write the dead-letter file");
                return;
            }
            push_dead_letter(shared, &envelope).await;
            forget(shared, message).await;
        }
        Err(error) => {
            let delay = backoff(
                attempt,
                shared.config.min_backoff,
                shared.config.max_backoff,
            );
            tracing::warn!(
                message_id = %message.message_id,
                attempt,
                %error,
                retry_in_ms = delay.as_millis() as u64,
                "push delivery failed; will retry"
            );
            let s = Arc::clone(shared);
            let m = Arc::clone(message);
            lock(&shared.tasks).spawn(async move {
                tokio::time::sleep(delay).await;
                lock(&s.state).lanes.again(m.message_id.clone(), m.key());
                s.wake.notify_one();
            });
        }
    }
}

/// The dead-letter topic's push subscription, in miniature: gives the worker
/// the exhausted job so it can tell the user. Best effort, a few tries.
async fn push_dead_letter<T: Payload>(shared: &Shared<T>, envelope: &PushEnvelope) {
    for attempt in 1..=3u32 {
        match post(shared, &shared.config.dead_letter_url, envelope).await {
            Ok((status, _)) if ACK_STATUSES.contains(&status.as_u16()) => return,
            Ok((status, _)) => {
                tracing::warn!(%status, attempt, "the dead-letter endpoint did not take the job");
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not reach the dead-letter endpoint");
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
}

/// Reads the worker's speed report off its answer: the window follows its
/// render slots, and the ledger's estimate follows its speed.
async fn record_report<T: Payload>(shared: &Shared<T>, headers: &http::HeaderMap) {
    let now = now_ms();
    let Some(stat) = WorkerStat::from_headers(headers, now) else {
        return;
    };
    let slots = (stat.slots as usize).clamp(1, shared.config.concurrency.max(1));
    shared.window.store(slots, Ordering::Release);
    if !shared.report_every.due(now) {
        return;
    }
    if let Some(ledger) = &shared.ledger
        && let Err(e) = ledger.report_worker(stat).await
    {
        tracing::warn!(error = %e, "could not record the worker's speed");
    }
}

/// POSTs one envelope and returns the status and headers, within the ack
/// deadline: over HTTP, or through the in-process router.
async fn post<T: Payload>(
    shared: &Shared<T>,
    url: &http::Uri,
    envelope: &PushEnvelope,
) -> Result<(http::StatusCode, http::HeaderMap), String> {
    let body = serde_json::to_vec(envelope).map_err(|e| format!("cannot encode: {e}"))?;
    let request = http::Request::post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let exchange = async {
        if let Some(router) = &shared.config.in_process {
            use tower::ServiceExt as _;
            let response = router
                .clone()
                .oneshot(request.map(axum::body::Body::new))
                .await
                .map_err(|e| format!("push failed: {e}"))?;
            let (parts, body) = response.into_parts();
            let _ = body.collect().await;
            return Ok((parts.status, parts.headers));
        }
        let response = shared
            .client
            .request(request)
            .await
            .map_err(|e| format!("push failed: {e}"))?;
        let (parts, body) = response.into_parts();
        // Read the (small) answer to its end so the connection goes back to
        // the pool; a status already received stands even if this fails.
        let _ = body.collect().await;
        Ok((parts.status, parts.headers))
    };
    tokio::time::timeout(shared.config.ack_deadline, exchange)
        .await
        .unwrap_or_else(|_| Err("push endpoint did not answer within the ack deadline".to_owned()))
}

/// How long shutdown may spend telling the users of jobs it cannot finish.
const TELL_BUDGET: Duration = Duration::from_secs(4);

/// Shutdown without a spool: every message still queued goes to the
/// dead-letter route, whose handler tells its user, and leaves the ledger.
pub(super) async fn tell_left<T: Payload>(shared: &Arc<Shared<T>>, left: Vec<Pending<T>>) {
    if left.is_empty() {
        return;
    }
    tracing::warn!(
        count = left.len(),
        "jobs still queued at shutdown: telling their users they could not be finished"
    );
    let told = async {
        let mut all = JoinSet::new();
        for message in left {
            let s = Arc::clone(shared);
            all.spawn(async move {
                let envelope = message.envelope(&s.config.subscription, message.attempts.max(1));
                push_dead_letter(&s, &envelope).await;
                forget(&s, &message).await;
            });
        }
        while all.join_next().await.is_some() {}
    };
    if tokio::time::timeout(TELL_BUDGET, told).await.is_err() {
        tracing::error!("shutdown ended before every queued job's user was told");
    }
}

/// Exponential backoff after `attempt` failures, from `min` doubling up to
/// `max`, with jitter between half and the full delay so that a burst of
/// failures does not retry in lockstep.
fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let exp = min.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(max);
    full.mul_f64(0.5 + 0.5 * jitter_fraction())
}

/// A number in [0, 1) that differs between calls; not for cryptography.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .cast_unsigned(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..50 {
            let d1 = backoff(1, min, max);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = backoff(3, min, max);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d20 = backoff(20, min, max);
            assert!(
                d20 >= Duration::from_secs(5) && d20 <= Duration::from_secs(10),
                "{d20:?}"
            );
        }
    }
}
