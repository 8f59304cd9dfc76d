//! Waiting notices and the final words of jobs nobody will finish.
//!
//! When a job waits much longer than its user was told, its message says
//! so, with a new estimate. A job still waiting when its token has a
//! minute left, or started and then abandoned by a worker that nothing
//! will replace ([`crate::entry::Due`]), gets its final word instead and
//! leaves the queue, so no worker renders it afterwards.
//!
//! The sweeper runs where the work is: in the worker while it has jobs in
//! flight (production: jobs wait exactly when workers are busy), and in the
//! local push delivery while it holds jobs (the local default, whose ledger
//! lives in the ingress). Several sweepers may run at once: each message is
//! claimed through the ledger first ([`Ledger::claim`]), so one message gets
//! one edit.
//!
//! The final word is always last. A claim holds a lease on the message,
//! taken at claim time and long enough for the send: the send gets only
//! what is left of the lease (less a margin) and is abandoned past it, a
//! notice whose outcome is unknown keeps its lease until it runs out, and
//! a worker that starts the job waits the lease out before its own edit.
//! A claim writes only while its entry is still waiting: once a worker
//! started the job, no notice is claimed for it.
//!
//! A notice edits only the message's `content`; `@original` edits share a
//! small rate-limit bucket, so one message gets at most one notice every
//! [`crate::entry::NOTICE_INTERVAL_MS`].

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::{StatusCode, Url};
use serde_json::json;

use crate::backend::LedgerError;
use crate::entry::{Due, NOTICE_LEASE_MS, NoticeTarget, OUT_OF_TIME_MS};
use crate::estimate::{Estimate, estimate};
use crate::ledger::{Change, Ledger, now_ms};

/// Users whose records one sweep looks at, at most.
const SWEEP_LIMIT: usize = 50;

/// Users claimed and told at once within a sweep.
const SWEEP_CONCURRENCY: usize = 8;

/// One send's HTTP budget, at most.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(4);

/// A send must end this long before its lease does: Discord may apply a
/// request a moment after the sender stopped waiting for it.
const LEASE_MARGIN: Duration = Duration::from_millis(1_000);

/// A message a sweep has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub user: String,
    pub job: String,
    pub target: NoticeTarget,
    pub label: String,
    pub locale: String,
    pub due: Due,
    /// For a notice: the new estimate, already recorded as the new promise.
    pub estimate: Option<Estimate>,
    pub notices: u32,
    /// The message is this sweep's until then (Unix ms).
    pub lease_until_ms: u64,
}

impl Ledger {
    /// Users whose records have something due, at most `limit`.
    pub async fn due_users(&self, now_ms: u64, limit: usize) -> Result<Vec<String>, LedgerError> {
        let until = self.limit(None);
        self.call(until, self.inner.backend.due_notices(now_ms, limit))
            .await
    }

    /// Claims what is due in `user`'s record at `now_ms`: waiting notices
    /// (re-estimated, the new estimate recorded as the new promise) and
    /// final words (the entry ends: a worker that gets the job later finds
    /// it gone). Each claimed message is leased from `now_ms`. Entries
    /// whose token died are dropped on the way, so a record nobody ended
    /// does not keep coming back.
    pub async fn claim(&self, user: &str, now_ms: u64) -> Result<Vec<Claimed>, LedgerError> {
        let snapshot = self.snapshot_now(now_ms);
        let mut ended = Vec::new();
        let until = self.limit(None);
        let claimed = self
            .call(
                until,
                self.modify(user, now_ms, None, |queue| {
                    ended.clear();
                    let mut mine = Vec::new();
                    let due: Vec<(String, Due)> = queue
                        .live(now_ms)
                        .filter_map(|(id, e)| Some((id.clone(), e.due(now_ms)?)))
                        .collect();
                    for (id, mut due) in due {
                        let Some(e) = queue.jobs.get(&id) else {
                            continue;
                        };
                        let mut promise = None;
                        if due == Due::Notice {
                            // No totals, no honest promise: wait for them.
                            let Some(snapshot) = &snapshot else { continue };
                            // Ahead of it: this user's jobs accepted before it.
                            let mut earlier = queue.clone();
                            earlier
                                .jobs
                                .retain(|other, o| other != &id && o.accepted_ms <= e.accepted_ms);
                            let est = estimate(snapshot, &earlier.sums(now_ms), e.cost, now_ms);
                            // Never promise past the token's life.
                            let last_call = e.expires_ms.saturating_sub(OUT_OF_TIME_MS);
                            if now_ms + est.wait.as_millis() as u64 > last_call {
                                due = Due::OutOfTime;
                            } else {
                                promise = Some(est);
                            }
                        }
                        let Some(e) = queue.jobs.get_mut(&id) else {
                            continue;
                        };
                        let Some(target) = e.reply.clone() else {
                            continue;
                        };
                        e.lease_ms = now_ms + NOTICE_LEASE_MS;
                        if let Some(est) = promise {
                            e.notified_ms = now_ms;
                            e.notices += 1;
                            e.due_ms = now_ms + est.wait.as_millis() as u64;
                        } else {
                            ended.push(e.clone());
                            e.ended = true;
                        }
                        mine.push(Claimed {
                            user: user.to_owned(),
                            job: id.clone(),
                            target,
                            label: e.label.clone(),
                            locale: e.locale.clone(),
                            due,
                            estimate: promise,
                            notices: e.notices,
                            lease_until_ms: e.lease_ms,
                        });
                    }
                    if mine.is_empty() {
                        Change::Keep(mine)
                    } else {
                        Change::Write(mine)
                    }
                }),
            )
            .await?;
        let last = ended.len();
        for (i, e) in ended.iter().enumerate() {
            self.forget_in_snapshot(e, i + 1 == last);
        }
        Ok(claimed)
    }

