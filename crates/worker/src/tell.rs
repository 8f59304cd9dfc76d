//! The last word: telling a waiting user why their image will not come.
//!
//! Every job a user waits for ends in the image or in a short message
//! saying why not ([`crate::reply::last_word`]). The word is last, and
//! never replaces an image: before it the worker looks at the message, and
//! an image already there stays. It has its own budget, kept out of the
//! job's deadline ([`LAST_WORD_BUDGET`]).

use std::time::Duration;

use mandala_model::clock::now_ms;
use mandala_model::i18n::Strings;
use tokio::time::Instant;

use crate::failure::Failure;
use crate::joblog::JobLog;
use crate::ledger::wait_out;
use crate::reply::last_word::{self, Ending};
use crate::reply::target::Target;
use crate::state::Shared;
use crate::verdict::{Settled, Told, Verdict, settle, with_told};

/// What a final failure message may take, kept out of the job's deadline.
pub(crate) const LAST_WORD_BUDGET: Duration = Duration::from_secs(8);

/// The time a delivery keeps after its work for the last word: rendering,
/// storing and every Discord send end by then.
pub(crate) fn reserve(job_deadline: Duration) -> Duration {
    LAST_WORD_BUDGET.min(job_deadline / 3)
}

/// Who may be waiting for a job, and how to reach them.
#[derive(Clone, Copy)]
pub(crate) struct Recipient<'a> {
    /// Where the job's reply goes; `None` when it goes nowhere.
    pub(crate) target: Option<&'a Target>,
    /// The user's language.
    pub(crate) strings: &'static Strings,
    /// A waiting notice holds the message until then (Unix ms).
    pub(crate) lease_until_ms: u64,
}

/// Settles a job's result on this attempt ([`settle`]) and, when that
/// says so, tells `to` why the image will not come.
pub(crate) async fn conclude(
    shared: &Shared,
    result: Result<Verdict, Failure>,
    attempt: Option<u32>,
    to: Recipient<'_>,
    log: &mut JobLog,
) -> Verdict {
    if let Some(why) = result.as_ref().err().and_then(Failure::why) {
        log.reason = Some(why);
    }
    match settle(result, attempt, shared.max_attempts) {
        Settled::Done(verdict) => verdict,
        Settled::Tell(verdict, ending) => with_told(verdict, tell(shared, to, &ending, log).await),
    }
}

/// Sends the last word, if someone is waiting for this job — unless the
/// message already shows an image: then that stays.
pub(crate) async fn tell(
    shared: &Shared,
    to: Recipient<'_>,
    ending: &Ending,
    log: &mut JobLog,
) -> Told {
    // Channel webhooks have nobody waiting: the failure is in the log line.
    let Some(target @ Target::Original { .. }) = to.target else {
        return Told::Nobody;
    };
    wait_out(to.lease_until_ms).await;
    let message = last_word::message(ending, to.strings);
    let budget_end = Instant::now() + LAST_WORD_BUDGET;
    if shows_image(shared, target).await {
        return Told::Shown;
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

/// Whether the message already shows an image this delivery does not know
/// of; when it cannot be looked at, the word goes anyway.
async fn shows_image(shared: &Shared, target: &Target) -> bool {
    match shared
        .discord
        .shows_result(target, LAST_WORD_BUDGET / 2)
        .await
    {
        Ok(true) => {
            tracing::info!("the message already shows an image; no final word over it");
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(error = %e, "could not look at the message before its final word; sending it");
            false
        }
    }
}
