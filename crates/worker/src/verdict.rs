//! How a delivery ends: the [`Verdict`] the push is answered with, and how
//! a job's [`Failure`] comes to one on this attempt ([`settle`]).
//!
//! Acknowledge (2xx: Pub/Sub or Cloud Tasks forgets the message) or ask
//! for redelivery (non-2xx). Poison, expired tokens and replies Discord
//! will never accept are acknowledged, because redelivering them helps
//! nobody; storage failures and retryable Discord failures are not —
//! except on the last delivery attempt, when the user is told and the job
//! is let go. A reply whose fate is unknown is never talked over.

use http::StatusCode;

use crate::failure::Failure;
use crate::outcome::Outcome;
use crate::reply::last_word::Ending;

/// How a push ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done, or never doable.
    Ack { outcome: Outcome, detail: String },
    /// Non-2xx: Pub/Sub should redeliver later.
    Redeliver { status: StatusCode, detail: String },
}

impl Verdict {
    /// The outcome the job's line logs.
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Ack { outcome, .. } => *outcome,
            Verdict::Redeliver { .. } => Outcome::Redeliver,
        }
    }

    /// What the line and the answer say about it.
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Ack { detail, .. } | Verdict::Redeliver { detail, .. } => detail,
        }
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

/// What a job's result comes to on this attempt.
pub(crate) enum Settled {
    /// Answer with this: nobody is to be told anything.
    Done(Verdict),
    /// Answer with this, after telling the user this.
    Tell(Verdict, Ending),
}

/// Turns a job's result into its verdict on this delivery `attempt` of
/// `max_attempts`: a transient failure is redelivered until the last
/// attempt, which tells the user; a reply of unknown fate is redelivered,
/// and let go without a word on the last attempt. Here a failure's cause
/// becomes the words the push is answered and logged with.
pub(crate) fn settle(
    result: Result<Verdict, Failure>,
    attempt: Option<u32>,
    max_attempts: u32,
) -> Settled {
    let attempt = attempt.unwrap_or(0);
    let last = attempt >= max_attempts;
    match result {
        Ok(verdict) => Settled::Done(verdict),
        Err(Failure::Permanent {
            outcome,
            cause,
            ending: None,
        }) => Settled::Done(ack(outcome, cause.to_string())),
        Err(Failure::Permanent {
            outcome,
            cause,
            ending: Some(ending),
        }) => Settled::Tell(ack(outcome, cause.to_string()), ending),
        Err(Failure::Transient { cause, .. } | Failure::Unknown { cause }) if !last => {
            Settled::Done(redeliver(cause.to_string()))
        }
        // The last attempt: nobody will try again, so say so now.
        Err(Failure::Transient { cause, why }) => Settled::Tell(
            ack(
                Outcome::GaveUp,
                format!("last delivery attempt ({attempt}): {cause}"),
            ),
            Ending::GaveUp {
                attempts: attempt,
                why,
            },
        ),
        // The user may be looking at their image: no word over it.
        Err(Failure::Unknown { cause }) => Settled::Done(ack(
            Outcome::ReplyUnknown,
            format!(
                "last delivery attempt ({attempt}): {cause}; the image may have been delivered, so no final word follows"
            ),
        )),
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
