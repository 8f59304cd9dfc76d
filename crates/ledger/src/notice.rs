//! Waiting notices: when a job waits much longer than its user was told,
//! its message says so, with a new estimate.
//!
//! The sweeper runs where the work is: in the worker while it has jobs in
//! flight (production: jobs wait exactly when workers are busy), and in the
//! local push delivery while it holds jobs (the local default, whose ledger
//! lives in the ingress). Several sweepers may run at once: each notice is
//! claimed through the ledger first, so one message gets one edit, and a
//! claimed notice holds a short lease the final edit waits out.
//!
//! A notice edits only the message's `content`; `@original` edits share a
//! small rate-limit bucket, so one message gets at most one notice every
//! [`crate::entry::NOTICE_INTERVAL_MS`].

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::json;

use crate::entry::NoticeTarget;
use crate::ledger::{DueNotice, Ledger};

/// Users whose notices one sweep claims at most.
const SWEEP_LIMIT: usize = 50;

/// One notice's HTTP budget.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(4);

/// Sends waiting notices to Discord.
#[derive(Debug, Clone)]
pub struct Notifier {
    http: reqwest::Client,
    api_base: Url,
    user_agent: String,
}

/// Why a notice did not go out.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("discord answered {status}")]
    Refused { status: StatusCode },
    #[error("network error: {0}")]
    Network(String),
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

    /// Replaces the original response's text.
    pub async fn edit(&self, target: &NoticeTarget, content: &str) -> Result<(), NoticeError> {
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
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .json(&json!({ "content": content, "allowed_mentions": { "parse": [] } }))
            .send()
            .await
            // Strip the URL: it holds the token.
            .map_err(|e| NoticeError::Network(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NoticeError::Refused { status })
        }
    }
}

/// The text of a waiting notice, in the user's language.
pub fn notice_text(notice: &DueNotice) -> String {
    let s = mandala_model::i18n::strings(Some(&notice.locale));
    let label = if notice.label.is_empty() {
        s.ack_render
    } else {
        notice.label.as_str()
    };
    let ready = s.ready(notice.estimate.wait);
    format!(
        "{label}\n{}",
        mandala_model::i18n::fill(s.still_waiting, &[("ready", &ready)])
    )
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub sent: u32,
    pub failed: u32,
}

/// Claims and sends every waiting notice that is due now.
pub async fn sweep(ledger: &Ledger, notifier: &Notifier, now_ms: u64) -> Sweep {
    let mut done = Sweep::default();
    let due = match ledger.claim_notices(now_ms, SWEEP_LIMIT).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for overdue jobs");
            return done;
        }
    };
    for notice in due {
        match notifier.edit(&notice.target, &notice_text(&notice)).await {
            Ok(()) => {
                done.sent += 1;
                tracing::info!(
                    job = %notice.job,
                    notices = notice.notices,
                    wait_ms = notice.estimate.wait.as_millis() as u64,
                    "told a waiting user the new estimate"
                );
            }
            Err(e) => {
                done.failed += 1;
                tracing::warn!(job = %notice.job, error = %e, "waiting notice not sent");
            }
        }
        if let Err(e) = ledger.notice_sent(&notice.user, &notice.job, now_ms).await {
            tracing::warn!(job = %notice.job, error = %e, "could not release a notice lease");
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
    now_ms: impl Fn() -> u64 + Send + 'static,
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
