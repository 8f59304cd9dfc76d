//! Admission: whether a job may join the queue, and what its user is told.
//!
//! Every render request passes the queue ledger before it is published:
//! 1. a user who already has `MAX_QUEUED_PER_USER` jobs waiting or rendering
//!    is told, privately, how many they have queued;
//! 2. a job expected to take longer than Discord lets us answer (an
//!    interaction token lives 15 minutes) is refused at once, privately,
//!    with the estimate;
//! 3. otherwise the job is recorded and its user sees when to expect it:
//!    `⏱️ ready in ~4 s · 3 jobs ahead`.
//!
//! If the ledger cannot answer in time (`LEDGER_TIMEOUT_MS`, and what the
//! answer budget leaves) the job is queued anyway, without an estimate —
//! but only while this instance has let fewer than `MAX_QUEUED_PER_USER`
//! of the user's jobs through recently (see `mandala_ledger::turns`): a
//! slow shared store must not turn into users seeing errors, nor into a
//! cap that gives way when it is pushed. A job whose ledger write was sent
//! but not answered carries a ticket marked `Recorded::Unknown`, so
//! whoever starts or ends it writes over an entry that lands late.

use std::fmt::Write as _;
use std::time::Duration;

use mandala_ledger::{Admission, AdmitRequest, Estimate, NoticeTarget, Written};
use mandala_model::discord::InteractionResponse;
use mandala_model::i18n::{Strings, fill};
use mandala_model::{Drawing, Job, Recorded, Reply, Ticket, wait};
use tokio::time::Instant;

use crate::outcome::Outcome;
use crate::state::AppState;

/// Refuse jobs expected to be ready later than this: the token lives 15
/// minutes, and the reply needs its own moment at the end.
pub const MAX_WAIT: Duration = Duration::from_secs(14 * 60);

/// What admission decided.
pub enum Decision {
    /// Publish `job` (with its ticket when the ledger recorded it) and
    /// answer with `text`.
    Queue {
        job: Box<Job>,
        text: String,
        estimate: Option<Estimate>,
    },
    /// Answer privately, queue nothing.
    Refuse {
        response: InteractionResponse,
        outcome: Outcome,
    },
}

/// The answer's second line, in the user's language: when to expect the
/// image.
pub fn expectation(estimate: &Estimate, s: &Strings) -> String {
    let ahead = estimate.others_ahead + estimate.yours_ahead;
    let mut line = format!("⏱️ {}", s.ready(estimate.wait));
    let jobs = |n: u64| match n {
        1 => s.one_job_ahead.to_owned(),
        n => fill(s.jobs_ahead, &[("n", &n.to_string())]),
    };
    let _ = match (ahead, estimate.yours_ahead) {
        (0, _) => Ok(()),
        (n, 0) => write!(line, " · {}", jobs(n)),
        (n, y) => write!(
            line,
            " · {} ({})",
            jobs(n),
            fill(s.yours_ahead, &[("n", &y.to_string())])
        ),
    };
    line
}

