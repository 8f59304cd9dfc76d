//! The dead-letter route (`POST /pubsub/dead-letter`): a job, or a reply
//! job, every delivery failed without the worker giving an answer (it
//! crashed, or the job outlived the ack deadline).
//!
//! Its user is told, once — also when the message itself cannot be
//! decoded but its interaction can be read. A user who could not be told
//! while their token lives is tried again (non-2xx): the dead-letter
//! subscription redelivers.

use mandala_model::clock::now_ms;
use mandala_model::i18n::Strings;
use mandala_model::{Job, Reply, ReplyJob, Salvaged, Ticket};

use crate::delivery::Delivery;
use crate::joblog::{self, JobLog};
use crate::outcome::Outcome;
use crate::reply::last_word::Ending;
use crate::start::{self, Carried, DecodeError, Undecoded};
use crate::state::{Event, Shared};
use crate::tell;
use crate::verdict::{Told, Verdict, ack, redeliver};

/// A dead letter as read: its job, or what could be read of it.
pub(crate) enum Letter {
    Job(Job),
    Unreadable {
        salvaged: Salvaged,
        error: DecodeError,
    },
}

impl Letter {
    /// A dead-lettered job.
    fn of_job(data: &[u8]) -> Letter {
        Letter::read(start::decode_job(data))
    }

    /// A dead-lettered reply job: its job is what its user waits for.
    fn of_reply_job(data: &[u8]) -> Letter {
        match ReplyJob::from_json(data) {
            Ok(reply) => Letter::Job(reply.job),
            Err(e) => Letter::Unreadable {
                salvaged: ReplyJob::salvage(data),
                error: DecodeError::DeadReplyJob(e),
            },
        }
    }

    fn read(decoded: Result<Job, Box<Undecoded>>) -> Letter {
        match decoded {
            Ok(job) => Letter::Job(job),
            Err(undecoded) => {
                let Undecoded { error, salvaged } = *undecoded;
                Letter::Unreadable { salvaged, error }
            }
        }
    }
}

impl Carried for Letter {
    fn reply(&self) -> &Reply {
        match self {
            Letter::Job(job) => &job.reply,
            Letter::Unreadable { salvaged, .. } => &salvaged.reply,
        }
    }
    fn ticket(&self) -> Option<&Ticket> {
        match self {
            Letter::Job(job) => job.ticket.as_ref(),
            Letter::Unreadable { salvaged, .. } => salvaged.ticket.as_ref(),
        }
    }
    fn strings(&self) -> &'static Strings {
        match self {
            Letter::Job(job) => job.strings(),
            Letter::Unreadable { salvaged, .. } => salvaged.strings(),
        }
    }
    fn publish_by_ms(&self) -> Option<u64> {
        None
    }
    fn note(&self, _: &Shared, log: &mut JobLog) {
        match self {
            Letter::Job(job) => log.note_job(job),
            Letter::Unreadable { salvaged, .. } => log.note_salvaged(salvaged),
        }
    }
    fn expired(&self, seconds_ago: u64) -> Verdict {
        ack(
            Outcome::Expired,
            format!("dead-lettered; the token expired {seconds_ago} s ago, nobody can be told"),
        )
    }
    fn no_reply(&self) -> Option<Verdict> {
        let detail = match self {
            Letter::Unreadable { error, .. } => {
                format!("dead-lettered and unreadable ({error}); nobody to tell")
            }
            Letter::Job(_) => "dead-lettered; no reply requested".to_owned(),
        };
        Some(ack(Outcome::DeadLetterLogged, detail))
    }
    fn cancelled(&self) -> Verdict {
        // Already ended (its user was told) or cancelled.
        ack(Outcome::DeadLetterLogged, "dead-lettered; already ended")
    }
}

/// A job from the dead-letter subscription.
pub async fn job(shared: &Shared, body: &[u8]) -> Verdict {
    route(shared, body, Letter::of_job).await
}

/// A reply job from the reply stage's dead-letter subscription.
pub async fn reply_job(shared: &Shared, body: &[u8]) -> Verdict {
    route(shared, body, Letter::of_reply_job).await
}

async fn route(shared: &Shared, body: &[u8], read: fn(&[u8]) -> Letter) -> Verdict {
    let mut log = JobLog {
        dead_letter: true,
        ..JobLog::default()
    };
    let verdict = tell_once(shared, body, read, &mut log).await;
    joblog::close(shared, &verdict, &log, None).await;
    shared.stats.count(Event::DeadLettered);
    verdict
}

async fn tell_once(
    shared: &Shared,
    body: &[u8],
    read: fn(&[u8]) -> Letter,
    log: &mut JobLog,
) -> Verdict {
    let delivery = Delivery::from_push(body);
    let opened = match start::open(shared, delivery, |data| Ok(read(data)), log).await {
        Ok(o) => o,
        Err(verdict) => return verdict,
    };
    // Pub/Sub says how often it tried in an attribute of the forwarded message.
    let attempts = opened.delivery.source_attempts.or(opened.delivery.attempt);
    let ending = Ending::DeadLettered { attempts };
    let told = tell::tell(shared, opened.recipient(), &ending, log).await;
    match told {
        Told::Yes => ack(Outcome::DeadLetterTold, "dead-lettered; the user was told"),
        Told::Shown => ack(
            Outcome::DeadLetterLogged,
            "dead-lettered; the message already shows the image, so nothing was said",
        ),
        Told::Failed if token_alive(opened.message.reply()) => {
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
