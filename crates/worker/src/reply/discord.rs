//! Sending the message to Discord, and what to do when Discord says no.
//!
//! The schedule (issue 5, item 5):
//! - 2xx: done.
//! - 429: wait `retry_after` if that fits the remaining budget, else give up
//!   for now ([`SendError::Redeliver`]: Pub/Sub tries again later).
//! - 5xx and network errors: retry with exponential backoff within the
//!   budget, then redeliver.
//! - 404 within ~10 s of the interaction's creation: Discord sometimes does
//!   not know a freshly deferred interaction yet; retry.
//! - 401/403/404 later, 400 and other 4xx: retrying cannot help
//!   ([`SendError::Drop`]: acknowledge and log).
//!
//! Waits carry jitter, so many workers that met the same outage do not
//! retry in step. Every attempt ends by the caller's deadline. A send that
//! would wait for a retry while the worker shuts down redelivers instead
//! ([`Discord::stop_retrying`]), rather than hold shutdown until then.
//!
//! A request that went out and got no answer (a timeout, a connection lost
//! after sending) may have been applied. An edit (`PATCH`) is idempotent
//! and is simply sent again; a channel post (`POST`) never is, and its
//! send ends at once. Either way, once any attempt's outcome is unknown the
//! send can no longer fail cleanly: it ends in [`SendError::Unknown`], and
//! the caller must not send a final word over what may be the image.

use std::sync::Arc;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{StatusCode, header};
use tokio::time::Instant;

use super::message::Message;
use super::target::Target;

/// How long after an interaction a 404 is taken for Discord's race.
pub const UNKNOWN_WEBHOOK_GRACE_MS: u64 = 10_000;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Each attempt's own limit, so one stuck connection cannot eat the budget.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// An attempt with less time than this left before the deadline is not
/// started: it would most likely end with its outcome unknown.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);
/// Kept after a wait for answering the queue.
const ANSWER_TIME: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not now: answer non-2xx so Pub/Sub redelivers.
    #[error("{why} (after {attempts} attempts)")]
    Redeliver { why: String, attempts: u32 },
    /// Never: acknowledge and log. `status` is Discord's answer, if any.
    #[error("{why} (after {attempts} attempts)")]
    Drop {
        why: String,
        attempts: u32,
        status: Option<u16>,
    },
    /// A request went out and its answer never came: the message may have
    /// been applied. Nothing may be sent over it.
    #[error("{why} (after {attempts} attempts; the message may have been applied)")]
    Unknown { why: String, attempts: u32 },
}

impl SendError {
    pub fn attempts(&self) -> u32 {
        match self {
            SendError::Redeliver { attempts, .. }
            | SendError::Drop { attempts, .. }
            | SendError::Unknown { attempts, .. } => *attempts,
        }
    }

    /// The send failed, but an earlier attempt may have been applied.
    fn unless_applied(self, maybe_applied: bool) -> SendError {
        match self {
            // The token or the message is gone: nothing shows either way.
            e @ SendError::Drop {
                status: Some(401 | 403 | 404),
                ..
            } => e,
            SendError::Redeliver { why, attempts } | SendError::Drop { why, attempts, .. }
                if maybe_applied =>
            {
                SendError::Unknown { why, attempts }
            }
            e => e,
        }
    }
}

/// Why an interaction callback failed (its words never hold the URL: it
/// holds the token).
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("network error: {0}")]
    Network(#[source] reqwest::Error),
    #[error(
        "interaction callback {status}{}",
        .message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
    )]
    Refused {
        status: StatusCode,
        message: Option<String>,
    },
}

