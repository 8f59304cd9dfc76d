//! The one log line every delivery ends with ([`JobLog`], [`record`]):
//! its timings, what it was about and how it ended. Operators' metrics
//! and alerts are built on its fields (terraform/monitoring.tf), so they
//! are named here once; its level follows from the outcome.

use mandala_model::{Job, Salvaged, Ticket};
use mandala_service::logging::{cloud_trace, user_hash};

use crate::config::{Design, Role};
use crate::delivery::Delivery;
use crate::ledger;
use crate::reply::last_word::Why;
use crate::state::{Event, JobTimings, Shared};
use crate::verdict::Verdict;

/// The line's target, the same whichever route wrote it: log queries may
/// name it.
const TARGET: &str = "mandala_worker::job";

/// The fields of the one log line.
#[derive(Debug, Default)]
pub(crate) struct JobLog {
    pub(crate) message_id: String,
    pub(crate) attempt: Option<u32>,
    pub(crate) kind: &'static str,
    pub(crate) spec_hash: String,
    pub(crate) cache_hit: Option<bool>,
    pub(crate) decode_us: u64,
    pub(crate) queue_us: u64,
    pub(crate) render_us: Option<u64>,
    pub(crate) encode_us: Option<u64>,
    pub(crate) store_us: Option<u64>,
    pub(crate) reply_us: Option<u64>,
    pub(crate) reply_attempts: u32,
    pub(crate) location: String,
    /// The ledger's record of the job, when the ingress admitted it.
    pub(crate) ticket: Option<Ticket>,
    /// How much later than promised the image arrived (negative: earlier).
    pub(crate) late_ms: Option<i64>,
    /// The final failure message went out.
    pub(crate) told: bool,
    /// The interaction the job answers, as the ingress's line names it.
    pub(crate) interaction_id: Option<mandala_model::Snowflake>,
    /// Who asked, as [`mandala_service::logging::user_hash`].
    pub(crate) user: Option<String>,
    /// The design the job ran in.
    pub(crate) design: Option<Design>,
    /// The ingress's trace, carried with the job (Cloud Logging's form).
    pub(crate) trace: Option<String>,
    /// What kept failing, for a job redelivered or given up.
    pub(crate) reason: Option<Why>,
    /// It came from the dead-letter subscription.
    pub(crate) dead_letter: bool,
}

impl JobLog {
    /// What the line says about the job: its kind, its ticket, its
    /// interaction and user.
    pub(crate) fn note_job(&mut self, job: &Job) {
        self.kind = job.kind.as_str();
        self.ticket.clone_from(&job.ticket);
        if let mandala_model::Reply::Interaction(i) = &job.reply {
            self.interaction_id = Some(i.interaction_id.clone());
        }
        self.user = job.user().map(user_hash);
    }

    /// [`JobLog::note_job`] for a job read only in part.
    pub(crate) fn note_salvaged(&mut self, job: &Salvaged) {
        self.ticket.clone_from(&job.ticket);
        if let mandala_model::Reply::Interaction(i) = &job.reply {
            self.interaction_id = Some(i.interaction_id.clone());
        }
        self.user = job.ticket.as_ref().map(|t| user_hash(&t.user));
    }

    /// What the line says about the delivery: its message and attempt, the
    /// trace it carried and the design its arrival implies.
    pub(crate) fn note_delivery(&mut self, delivery: &Delivery, role: Role) {
        self.message_id.clone_from(&delivery.message_id);
        self.attempt = delivery.attempt;
        self.trace = delivery.trace_id.as_deref().map(cloud_trace);
        self.design = Some(Design::of(role, delivery.via));
    }

    fn timings(&self) -> JobTimings {
        JobTimings {
            decode_us: self.decode_us,
            queue_us: self.queue_us,
            render_us: self.render_us,
            encode_us: self.encode_us,
            store_us: self.store_us,
            reply_us: self.reply_us,
        }
    }
}

/// `Why` as the job line's `reason`.
fn reason(why: Why) -> &'static str {
    match why {
        Why::Store => "store",
        Why::Discord => "discord",
        Why::Slow => "slow",
        Why::Upgrade => "upgrade",
    }
}

/// A delivery has ended: an acknowledged job leaves the ledger, and the
/// line is written. `trace` is the push's own, if the job carried none.
pub(crate) async fn close(shared: &Shared, verdict: &Verdict, log: &JobLog, trace: Option<&str>) {
    ledger::finish(shared, verdict, log.ticket.as_ref()).await;
    record(shared, verdict, log, trace);
}

/// Counts the job and writes its one log line.
pub(crate) fn record(shared: &Shared, verdict: &Verdict, log: &JobLog, trace: Option<&str>) {
    let counters = &shared.stats;
    counters.add_timings(&log.timings());
    if log.told {
        counters.count(Event::Told);
    }
    let (outcome, detail) = (verdict.outcome(), verdict.detail());
    counters.count(Event::Ended(outcome));
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    let error_group = outcome.is_error().then(|| format!("job {outcome}"));
    // The carried trace joins the ingress's line; the push's own is the fallback.
    let trace = log.trace.as_deref().or(trace);
    let design = log.design.or_else(|| Design::of_role(shared.role));
    macro_rules! line {
        ($lvl:ident) => {
            tracing::$lvl!(
                target: TARGET,
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
                late_ms = log.late_ms,
                told_user = log.told,
                object = %log.location,
                outcome = outcome.as_str(),
                interaction_id = log.interaction_id.as_deref(),
                user = log.user.as_deref(),
                design = design.map(Design::as_str),
                reason = log.reason.map(reason),
                dead_letter = log.dead_letter.then_some(true),
                error_group = error_group.as_deref(),
                "logging.googleapis.com/trace" = trace,
                "job {outcome}: {detail}"
            )
        };
    }
    match outcome.level() {
        tracing::Level::ERROR => line!(error),
        tracing::Level::WARN => line!(warn),
        _ => line!(info),
    }
}