    /// Releases a notice's lease once it was sent (or refused): the
    /// worker's final edit need not wait for it any longer.
    pub async fn notice_sent(&self, user: &str, job: &str, now_ms: u64) -> Result<(), LedgerError> {
        let until = self.limit(None);
        self.call(
            until,
            self.modify(user, now_ms, None, |queue| match queue.jobs.get_mut(job) {
                Some(e) if e.lease_ms != 0 && !e.ended => {
                    e.lease_ms = 0;
                    Change::Write(())
                }
                _ => Change::Keep(()),
            }),
        )
        .await
    }
}

/// Sends waiting notices and final words to Discord.
#[derive(Debug, Clone)]
pub struct Notifier {
    http: reqwest::Client,
    api_base: Url,
    user_agent: String,
}

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("discord answered {status}")]
    Refused { status: StatusCode },
    #[error("network error: {0}")]
    Network(#[source] reqwest::Error),
    #[error("no answer within {0:?}; it may still have been applied")]
    Unknown(Duration),
    #[error("its lease had too little time left to send it")]
    NoTime,
}

impl Notifier {
    /// `api_base` is Discord's REST base (or a stand-in's), without a
    /// trailing slash; `user_agent` is what the bot sends Discord.
    pub fn new(api_base: Url, user_agent: String) -> Result<Notifier, reqwest::Error> {
        Ok(Notifier {
            http: reqwest::Client::builder()
                .timeout(NOTICE_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            api_base,
            user_agent,
        })
    }

    /// Replaces the original response's text, by `until_ms` or not at all.
    pub async fn edit(
        &self,
        target: &NoticeTarget,
        content: &str,
        until_ms: u64,
    ) -> Result<(), NoticeError> {
        self.patch(
            target,
            &json!({ "content": content, "allowed_mentions": { "parse": [] } }),
            until_ms,
        )
        .await
    }

    /// Replaces the original response with a final text: no image, no
    /// buttons, no embed left from an earlier edit.
    pub async fn final_word(
        &self,
        target: &NoticeTarget,
        content: &str,
        until_ms: u64,
    ) -> Result<(), NoticeError> {
        self.patch(
            target,
            &json!({
                "content": content,
                "embeds": [],
                "components": [],
                "attachments": [],
                "allowed_mentions": { "parse": [] },
            }),
            until_ms,
        )
        .await
    }

    async fn patch(
        &self,
        target: &NoticeTarget,
        body: &serde_json::Value,
        until_ms: u64,
    ) -> Result<(), NoticeError> {
        // What is left of the lease by this clock, and never more than a
        // whole lease (a claim dated ahead of this clock, in tests).
        let left = Duration::from_millis(until_ms.saturating_sub(now_ms()).min(NOTICE_LEASE_MS))
            .saturating_sub(LEASE_MARGIN)
            .min(NOTICE_TIMEOUT);
        if left < Duration::from_millis(100) {
            return Err(NoticeError::NoTime);
        }
        let mut url = self.api_base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty().extend([
                "webhooks",
                &target.application_id,
                &target.token,
                "messages",
                "@original",
            ]);
        }
        let response = self
            .http
            .patch(url)
            .timeout(left)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .json(body)
            .send()
            .await
            // Strip the URL: it holds the token.
            .map_err(|e| {
                if e.is_timeout() {
                    NoticeError::Unknown(left)
                } else {
                    NoticeError::Network(e.without_url())
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NoticeError::Refused { status })
        }
    }
}

/// The text of a claimed message, in the user's language.
pub fn claimed_text(claimed: &Claimed) -> String {
    let s = mandala_model::i18n::strings(Some(&claimed.locale));
    match (claimed.due, claimed.estimate) {
        (Due::Notice, Some(estimate)) => {
            let label = if claimed.label.is_empty() {
                s.ack_render
            } else {
                claimed.label.as_str()
            };
            let ready = s.ready(estimate.wait);
            format!(
                "{label}\n{}",
                mandala_model::i18n::fill(s.still_waiting, &[("ready", &ready)])
            )
        }
        (Due::Stalled, _) => s.last_stalled.to_owned(),
        (Due::Notice | Due::OutOfTime, _) => s.last_out_of_time.to_owned(),
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Waiting notices sent.
    pub sent: u32,
    /// Final words sent (out of time, stalled).
    pub ended: u32,
    pub failed: u32,
}

/// Claims and sends everything due at `now_ms`, several users at once;
/// each user's claim is dated when it is made (`now_ms` plus the time the
/// sweep has taken so far), so its lease covers its own send.
pub async fn sweep(ledger: &Ledger, notifier: &Notifier, now_ms: u64) -> Sweep {
    let began = std::time::Instant::now();
    let clock = move || now_ms + began.elapsed().as_millis() as u64;
    let users = match ledger.due_users(now_ms, SWEEP_LIMIT).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for overdue jobs");
            return Sweep::default();
        }
    };
    futures::stream::iter(users)
        .map(|user| tell_user(ledger, notifier, user, clock))
        .buffer_unordered(SWEEP_CONCURRENCY)
        .fold(Sweep::default(), |mut all, one| async move {
            all.sent += one.sent;
            all.ended += one.ended;
            all.failed += one.failed;
            all
        })
        .await
}

