//! Where a job's reply goes.
//!
//! Webhook URLs come from job messages, which operators type by hand, or
//! from the Secret Manager secret a job names (the daily mandala's); which
//! ones are allowed is [`mandala_model::discord::webhook`]'s rule, shared
//! with `mandala publish` so that a job the worker would refuse is refused
//! before it is queued. A refused one makes the job poison rather than a
//! way to make the worker call internal addresses.

use mandala_model::discord::webhook::{self, WebhookRefusal};
use mandala_model::discord::{snowflake, token};
use mandala_model::{InteractionReply, Reply, Snowflake};
use reqwest::Url;

use super::secret::{SecretError, Secrets};

/// A checked reply destination.
#[derive(Clone)]
pub enum Target {
    /// `PATCH {base}/webhooks/{app}/{token}/messages/@original`.
    Original {
        url: Url,
        /// When the interaction was created (Unix ms), for the early-404 race.
        created_ms: Option<u64>,
    },
    /// `POST {url}?wait=true`.
    Webhook { url: Url },
    /// `PATCH {webhook}/messages/{id}`: a message this job already posted
    /// through the webhook (a redelivery edits it instead of posting again).
    WebhookMessage { url: Url },
}

impl std::fmt::Debug for Target {
    // URLs hold tokens: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Original { .. } => f.write_str("Target::Original(<redacted>)"),
            Target::Webhook { .. } => f.write_str("Target::Webhook(<redacted>)"),
            Target::WebhookMessage { .. } => f.write_str("Target::WebhookMessage(<redacted>)"),
        }
    }
}

impl Target {
    pub fn describe(&self) -> &'static str {
        match self {
            Target::Original { .. } => "interaction response",
            Target::Webhook { .. } => "channel webhook",
            Target::WebhookMessage { .. } => "channel webhook message",
        }
    }
}

impl Target {
    /// For a webhook, the message `id` it posted, to edit in place
    /// (`thread_id` kept, `wait` dropped); `None` for other targets.
    pub fn posted_message(&self, id: &str) -> Option<Target> {
        let Target::Webhook { url } = self else {
            return None;
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut edit = url.clone();
        edit.path_segments_mut().ok()?.extend(["messages", id]);
        let keep: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k == "thread_id")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        edit.set_query(None);
        if !keep.is_empty() {
            let mut q = edit.query_pairs_mut();
            for (k, v) in &keep {
                q.append_pair(k, v);
            }
        }
        Some(Target::WebhookMessage { url: edit })
    }
}

/// Why a reply destination is refused; the job is poison.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("interaction_id {0:?} is not a Discord snowflake")]
    NotASnowflake(Snowflake),
    #[error("application_id {0:?} is not a Discord snowflake")]
    BadApplication(Snowflake),
    #[error("interaction token is not a Discord token ({})", token::RULE)]
    BadToken,
    #[error("webhook_url is not allowed: {0}")]
    Webhook(WebhookRefusal),
    #[error("the webhook URL in {secret} is not allowed: {why}")]
    SecretWebhook { secret: String, why: WebhookRefusal },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("webhook_secret {0} was not read before planning")]
    SecretNotRead(String),
}

impl TargetError {
    /// Whether the job may succeed later (a secret that could not be read
    /// now); every other refusal is for good.
    pub fn is_transient(&self) -> bool {
        matches!(self, TargetError::Secret(e) if e.is_transient())
    }
}

/// What the reply half of a job means, now.
#[derive(Debug)]
pub enum Plan {
    Send(Target),
    /// The interaction token expired this many seconds ago: nobody can be told.
    Expired {
        seconds_ago: u64,
    },
    /// Store only.
    Nothing,
}

fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a job's reply against the API base and the clock; a webhook
/// named by a secret is read first, and its URL must pass the same checks
/// as one given in the job.
pub async fn plan_job(
    reply: &Reply,
    api_base: &Url,
    secrets: &Secrets,
    now_ms: u64,
) -> Result<Plan, TargetError> {
    let Reply::WebhookSecret(name) = reply else {
        return plan(reply, api_base, now_ms);
    };
    let raw = secrets.access(name).await?;
    match webhook(&raw, api_base) {
        Ok(url) => Ok(Plan::Send(Target::Webhook { url })),
        Err(TargetError::Webhook(why)) => Err(TargetError::SecretWebhook {
            secret: name.clone(),
            why,
        }),
        Err(e) => Err(e),
    }
}

/// [`plan_job`] for replies that need no secret read.
pub fn plan(reply: &Reply, api_base: &Url, now_ms: u64) -> Result<Plan, TargetError> {
    match reply {
        Reply::None => Ok(Plan::Nothing),
        Reply::Interaction(i) => interaction(i, api_base, now_ms),
        Reply::WebhookUrl(raw) => {
            webhook(raw, api_base).map(|url| Plan::Send(Target::Webhook { url }))
        }
        Reply::WebhookSecret(name) => Err(TargetError::SecretNotRead(name.clone())),
    }
}

fn interaction(i: &InteractionReply, api_base: &Url, now_ms: u64) -> Result<Plan, TargetError> {
    if !is_snowflake(&i.application_id) {
        return Err(TargetError::BadApplication(i.application_id.clone()));
    }
    let expires = i
        .token_expires_at_ms()
        .filter(|_| is_snowflake(&i.interaction_id))
        .ok_or_else(|| TargetError::NotASnowflake(i.interaction_id.clone()))?;
    // The token becomes a path segment: `.` or `..` would aim elsewhere.
    if !token::is_plausible(&i.token) {
        return Err(TargetError::BadToken);
    }
    if expires <= now_ms {
        return Ok(Plan::Expired {
            seconds_ago: (now_ms - expires) / 1000,
        });
    }
    let mut url = api_base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend([
            "webhooks",
            &i.application_id,
            &i.token,
            "messages",
            "@original",
        ]);
    }
    Ok(Plan::Send(Target::Original {
        url,
        created_ms: snowflake::timestamp_ms(&i.interaction_id),
    }))
}

/// [`webhook::check`], as a refusal of the job.
pub fn webhook(raw: &str, api_base: &Url) -> Result<Url, TargetError> {
    webhook::check(raw, api_base).map_err(TargetError::Webhook)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://discord.com/api/v10").unwrap()
    }

    #[test]
    fn a_refused_webhook_is_the_models_refusal() {
        // The rule itself is tested in mandala_model::discord::webhook.
        let e = webhook("https://evil.example.com/x", &base()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("webhook_url is not allowed: {}", WebhookRefusal::NotDiscord)
        );
        assert!(webhook("https://discord.com/api/webhooks/1/t", &base()).is_ok());
    }

    #[test]
    fn interaction_targets_and_expiry() {
        let now = 1_800_000_000_000;
        let reply = |created: u64, token: &str| {
            Reply::Interaction(InteractionReply {
                application_id: "11".into(),
                interaction_id: snowflake::from_timestamp_ms(created, 1).into(),
                token: token.into(),
            })
        };
        let Plan::Send(Target::Original { url, created_ms }) =
            plan(&reply(now - 1000, "tok.en"), &base(), now).unwrap()
        else {
            panic!("not sent")
        };
        assert_eq!(
            url.as_str(),
            "https://discord.com/api/v10/webhooks/11/tok.en/messages/@original"
        );
        assert_eq!(created_ms, Some(now - 1000));
        assert!(matches!(
            plan(&reply(now - 16 * 60 * 1000, "t"), &base(), now).unwrap(),
            Plan::Expired { seconds_ago: 60 }
        ));
        for bad in ["a/../b", ".", "..", ""] {
            assert!(
                matches!(
                    plan(&reply(now, bad), &base(), now),
                    Err(TargetError::BadToken)
                ),
                "{bad:?}"
            );
        }
    }
}
