//! What a delivery tells the queue ledger, when this worker keeps it: the
//! job started (or was found cancelled), the job ended, and how fast this
//! instance renders. A ledger outage never stops a job: every call here
//! goes on without it.

use std::time::Duration;

use mandala_ledger::Start;
use mandala_model::Ticket;
use mandala_model::clock::now_ms;

use crate::config::Via;
use crate::outcome::Outcome;
use crate::state::Shared;
use crate::verdict::Verdict;

/// What the ledger says about going on with an admitted job.
pub(crate) enum Go {
    /// Go on; a waiting notice holds the message until this time (ms).
    Yes { lease_until_ms: u64 },
    /// Its entry is gone: the ingress cancelled it (the user was told to
    /// try again), so it must not be rendered.
    Cancelled,
}

/// Marks the job started in the ledger; a job a Cloud Tasks dispatch
/// delivers is marked for the stall watchdog too ([`Shared::ledger_for`]).
pub(crate) async fn begin(shared: &Shared, ticket: Option<&Ticket>, via: Via) -> Go {
    let (Some(ledger), Some(t)) = (shared.ledger_for(via), ticket) else {
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

/// An acknowledged job has ended: it leaves the ledger. (A job handed to
/// the reply stage has not: the reply stage ends it.)
pub(crate) async fn finish(shared: &Shared, verdict: &Verdict, ticket: Option<&Ticket>) {
    let (Verdict::Ack { outcome, .. }, Some(ledger), Some(t)) = (verdict, &shared.ledger, ticket)
    else {
        return;
    };
    if *outcome == Outcome::HandedOff {
        return;
    }
    if let Err(e) = ledger.end(t, now_ms()).await {
        tracing::warn!(error = %e, job = %t.job, "could not remove an ended job from the ledger");
    }
}

/// Records this instance's speed in the ledger, at most every few seconds.
pub(crate) fn report_speed(shared: &Shared) {
    let Some(ledger) = shared.ledger.clone() else {
        return;
    };
    let now = now_ms();
    if !shared.report_every.due(now) {
        return;
    }
    let stat = shared.calibrator.stat(now);
    tokio::spawn(async move {
        if let Err(e) = ledger.report_worker(stat).await {
            tracing::warn!(error = %e, "could not report this worker's speed");
        }
    });
}
