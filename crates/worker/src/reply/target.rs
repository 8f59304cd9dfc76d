//! Where a job's reply goes.
//!
//! Webhook URLs come from job messages, which operators type by hand, or
//! from the Secret Manager secret a job names (the daily mandala's); the
//! worker would POST an image anywhere it is told, so only Discord's own
//! hosts (and the configured API base, which is how the local stand-in is
//! reached) are allowed, wherever the URL came from: anything else is
//! refused as a poison job rather than becoming a way to make the worker
//! call internal addresses.

use mandala_model::discord::{snowflake, token};
use mandala_model::{InteractionReply, Reply};
use reqwest::Url;

use super::secret::{SecretError, Secrets};

/// Hosts that serve Discord's webhook API.
const DISCORD_HOSTS: [&str; 6] = [
    "discord.com",
    "ptb.discord.com",
    "canary.discord.com",
    "discordapp.com",
    "ptb.discordapp.com",
    "canary.discordapp.com",
];

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
    NotASnowflake(String),
    #[error("application_id {0:?} is not a Discord snowflake")]
    BadApplication(String),
    #[error("interaction token is not a Discord token ({})", token::RULE)]
    BadToken,
    #[error("webhook_url is not allowed: {0}")]
    Webhook(String),
    #[error("the webhook URL in {secret} is not allowed: {why}")]
    SecretWebhook { secret: String, why: String },
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

/// Allows `https://discord.com/api[/vN]/webhooks/{id}/{token}` (and the
/// other Discord hosts), or any webhook path under the configured API base.
pub fn webhook(raw: &str, api_base: &Url) -> Result<Url, TargetError> {
    let refuse = |why: &str| TargetError::Webhook(why.to_owned());
    let mut url = Url::parse(raw.trim()).map_err(|_| refuse("not a URL"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "URLs with credentials or fragments are not webhooks",
        ));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let under_base = url.origin() == api_base.origin() && {
        let base_path = api_base.path().trim_end_matches('/');
        url.path().starts_with(&format!("{base_path}/webhooks/"))
            && !segments.iter().any(|s| *s == ".." || *s == ".")
    };
    let on_discord = url.scheme() == "https"
        && url.port().is_none()
        && url.host_str().is_some_and(|h| DISCORD_HOSTS.contains(&h))
        && match segments.as_slice() {
            ["api", "webhooks", id, token] => is_snowflake(id) && !token.is_empty(),
            ["api", v, "webhooks", id, token] => {
                v.strip_prefix('v').is_some_and(|n| n.parse::<u8>().is_ok())
                    && is_snowflake(id)
                    && !token.is_empty()
            }
            _ => false,
        };
    let ok = under_base || on_discord;
    if !ok {
        return Err(refuse(
            "only https://discord.com/api/webhooks/{id}/{token} (or the configured DISCORD_API_BASE) is accepted",
        ));
    }
    // Keep a thread_id if given; always wait for the created message.
    let keep: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k == "thread_id")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &keep {
            q.append_pair(k, v);
        }
        q.append_pair("wait", "true");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://discord.com/api/v10").unwrap()
    }

    #[test]
    fn discord_webhooks_are_allowed_others_are_not() {
        for ok in [
            "https://discord.com/api/webhooks/123/abc-DEF_1",
            "https://canary.discordapp.com/api/v9/webhooks/123/abc?thread_id=5",
        ] {
            let url = webhook(ok, &base()).unwrap();
            assert!(url.as_str().ends_with("wait=true"), "{url}");
        }
        for bad in [
            "http://discord.com/api/webhooks/123/abc",
            "https://discord.com.evil.example/api/webhooks/123/abc",
            "https://discord.com:8443/api/webhooks/123/abc",
            "https://discord.com/api/users/@me",
            "https://discord.com/api/webhooks/abc/def",
            "http://169.254.169.254/computeMetadata/v1/",
            "https://user:pw@discord.com/api/webhooks/123/abc",
            "not a url",
        ] {
            assert!(webhook(bad, &base()).is_err(), "{bad} allowed");
        }
        let local = Url::parse("http://127.0.0.1:8080/api/v10").unwrap();
        assert!(webhook("http://127.0.0.1:8080/api/v10/webhooks/1/t", &local).is_ok());
        assert!(webhook("http://127.0.0.1:8080/admin", &local).is_err());
        assert!(webhook("http://127.0.0.1:8081/api/v10/webhooks/1/t", &local).is_err());
    }

    #[test]
    fn interaction_targets_and_expiry() {
        let now = 1_800_000_000_000;
        let reply = |created: u64, token: &str| {
            Reply::Interaction(InteractionReply {
                application_id: "11".into(),
                interaction_id: snowflake::from_timestamp_ms(created, 1),
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