/// Why the original response could not be looked at.
#[derive(Debug, thiserror::Error)]
pub enum LookError {
    #[error("network error: {0}")]
    Network(#[source] reqwest::Error),
    #[error("reading the original response: {0}")]
    Status(StatusCode),
    #[error("reading the original response: {0}")]
    Body(#[source] reqwest::Error),
}

#[derive(Debug, Clone, Default)]
pub struct SendReport {
    pub attempts: u32,
    pub status: u16,
    /// The message's id, when Discord returned the message (a webhook
    /// execution with `wait=true`, an edit).
    pub message_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Discord {
    http: reqwest::Client,
    user_agent: String,
    /// Set when the worker starts shutting down: no send waits for a retry.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

/// `User-Agent` Discord asks bots to send.
pub fn user_agent() -> String {
    format!(
        "DiscordBot ({}, {})",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}

enum Attempt {
    Done(u16, Option<String>),
    Wait(Duration, String),
    /// Not applied (Discord said so, or the request never went out).
    Retry(String),
    Drop(String, Option<u16>),
    /// Sent, and no answer: it may have been applied.
    Unknown(String),
}

/// A random number, different on every call: enough to spread retries and
/// tell deliveries apart, without a dependency (not for secrets).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Every RandomState is keyed anew.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x006d_616e_6461_6c61);
    h.finish()
}

/// A random fraction in [0, 1).
fn random_fraction() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A backoff spread over half to one and a half times itself.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(0.5 + random_fraction())
}

/// Discord's `retry_after`, plus up to a tenth of it and 100 ms: never
/// earlier than asked, and not all at the same moment.
fn after_rate_limit(wait: Duration) -> Duration {
    let r = random_fraction();
    wait + wait.mul_f64(0.1 * r) + Duration::from_millis((100.0 * r) as u64)
}

impl Discord {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Discord {
            http: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                // Webhook URLs are checked before use; a redirect must not move them.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            user_agent: user_agent(),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        })
    }

    /// From now on no send waits for a retry: it asks for redelivery.
    pub fn stop_retrying(&self) {
        self.stopping.send_replace(true);
    }

    /// Delivers `message`, retrying as the schedule allows; every attempt
    /// ends by `deadline`.
    pub async fn send(
        &self,
        target: &Target,
        message: &Message,
        now_ms: impl Fn() -> u64,
        deadline: Instant,
    ) -> Result<SendReport, SendError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        // Whether an attempt so far went out without an answer.
        let mut maybe_applied = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < MIN_ATTEMPT {
                let e = SendError::Redeliver {
                    why: "no time left for an attempt before the job deadline".into(),
                    attempts,
                };
                return Err(e.unless_applied(maybe_applied));
            }
            attempts += 1;
            let attempt = self
                .attempt(target, message, &now_ms, left.min(ATTEMPT_TIMEOUT))
                .await;
            let (wait, why) = match attempt {
                Attempt::Done(status, message_id) => {
                    return Ok(SendReport {
                        attempts,
                        status,
                        message_id,
                    });
                }
                Attempt::Drop(why, status) => {
                    let e = SendError::Drop {
                        why,
                        attempts,
                        status,
                    };
                    return Err(e.unless_applied(maybe_applied));
                }
                // A post that may have been made is never made again.
                Attempt::Unknown(why) if matches!(target, Target::Webhook { .. }) => {
                    return Err(SendError::Unknown { why, attempts });
                }
                Attempt::Wait(wait, why) => (after_rate_limit(wait), why),
                Attempt::Retry(why) => {
                    let wait = jittered(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (wait, why)
                }
                // An edit is idempotent: sending it again is safe.
                Attempt::Unknown(why) => {
                    maybe_applied = true;
                    let wait = jittered(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (wait, why)
                }
            };
            if let Err(why) = self.wait_to_retry(wait, &why, attempts, deadline).await {
                let e = SendError::Redeliver { why, attempts };
                return Err(e.unless_applied(maybe_applied));
            }
        }
    }

    /// Waits `wait` before the next attempt, or says why not: it would not
    /// fit the deadline (with a second to answer the queue), or shutdown.
    async fn wait_to_retry(
        &self,
        wait: Duration,
        why: &str,
        attempts: u32,
        deadline: Instant,
    ) -> Result<(), String> {
        if Instant::now() + wait + ANSWER_TIME > deadline {
            return Err(format!(
                "{why}; a retry in {:.1} s does not fit the job deadline",
                wait.as_secs_f64()
            ));
        }
        tracing::info!(
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            "discord: {why}; retrying"
        );
        if self.wait_unless_stopping(wait).await {
            Ok(())
        } else {
            Err(format!("{why}; the worker is shutting down, so no retry"))
        }
    }

    /// Waits `wait`; false, at once or part way, when the worker is
    /// shutting down.
    async fn wait_unless_stopping(&self, wait: Duration) -> bool {
        let mut stopping = self.stopping.subscribe();
        // `wait_for` sees a stop that came before the wait, too.
        tokio::select! {
            biased;
            _ = stopping.wait_for(|s| *s) => false,
            () = tokio::time::sleep(wait) => true,
        }
    }

    /// Answers an interaction with `message` through Discord's callback
    /// endpoint (`POST {url}` = `…/interactions/{id}/{token}/callback`), as
    /// a CHANNEL_MESSAGE_WITH_SOURCE carrying the file. One attempt: an
    /// interaction can be answered once, within 3 s. Returns Discord's
    /// status, or why it failed (without the URL: it holds the token).
    pub async fn respond(
        &self,
        url: reqwest::Url,
        message: &Message,
        timeout: Duration,
    ) -> Result<u16, RespondError> {
        let body = serde_json::json!({"type": 4, "data": message.payload});
        let form = form(serde_json::to_vec(&body)?, message)?;
        let response = self
            .http
            .post(url)
            .header(header::USER_AGENT, &self.user_agent)
            .multipart(form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| RespondError::Network(e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            Err(RespondError::Refused {
                status,
                message: body["message"].as_str().map(str::to_owned),
            })
        }
    }

    /// Whether the interaction's original response shows a finished job:
    /// an image, an embed or buttons (the deferred "Rendering…" message,
    /// waiting notices and final words carry none of them). `Ok(false)`
    /// when Discord knows no such message. Only for [`Target::Original`].
    pub async fn shows_result(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<bool, LookError> {
        let Target::Original { url, .. } = target else {
            return Ok(false);
        };
        let response = self
            .http
            .get(url.clone())
            .header(header::USER_AGENT, &self.user_agent)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| LookError::Network(e.without_url()))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !status.is_success() {
            return Err(LookError::Status(status));
        }
        let m: serde_json::Value = response
            .json()
            .await
            .map_err(|e| LookError::Body(e.without_url()))?;
        let some = |k: &str| m[k].as_array().is_some_and(|a| !a.is_empty());
        Ok(some("attachments") || some("embeds") || some("components"))
    }

    async fn attempt(
        &self,
        target: &Target,
        message: &Message,
        now_ms: &impl Fn() -> u64,
        timeout: Duration,
    ) -> Attempt {
        let request = match target {
            Target::Original { url, .. } | Target::WebhookMessage { url } => {
                self.http.patch(url.clone())
            }
            Target::Webhook { url } => self.http.post(url.clone()),
        };
        let payload_json = serde_json::to_vec(&message.payload).unwrap_or_default();
        let form = match form(payload_json, message) {
            Ok(form) => form,
            Err(e) => return Attempt::Drop(e.to_string(), None),
        };
        let sent = request
            .header(header::USER_AGENT, &self.user_agent)
            .multipart(form)
            .timeout(timeout)
            .send()
            .await;
        match sent {
            Ok(response) => answered(response, target, now_ms).await,
            Err(e) => unanswered(e, target, timeout),
        }
    }
}

/// Why a message could not be put in a form.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("cannot build payload_json: {0}")]
    Payload(#[source] reqwest::Error),
    #[error("bad content type {content_type}: {source}")]
    ContentType {
        content_type: String,
        source: reqwest::Error,
    },
}

/// `payload_json` and, if the message carries one, its file as
/// `files[0]`.
fn form(payload_json: Vec<u8>, message: &Message) -> Result<Form, FormError> {
    let payload = Part::bytes(payload_json)
        .mime_str("application/json")
        .map_err(FormError::Payload)?;
    let mut form = Form::new().part("payload_json", payload);
    if let Some(file) = &message.file {
        // `Part::stream` shares the bytes instead of copying the image per attempt.
        let part = Part::stream_with_length(
            reqwest::Body::from(file.bytes.clone()),
            file.bytes.len() as u64,
        )
        .file_name(file.filename.clone())
        .mime_str(&file.content_type)
        .map_err(|source| FormError::ContentType {
            content_type: file.content_type.clone(),
            source,
        })?;
        form = form.part("files[0]", part);
    }
    Ok(form)
}

/// An attempt that got no answer: one that never connected did not go
/// out; any other may have been applied. (The URL is left out of the
/// words: it holds the token.)
fn unanswered(e: reqwest::Error, target: &Target, timeout: Duration) -> Attempt {
    if e.is_connect() {
        return Attempt::Retry(format!("network error: {}", e.without_url()));
    }
    if e.is_timeout() {
        return Attempt::Unknown(format!(
            "{} sent, no answer within {:.1} s",
            target.describe(),
            timeout.as_secs_f64()
        ));
    }
    Attempt::Unknown(format!(
        "{} sent, connection lost: {}",
        target.describe(),
        e.without_url()
    ))
}

/// What Discord's answer to an attempt means (the schedule in the
/// module's documentation).
async fn answered(
    response: reqwest::Response,
    target: &Target,
    now_ms: &impl Fn() -> u64,
) -> Attempt {
    let status = response.status();
    if status.is_success() {
        let id = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|m| m["id"].as_str().map(str::to_owned));
        return Attempt::Done(status.as_u16(), id);
    }
    let retry_after_header = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let detail = format!(
        "{} {status}{}{}",
        target.describe(),
        body["code"]
            .as_u64()
            .map(|c| format!(" code {c}"))
            .unwrap_or_default(),
        body["message"]
            .as_str()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default(),
    );
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            let secs = body["retry_after"]
                .as_f64()
                .or(retry_after_header)
                .unwrap_or(1.0);
            let secs = if secs.is_finite() {
                secs.clamp(0.0, 3600.0)
            } else {
                3600.0
            };
            Attempt::Wait(Duration::from_secs_f64(secs), detail)
        }
        // A gateway that gave up on Discord's answer: a post behind
        // it may have been made.
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            if matches!(target, Target::Webhook { .. }) =>
        {
            Attempt::Unknown(detail)
        }
        s if s.is_server_error() => Attempt::Retry(detail),
        StatusCode::NOT_FOUND => match target {
            Target::Original {
                created_ms: Some(created),
                ..
            } if now_ms().saturating_sub(*created) < UNKNOWN_WEBHOOK_GRACE_MS => Attempt::Wait(
                Duration::from_secs(1),
                detail + " soon after the interaction",
            ),
            _ => Attempt::Drop(detail, Some(status.as_u16())),
        },
        _ => Attempt::Drop(detail, Some(status.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_spread_but_never_shorter_than_discord_asks() {
        let base = Duration::from_secs(2);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let b = jittered(base);
            assert!(b >= base / 2 && b < base * 3 / 2, "{b:?}");
            seen.insert(b);
            let r = after_rate_limit(base);
            assert!(
                r >= base && r <= base + base / 10 + Duration::from_millis(100),
                "{r:?}"
            );
        }
        assert!(seen.len() > 10, "not spread: {seen:?}");
    }

    #[tokio::test]
    async fn a_retry_wait_ends_when_the_worker_stops() {
        let discord = Discord::new().unwrap();
        let d = discord.clone();
        let waiting =
            tokio::spawn(async move { d.wait_unless_stopping(Duration::from_secs(60)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        discord.stop_retrying();
        let waited = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(!waited.unwrap().unwrap(), "the wait was cut short");
        assert!(!discord.wait_unless_stopping(Duration::from_secs(60)).await);
    }

    #[test]
    fn a_failure_after_a_lost_answer_is_unknown_unless_nothing_can_show() {
        let redeliver = || SendError::Redeliver {
            why: "500".into(),
            attempts: 2,
        };
        assert!(matches!(
            redeliver().unless_applied(true),
            SendError::Unknown { attempts: 2, .. }
        ));
        assert!(matches!(
            redeliver().unless_applied(false),
            SendError::Redeliver { .. }
        ));
        let gone = SendError::Drop {
            why: "404".into(),
            attempts: 3,
            status: Some(404),
        };
        assert!(matches!(
            gone.unless_applied(true),
            SendError::Drop {
                status: Some(404),
                ..
            }
        ));
    }
}
