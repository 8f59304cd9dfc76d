//! The start every delivery shares, whichever route it came by (a job, a
//! reply job, a dead letter): the delivery noted in the job's line, its
//! body decoded, its reply planned, and the job marked started in the
//! queue ledger ([`open`]). What a route's message is, and what it says
//! when it ends before any work, is [`Carried`].
//!
//! Before any work, a job is dropped when its user was told to try again
//! (the queue took it after the ingress gave up publishing it:
//! `abandoned`), and one whose interaction token has expired is let go
//! (`expired`). A message this build cannot decode is refused with its
//! final word — or, from a newer build (a rolling upgrade), redelivered
//! for a newer worker to take, and told on its last attempt
//! ([`unreadable`]).

use mandala_model::clock::now_ms;
use mandala_model::i18n::Strings;
use mandala_model::{Job, JobError, Reply, ReplyJob, Salvaged, Ticket};

use crate::delivery::{Delivery, DeliveryError};
use crate::joblog::JobLog;
use crate::ledger::{self, Go};
use crate::outcome::Outcome;
use crate::reply::last_word::{Ending, Why};
use crate::reply::target::{self, Plan, Target};
use crate::state::Shared;
use crate::tell::{self, Recipient};
use crate::verdict::{Verdict, ack, redeliver, with_told};

/// How much later than the ingress's `publish_by_ms` a queue's publish
/// time may read and still count as in time: the two clocks differ a
/// little. A publish the ingress saw succeed was stamped before it gave up.
const PUBLISH_CLOCK_SLACK_MS: u64 = 250;

/// Why a delivered body is not a message this build can serve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error("reply job is from a newer version of the bot: {what} ({source})")]
    NewerReplyJob {
        what: String,
        source: serde_json::Error,
    },
    #[error("not a reply job: {0}")]
    NotAReplyJob(#[source] serde_json::Error),
    /// A dead-lettered reply job, named by its JSON error alone.
    #[error(transparent)]
    DeadReplyJob(serde_json::Error),
}

impl DecodeError {
    /// It comes from a newer build, which could serve it.
    fn is_newer(&self) -> bool {
        match self {
            DecodeError::Job(e) => e.is_newer(),
            DecodeError::NewerReplyJob { .. } => true,
            DecodeError::NotAReplyJob(_) | DecodeError::DeadReplyJob(_) => false,
        }
    }
}

/// A body this build cannot decode, and what could be read of it.
#[derive(Debug)]
pub(crate) struct Undecoded {
    pub(crate) error: DecodeError,
    pub(crate) salvaged: Salvaged,
}

/// A job's body as the job route decodes it.
pub(crate) fn decode_job(data: &[u8]) -> Result<Job, Box<Undecoded>> {
    Job::from_json(data).map_err(|e| {
        Box::new(Undecoded {
            error: e.into(),
            salvaged: Salvaged::from_json(data),
        })
    })
}

/// A reply job's body as the reply stage decodes it.
pub(crate) fn decode_reply_job(data: &[u8]) -> Result<ReplyJob, Box<Undecoded>> {
    ReplyJob::from_json(data).map_err(|source| {
        let error = match ReplyJob::newer(data) {
            Some(what) => DecodeError::NewerReplyJob { what, source },
            None => DecodeError::NotAReplyJob(source),
        };
        Box::new(Undecoded {
            error,
            salvaged: ReplyJob::salvage(data),
        })
    })
}

/// What a route's message is: what the start reads of it, and what the
/// route says when the message ends before any work.
pub(crate) trait Carried: Sized {
    /// Whether the queue can take it after its user was told to try again:
    /// only a job's own delivery; a reply job or a dead letter is published
    /// later by design.
    const CAN_BE_ABANDONED: bool = false;

    fn reply(&self) -> &Reply;
    fn ticket(&self) -> Option<&Ticket>;
    /// The user's language, for the last word.
    fn strings(&self) -> &'static Strings;
    /// When the ingress gave up publishing it (Unix ms).
    fn publish_by_ms(&self) -> Option<u64>;
    /// What the job's line says about it.
    fn note(&self, shared: &Shared, log: &mut JobLog);
    /// The lease of a waiting notice, when the stage before this one began
    /// the job in the ledger (a reply job): then it is not begun again.
    fn begun(&self) -> Option<u64> {
        None
    }
    /// The verdict when its token expired `seconds_ago`.
    fn expired(&self, seconds_ago: u64) -> Verdict;
    /// The verdict when it asks for no reply; `None`: go on, storing only.
    fn no_reply(&self) -> Option<Verdict>;
    /// The verdict when the ledger has no entry for it.
    fn cancelled(&self) -> Verdict;
}

impl Carried for Job {
    const CAN_BE_ABANDONED: bool = true;

    fn reply(&self) -> &Reply {
        &self.reply
    }
    fn ticket(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }
    fn strings(&self) -> &'static Strings {
        Job::strings(self)
    }
    fn publish_by_ms(&self) -> Option<u64> {
        self.publish_by_ms
    }
    fn note(&self, _: &Shared, log: &mut JobLog) {
        log.note_job(self);
    }
    fn expired(&self, seconds_ago: u64) -> Verdict {
        ack(
            Outcome::Expired,
            format!("the interaction token expired {seconds_ago} s ago; not rendering"),
        )
    }
    fn no_reply(&self) -> Option<Verdict> {
        None
    }
    fn cancelled(&self) -> Verdict {
        cancelled()
    }
}

