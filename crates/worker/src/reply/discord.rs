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

use std::time::Duration;

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
}

impl SendError {
    pub fn attempts(&self) -> u32 {
        match self {
            SendError::Redeliver { attempts, .. } | SendError::Drop { attempts, .. } => *attempts,
        }
    }
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
    Retry(String),
    Drop(String, Option<u16>),
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
        })
    }

    /// Delivers `message`, retrying as the schedule allows until `deadline`.
    pub async fn send(
        &self,
        target: &Target,
        message: &Message,
        now_ms: impl Fn() -> u64,
        deadline: Instant,
    ) -> Result<SendReport, SendError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (wait, why) = match self.attempt(target, message, &now_ms).await {
                Attempt::Done(status, message_id) => {
                    return Ok(SendReport {
                        attempts,
                        status,
                        message_id,
                    });
                }
                Attempt::Drop(why, status) => {
                    return Err(SendError::Drop {
                        why,
                        attempts,
                        status,
                    });
                }
                Attempt::Wait(wait, why) => (wait, why),
                Attempt::Retry(why) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (wait, why)
                }
            };
            // Keep a second for answering Pub/Sub after the wait.
            if Instant::now() + wait + Duration::from_secs(1) > deadline {
                return Err(SendError::Redeliver {
                    why: format!(
                        "{why}; a retry in {:.1} s does not fit the job deadline",
                        wait.as_secs_f64()
                    ),
                    attempts,
                });
            }
            tracing::info!(
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                "discord: {why}; retrying"
            );
            tokio::time::sleep(wait).await;
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
    ) -> Result<u16, String> {
        let body = serde_json::json!({"type": 4, "data": message.payload});
        let payload_json = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut form = reqwest::multipart::Form::new().part(
            "payload_json",
            reqwest::multipart::Part::bytes(payload_json)
                .mime_str("application/json")
                .map_err(|e| e.to_string())?,
        );
        if let Some(file) = &message.file {
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(file.bytes.clone()),
                file.bytes.len() as u64,
            )
            .file_name(file.filename.clone())
            .mime_str(&file.content_type)
            .map_err(|e| e.to_string())?;
            form = form.part("files[0]", part);
        }
        let response = self
            .http
            .post(url)
            .header(header::USER_AGENT, &self.user_agent)
            .multipart(form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| format!("network error: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            Err(format!(
                "interaction callback {status}{}",
                body["message"]
                    .as_str()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ))
        }
    }

    async fn attempt(
        &self,
        target: &Target,
        message: &Message,
        now_ms: &impl Fn() -> u64,
    ) -> Attempt {
        let request = match target {
            Target::Original { url, .. } | Target::WebhookMessage { url } => {
                self.http.patch(url.clone())
            }
            Target::Webhook { url } => self.http.post(url.clone()),
        };
        let payload_json = serde_json::to_vec(&message.payload).unwrap_or_default();
        let mut form = reqwest::multipart::Form::new();
        match reqwest::multipart::Part::bytes(payload_json).mime_str("application/json") {
            Ok(part) => form = form.part("payload_json", part),
            Err(e) => return Attempt::Drop(format!("cannot build payload_json: {e}"), None),
        }
        if let Some(file) = &message.file {
            // `Part::stream` shares the bytes instead of copying the image per attempt.
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(file.bytes.clone()),
                file.bytes.len() as u64,
            )
            .file_name(file.filename.clone());
            match part.mime_str(&file.content_type) {
                Ok(part) => form = form.part("files[0]", part),
                Err(e) => {
                    return Attempt::Drop(
                        format!("bad content type {}: {e}", file.content_type),
                        None,
                    );
                }
            }
        }
        let response = match request
            .header(header::USER_AGENT, &self.user_agent)
            .multipart(form)
            .send()
            .await
        {
            Ok(r) => r,
            // Strip the URL: it holds the token.
            Err(e) => return Attempt::Retry(format!("network error: {}", e.without_url())),
        };
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
        let code = body["code"].as_u64();
        let detail = format!(
            "{} {status}{}{}",
            target.describe(),
            code.map(|c| format!(" code {c}")).unwrap_or_default(),
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
}