/// Claims one user's due messages (each leased from this moment) and sends them.
async fn tell_user(
    ledger: &Ledger,
    notifier: &Notifier,
    user: String,
    clock: impl Fn() -> u64,
) -> Sweep {
    let mut done = Sweep::default();
    let claimed = match ledger.claim(&user, clock()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim a waiting notice");
            return done;
        }
    };
    for c in claimed {
        let text = claimed_text(&c);
        let sent = if c.due == Due::Notice {
            notifier.edit(&c.target, &text, c.lease_until_ms).await
        } else {
            notifier
                .final_word(&c.target, &text, c.lease_until_ms)
                .await
        };
        match (&sent, c.due) {
            (Ok(()), Due::Notice) => {
                done.sent += 1;
                tracing::info!(
                    job = %c.job,
                    notices = c.notices,
                    wait_ms = c.estimate.map(|e| e.wait.as_millis() as u64),
                    "told a waiting user the new estimate"
                );
            }
            (Ok(()), due) => {
                done.ended += 1;
                tracing::warn!(job = %c.job, ?due, told_user = true, "job ended by the sweeper");
            }
            (Err(e), due) => {
                done.failed += 1;
                tracing::warn!(job = %c.job, ?due, error = %e, "could not tell a waiting user");
            }
        }
        // A notice that surely went out (or surely did not) frees the
        // message at once; one whose outcome is unknown keeps its lease.
        let settled = matches!(
            sent,
            Ok(()) | Err(NoticeError::Refused { .. } | NoticeError::NoTime)
        );
        if c.due == Due::Notice
            && settled
            && let Err(e) = ledger.notice_sent(&c.user, &c.job, clock()).await
        {
            tracing::warn!(job = %c.job, error = %e, "could not release a notice lease");
        }
    }
    done
}

/// How often a busy process looks for overdue jobs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Sweeps every [`SWEEP_EVERY`] while `busy()` says there is work in this
/// process, until `stop` fires.
pub async fn run_sweeper(
    ledger: Ledger,
    notifier: Notifier,
    busy: impl Fn() -> bool + Send + 'static,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stop = stop;
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if busy() {
            sweep(&ledger, &notifier, now_ms()).await;
        }
    }
}
