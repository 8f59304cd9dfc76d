//! The reply stage: the finished image sent to where the job's reply goes
//! ([`send`]).
//!
//! When the image is too large for Discord (by our count, or by Discord's
//! 413), a smaller render of the same spec goes instead, with a note saying
//! where the full one is — or, from the reply stage of the split design,
//! which never renders, the message alone with that note ([`Smaller`]).
//! A channel post is claimed before it is made ([`crate::posts`]). A send
//! whose answer never came may have been applied, so nothing is said over
//! it ([`Failure::Unknown`]).

use bytes::Bytes;
use mandala_model::clock::now_ms;
use mandala_model::{Drawing, Job, RenderSpec};
use tokio::time::Instant;

use crate::failure::{Cause, Failure};
use crate::image;
use crate::joblog::JobLog;
use crate::outcome::Outcome;
use crate::posts::{self, Post, PostClaim};
use crate::reply::discord::{SendError, SendReport};
use crate::reply::last_word::{Ending, Why};
use crate::reply::message::{self, ATTACHMENT_LIMIT, Message};
use crate::reply::target::Target;
use crate::state::Shared;
use crate::verdict::{Verdict, ack};

/// How many messages one send may try: the image, then smaller versions
/// (or the link) after Discord's 413s.
const TRIES: usize = 3;

/// What to send: the image and what its message says.
pub(crate) struct Picture<'a> {
    pub(crate) job: &'a Job,
    /// The user's spec with the seed filled in (the buttons carry it).
    pub(crate) spec: &'a RenderSpec,
    pub(crate) drawing: &'a Drawing,
    pub(crate) file: File,
    pub(crate) smaller: Smaller,
}

/// The image attached, and the caption's line about it.
pub(crate) struct File {
    pub(crate) bytes: Bytes,
    pub(crate) content_type: String,
    /// A line for the caption (that a smaller preview is attached).
    pub(crate) note: Option<String>,
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

/// What the next try sends, as Discord's 413s shrink it.
struct Shrinking {
    file: File,
    /// Files above this many bytes are replaced by a smaller render.
    limit: usize,
    /// The file is left out, and the caption says where the image is.
    linked: bool,
}

/// Sends the image; `marker` is where a channel webhook's post is recorded
/// ([`posts::marker`]); every send ends by `by`.
pub(crate) async fn send(
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
        file,
        smaller,
    } = picture;
    let mut next = Shrinking {
        file,
        limit: ATTACHMENT_LIMIT,
        linked: false,
    };
    for _ in 0..TRIES {
        if next.file.bytes.len() > next.limit
            && smaller == Smaller::Render
            && let Some(p) = image::preview(shared, job, drawing, next.limit).await
        {
            next.file = File {
                bytes: p.bytes,
                content_type: p.content_type,
                note: Some(p.note),
            };
        }
        let message = compose(job, spec, drawing, &next, &log.location);
        // A channel post is not idempotent: it is claimed first, and a job
        // that posted before edits its message instead.
        let (to, claim) = destination(shared, target, marker).await?;
        match shared.discord.send(&to, &message, now_ms, by).await {
            Ok(report) => {
                log.reply_attempts += report.attempts;
                return Ok(delivered(shared, &to, claim.as_ref(), marker, report).await);
            }
            Err(e) => {
                log.reply_attempts += e.attempts();
                // A post that surely was not made frees the next claim.
                if let Some(claim) = &claim
                    && !matches!(e, SendError::Unknown { .. })
                {
                    posts::release(shared, claim).await;
                }
                shrink_after(e, &mut next, smaller)?;
            }
        }
    }
    Err(Failure::permanent(
        Outcome::ReplyDropped,
        Cause::TooLargeForDiscord,
        Ending::Refused("the image is too large".into()),
    ))
}

/// The message for this try.
fn compose(
    job: &Job,
    spec: &RenderSpec,
    drawing: &Drawing,
    next: &Shrinking,
    location: &str,
) -> Message {
    let file = &next.file;
    let message = message::build(
        job,
        spec,
        drawing,
        file.bytes.clone(),
        &file.content_type,
        location,
        file.note.as_deref(),
    );
    if next.linked {
        message::without_file(message, job.strings(), location)
    } else {
        message
    }
}

/// Where this try goes: the target itself, or for a channel webhook the
/// message an earlier delivery posted, or the target under this
/// delivery's claim.
async fn destination(
    shared: &Shared,
    target: &Target,
    marker: &str,
) -> Result<(Target, Option<PostClaim>), Failure> {
    Ok(match target {
        Target::Webhook { .. } => match posts::claim(shared, target, marker).await? {
            Post::Edit(edit) => (edit, None),
            Post::Mine(claim) => (target.clone(), Some(claim)),
        },
        _ => (target.clone(), None),
    })
}

/// The verdict of a send Discord took; a channel post is recorded.
async fn delivered(
    shared: &Shared,
    to: &Target,
    claim: Option<&PostClaim>,
    marker: &str,
    report: SendReport,
) -> Verdict {
    match (claim, &report.message_id) {
        (Some(_), Some(id)) => posts::record(shared, marker, id).await,
        // Posted, but the answer named no message: the claim stays, so
        // nothing posts it again.
        (Some(_), None) => tracing::warn!(
            "the channel post was made but its message id is unknown; a redelivery will not edit it"
        ),
        (None, _) => {}
    }
    ack(
        Outcome::Replied,
        format!("{} answered {}", to.describe(), report.status),
    )
}

/// What a refused send comes to: a smaller try when Discord found it too
/// large after all (its limit for this channel is lower than we assumed:
/// half the bytes, or the message with a link instead of the file), the
/// job's failure otherwise.
fn shrink_after(e: SendError, next: &mut Shrinking, smaller: Smaller) -> Result<(), Failure> {
    match e {
        SendError::Drop {
            status: Some(413), ..
        } if next.file.bytes.len() > 1024 && !next.linked => {
            match smaller {
                Smaller::Render => next.limit = next.file.bytes.len() / 2,
                Smaller::Link => next.linked = true,
            }
            Ok(())
        }
        // The token or the message is gone: nothing can be told.
        SendError::Drop {
            status: Some(401 | 403 | 404),
            ..
        } => Err(Failure::silent(Outcome::ReplyDropped, Cause::Gone(e))),
        SendError::Drop { ref why, .. } => {
            let short = why.clone();
            Err(Failure::permanent(
                Outcome::ReplyDropped,
                e,
                Ending::Refused(short),
            ))
        }
        SendError::Redeliver { .. } => Err(Failure::transient(e, Why::Discord)),
        SendError::Unknown { .. } => Err(Failure::unknown(e)),
    }
}
