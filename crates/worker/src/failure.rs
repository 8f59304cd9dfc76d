//! Why a job cannot end in its image now: a [`Failure`], which says what
//! may be done about it (nothing, try again, or nothing more may be said),
//! and its [`Cause`], which keeps the error that made it.
//!
//! A cause is turned into words only where the delivery is answered and
//! logged ([`crate::verdict`]): its text is the verdict's detail, its
//! source chain stays with it until then.

use std::time::Duration;

use mandala_model::SpecError;
use mandala_queue::PublishError;

use crate::outcome::Outcome;
use crate::render::RenderFailure;
use crate::reply::discord::SendError;
use crate::reply::last_word::{Ending, Why};
use crate::store::StoreError;

/// What kept a job from its image, with the error behind it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Cause {
    #[error("invalid spec: {0}")]
    InvalidSpec(#[source] SpecError),
    #[error("invalid spec in the reply job: {0}")]
    InvalidReplySpec(#[source] SpecError),
    #[error("{0}")]
    Render(#[from] RenderFailure),
    #[error("storage check failed: {0}")]
    StoreCheck(#[source] StoreError),
    #[error("storing the image failed: {0}")]
    StorePut(#[source] StoreError),
    #[error("storing the preview failed: {0}")]
    StorePreview(#[source] StoreError),
    #[error("job deadline of {} s exceeded before the image was stored", .0.as_secs())]
    NotStoredInTime(Duration),
    #[error(
        "the interaction token would expire before the image could be sent (about {:.1} s of work, {kept_s} s kept for the reply); not started",
        .needed.as_secs_f64()
    )]
    OutOfTime { needed: Duration, kept_s: u64 },
    #[error("reading the image did not finish within the deadline of {} s", .0.as_secs())]
    NotReadInTime(Duration),
    #[error("reading the image failed: {0}")]
    Read(#[source] StoreError),
    #[error("the image {0} is not in the store")]
    NotStored(String),
    #[error("handing the reply to the reply stage failed: {0}")]
    HandOff(#[source] PublishError),
    #[error(
        "handing the reply on did not finish within the job deadline of {} s",
        .0.as_secs()
    )]
    NotHandedOffInTime(Duration),
    #[error("{0}")]
    Send(#[from] SendError),
    /// The token or the message is gone.
    #[error("{0}; nobody can be told")]
    Gone(#[source] SendError),
    #[error("Discord refused every smaller version as too large")]
    TooLargeForDiscord,
    #[error("reading the post record failed: {0}")]
    PostRecord(#[source] StoreError),
    #[error("reading a post claim failed: {0}")]
    PostClaimRead(#[source] StoreError),
    #[error("claiming the channel post failed: {0}")]
    PostClaim(#[source] StoreError),
    #[error(
        "another delivery claimed this channel post {:.1} s ago and has not recorded it; not posting",
        .0.as_secs_f64()
    )]
    PostClaimedElsewhere(Duration),
    #[error(
        "a delivery claimed this channel post {} s ago and never recorded a message: it may have been posted, so it is not posted again",
        .0.as_secs()
    )]
    PostFateUnknown(Duration),
    #[error("the channel post failed for sure {0} times")]
    PostFailedTooOften(u32),
}

/// Why a job cannot end in its image now.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Will never work: tell the user (unless the message itself is gone),
    /// acknowledge.
    Permanent {
        outcome: Outcome,
        cause: Cause,
        ending: Option<Ending>,
    },
    /// May work later: redeliver, unless this was the last attempt.
    Transient { cause: Cause, why: Why },
    /// The reply may have been delivered (a send whose answer never came, a
    /// channel post another delivery began): nothing may be said over it.
    /// Redeliver while attempts remain (an edit is idempotent; a claimed
    /// post is looked at again), then let go without a word.
    Unknown { cause: Cause },
}

impl Failure {
    /// For good, and the user is told `ending`.
    pub(crate) fn permanent(outcome: Outcome, cause: impl Into<Cause>, ending: Ending) -> Failure {
        Failure::Permanent {
            outcome,
            cause: cause.into(),
            ending: Some(ending),
        }
    }

    /// For good, and nobody is to be told.
    pub(crate) fn silent(outcome: Outcome, cause: impl Into<Cause>) -> Failure {
        Failure::Permanent {
            outcome,
            cause: cause.into(),
            ending: None,
        }
    }

    pub(crate) fn transient(cause: impl Into<Cause>, why: Why) -> Failure {
        Failure::Transient {
            cause: cause.into(),
            why,
        }
    }

    pub(crate) fn unknown(cause: impl Into<Cause>) -> Failure {
        Failure::Unknown {
            cause: cause.into(),
        }
    }

    /// What kept failing, for a failure that may pass.
    pub(crate) fn why(&self) -> Option<Why> {
        match self {
            Failure::Transient { why, .. } => Some(*why),
            _ => None,
        }
    }
}