/// Passes `job` (whose acknowledgement reads `label`) through the ledger,
/// deciding by `deadline` whatever the ledger does.
pub async fn admit(
    state: &AppState,
    mut job: Job,
    drawing: &Drawing,
    label: String,
    s: &Strings,
    deadline: Instant,
) -> Decision {
    let Some(request) = request_for(&job, drawing, &label) else {
        // Manual jobs have no user to cap and nobody waiting for a promise.
        return Decision::Queue {
            job: Box::new(job),
            text: label,
            estimate: None,
        };
    };
    let ticket = |due_ms, recorded| Ticket {
        user: request.user.clone(),
        job: request.job.clone(),
        due_ms,
        cost: mandala_model::Cost(request.cost),
        expires_ms: request.expires_ms,
        recorded,
    };
    match state.ledger.admit(request.clone(), deadline).await {
        Admission::Accepted { estimate, due_ms } => {
            job.ticket = Some(ticket(due_ms, Recorded::Yes));
            let text = match &estimate {
                Some(e) => format!("{label}\n{}", expectation(e, s)),
                // No totals to promise from (yet): no promise.
                None => label,
            };
            Decision::Queue {
                job: Box::new(job),
                text,
                estimate,
            }
        }
        Admission::Unchecked { error, written } => {
            tracing::error!(
                error = %error,
                write_sent = written == Written::Maybe,
                "queue ledger unavailable; queueing without an estimate"
            );
            if written == Written::Maybe {
                job.ticket = Some(ticket(request.now_ms, Recorded::Unknown));
            }
            Decision::Queue {
                job: Box::new(job),
                text: label,
                estimate: None,
            }
        }
        Admission::Full { queued } => refuse(
            fill(s.queue_full, &[("n", &queued.to_string())]),
            Outcome::UserQueueFull,
        ),
        Admission::Busy => refuse(s.queue_busy.to_owned(), Outcome::UserBusy),
        Admission::TooLong { estimate } => refuse(
            fill(s.too_long, &[("wait", &wait::approx(estimate.wait))]),
            Outcome::QueueTooLong,
        ),
    }
}

/// What the ledger is asked for `job`: `None` for a job with no user or
/// no interaction to answer.
fn request_for(job: &Job, drawing: &Drawing, label: &str) -> Option<AdmitRequest> {
    let (Some(user), Reply::Interaction(reply)) = (job.user(), &job.reply) else {
        return None;
    };
    let now = crate::now_ms();
    Some(AdmitRequest {
        user: user.into(),
        job: reply.interaction_id.clone(),
        cost: drawing.cost().0,
        expires_ms: reply
            .token_expires_at_ms()
            .unwrap_or(now + mandala_model::job::TOKEN_LIFETIME_MS),
        label: label.to_owned(),
        locale: job.locale.clone().unwrap_or_default(),
        reply: Some(NoticeTarget {
            application_id: reply.application_id.clone(),
            token: reply.token.clone(),
        }),
        now_ms: now,
    })
}

/// The private answer to a job the ledger refused.
fn refuse(text: String, outcome: Outcome) -> Decision {
    Decision::Refuse {
        response: InteractionResponse::ephemeral(text),
        outcome,
    }
}

/// The job was not published after all: take it out of the ledger, so it
/// neither counts against its user nor gets rendered if the message
/// reaches a worker anyway. Runs after the answer, never before it: the
/// ledger retries in the background until it takes the change.
pub fn cancel(state: &AppState, job: &Job) {
    let Some(t) = job.ticket.clone() else { return };
    let ledger = state.ledger.clone();
    tokio::spawn(async move {
        if let Err(e) = ledger.end(&t, crate::now_ms()).await {
            tracing::warn!(error = %e, job = %t.job, "could not cancel a job in the ledger yet; retrying in the background");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(ms: u64, others: u64, yours: u64) -> Estimate {
        Estimate {
            wait: Duration::from_millis(ms),
            others_ahead: others,
            yours_ahead: yours,
        }
    }

    #[test]
    fn the_expectation_reads_at_a_glance() {
        let en = mandala_model::i18n::strings(None);
        assert_eq!(expectation(&estimate(3_600, 0, 0), en), "⏱️ ready in ~4 s");
        assert_eq!(
            expectation(&estimate(100_000, 1, 0), en),
            "⏱️ ready in ~2 min · 1 job ahead"
        );
        assert_eq!(
            expectation(&estimate(9_000, 3, 2), en),
            "⏱️ ready in ~9 s · 5 jobs ahead (2 of them yours)"
        );
        let de = mandala_model::i18n::strings(Some("de"));
        let line = expectation(&estimate(9_000, 3, 2), de);
        assert!(
            line.starts_with(&format!("⏱️ {} ~9 s · ", de.ready_in)),
            "{line}"
        );
    }
}