impl Carried for ReplyJob {
    fn reply(&self) -> &Reply {
        &self.job.reply
    }
    fn ticket(&self) -> Option<&Ticket> {
        self.job.ticket.as_ref()
    }
    fn strings(&self) -> &'static Strings {
        self.job.strings()
    }
    fn publish_by_ms(&self) -> Option<u64> {
        None
    }
    fn note(&self, shared: &Shared, log: &mut JobLog) {
        log.note_job(&self.job);
        log.location = shared.store.location(&self.image.object);
    }
    fn begun(&self) -> Option<u64> {
        Some(self.lease_until_ms)
    }
    fn expired(&self, seconds_ago: u64) -> Verdict {
        ack(
            Outcome::Expired,
            format!("the interaction token expired {seconds_ago} s ago; not replying"),
        )
    }
    fn no_reply(&self) -> Option<Verdict> {
        Some(ack(Outcome::Stored, "the job asked for no reply"))
    }
    fn cancelled(&self) -> Verdict {
        // Not reached: a reply job is not begun again (`begun`).
        cancelled()
    }
}

/// A delivery ready for its route's own work.
pub(crate) struct Opened<T> {
    pub(crate) delivery: Delivery,
    pub(crate) message: T,
    /// Where the reply goes; `None` when it goes nowhere (store only).
    pub(crate) target: Option<Target>,
    /// A waiting notice holds the message until then (Unix ms).
    pub(crate) lease_until_ms: u64,
}

impl<T: Carried> Opened<T> {
    /// Who may be waiting for the job.
    pub(crate) fn recipient(&self) -> Recipient<'_> {
        Recipient {
            target: self.target.as_ref(),
            strings: self.message.strings(),
            lease_until_ms: self.lease_until_ms,
        }
    }
}

/// The start of a delivery: noted, decoded by `decode`, planned and begun;
/// or the verdict it ends with before any work.
pub(crate) async fn open<T: Carried>(
    shared: &Shared,
    delivery: Result<Delivery, DeliveryError>,
    decode: impl FnOnce(&[u8]) -> Result<T, Box<Undecoded>>,
    log: &mut JobLog,
) -> Result<Opened<T>, Verdict> {
    let delivery = delivery.map_err(|e| ack(Outcome::Rejected, e.to_string()))?;
    log.note_delivery(&delivery, shared.role);
    let message = match decode(&delivery.data) {
        Ok(m) => m,
        Err(undecoded) => {
            let Undecoded { error, salvaged } = *undecoded;
            log.ticket.clone_from(&salvaged.ticket);
            if T::CAN_BE_ABANDONED
                && let Some(abandoned) = abandoned(salvaged.publish_by_ms, &delivery)
            {
                return Err(abandoned);
            }
            return Err(unreadable(shared, &delivery, error, salvaged, log).await);
        }
    };
    message.note(shared, log);
    if T::CAN_BE_ABANDONED
        && let Some(abandoned) = abandoned(message.publish_by_ms(), &delivery)
    {
        return Err(abandoned);
    }
    let target = plan(shared, &message).await?;
    let lease_until_ms = match message.begun() {
        Some(lease) => lease,
        None => match ledger::begin(shared, message.ticket(), delivery.via).await {
            Go::Yes { lease_until_ms } => lease_until_ms,
            Go::Cancelled => return Err(message.cancelled()),
        },
    };
    Ok(Opened {
        delivery,
        message,
        target,
        lease_until_ms,
    })
}

/// Where the message's reply goes, checked (a webhook secret read) now.
async fn plan<T: Carried>(shared: &Shared, message: &T) -> Result<Option<Target>, Verdict> {
    let planned =
        target::plan_job(message.reply(), &shared.api_base, &shared.secrets, now_ms()).await;
    match planned {
        Ok(Plan::Send(t)) => Ok(Some(t)),
        Ok(Plan::Expired { seconds_ago }) => Err(message.expired(seconds_ago)),
        Ok(Plan::Nothing) => message.no_reply().map_or(Ok(None), Err),
        Err(e) if e.is_transient() => Err(redeliver(e.to_string())),
        Err(e) => Err(ack(Outcome::Rejected, e.to_string())),
    }
}

/// The verdict for a job its user was told to retry: the queue took it
/// (`delivery`'s publish time) after the ingress had given up publishing
/// it (`publish_by_ms`). Nothing is rendered, nobody is told.
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

/// A job (or reply job) this build cannot decode. One from a newer build
/// is redelivered for a newer worker to take while attempts remain; on the
/// last attempt, and at once for a malformed one, its user is told, if
/// what could be read of it (`salvaged`) says where.
async fn unreadable(
    shared: &Shared,
    delivery: &Delivery,
    error: DecodeError,
    salvaged: Salvaged,
    log: &mut JobLog,
) -> Verdict {
    let attempt = delivery.attempt.unwrap_or(0);
    let (verdict, ending) = if error.is_newer() {
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
        // What the user reads: the error's own words.
        let words = error.to_string();
        (
            ack(Outcome::Rejected, words.clone()),
            Ending::InvalidSpec(words),
        )
    };
    let Ok(Plan::Send(target)) = target::plan(&salvaged.reply, &shared.api_base, now_ms()) else {
        return verdict;
    };
    let lease_until_ms = match ledger::begin(shared, salvaged.ticket.as_ref(), delivery.via).await {
        Go::Yes { lease_until_ms } => lease_until_ms,
        Go::Cancelled => return cancelled(),
    };
    let to = Recipient {
        target: Some(&target),
        strings: salvaged.strings(),
        lease_until_ms,
    };
    let told = tell::tell(shared, to, &ending, log).await;
    with_told(verdict, told)
}

/// The verdict for a job the ledger has no entry for.
fn cancelled() -> Verdict {
    ack(
        Outcome::Cancelled,
        "the ledger has no entry for this job: it was cancelled (its user was told to try again) or has ended",
    )
}
