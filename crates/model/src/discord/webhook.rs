//! Which channel webhook URLs a job may name.
//!
//! Webhook URLs come from job messages, which operators type by hand
//! (`mandala publish --webhook-url`), or from the Secret Manager secret a
//! job names (the daily mandala's). The worker would POST an image anywhere
//! it is told, so only Discord's own hosts (and the configured API base,
//! which is how the local stand-in is reached) are allowed, wherever the
//! URL came from: anything else is refused rather than becoming a way to
//! make the worker call internal addresses.
//!
//! The rule lives here, with no I/O, so that the worker (which refuses such
//! a job as poison) and `mandala publish` (which refuses to queue it) apply
//! the same check and say the same words.

use url::Url;

/// Hosts that serve Discord's webhook API.
pub const DISCORD_HOSTS: [&str; 6] = [
    "discord.com",
    "ptb.discord.com",
    "canary.discord.com",
    "discordapp.com",
    "ptb.discordapp.com",
    "canary.discordapp.com",
];

/// Why a webhook URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("not a URL")]
    NotAUrl,
    #[error("URLs with credentials or fragments are not webhooks")]
    CredentialsOrFragment,
    #[error(
        "only https://discord.com/api/webhooks/{{id}}/{{token}} (or the configured DISCORD_API_BASE) is accepted"
    )]
    NotDiscord,
}

fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Allows `https://discord.com/api[/vN]/webhooks/{id}/{token}` (and the
/// other Discord hosts), or any webhook path under `api_base` (the
/// worker's DISCORD_API_BASE). Returns the URL to POST to: `thread_id`
/// kept, any other query dropped, `wait=true` added so Discord returns the
/// created message.
pub fn check(raw: &str, api_base: &Url) -> Result<Url, WebhookRefusal> {
    let mut url = Url::parse(raw.trim()).map_err(|_| WebhookRefusal::NotAUrl)?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookRefusal::CredentialsOrFragment);
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
    if !(under_base || on_discord) {
        return Err(WebhookRefusal::NotDiscord);
    }
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
            let url = check(ok, &base()).unwrap();
            assert!(url.as_str().ends_with("wait=true"), "{url}");
        }
        assert_eq!(
            check(
                "https://discord.com/api/webhooks/1/t?thread_id=5&x=y",
                &base()
            )
            .unwrap()
            .as_str(),
            "https://discord.com/api/webhooks/1/t?thread_id=5&wait=true"
        );
        for (bad, why) in [
            (
                "http://discord.com/api/webhooks/123/abc",
                WebhookRefusal::NotDiscord,
            ),
            (
                "https://discord.com.evil.example/api/webhooks/123/abc",
                WebhookRefusal::NotDiscord,
            ),
            (
                "https://discord.com:8443/api/webhooks/123/abc",
                WebhookRefusal::NotDiscord,
            ),
            (
                "https://discord.com/api/users/@me",
                WebhookRefusal::NotDiscord,
            ),
            (
                "https://discord.com/api/webhooks/abc/def",
                WebhookRefusal::NotDiscord,
            ),
            (
                "http://169.254.169.254/computeMetadata/v1/",
                WebhookRefusal::NotDiscord,
            ),
            ("https://evil.example.com/x", WebhookRefusal::NotDiscord),
            (
                "https://user:pw@discord.com/api/webhooks/123/abc",
                WebhookRefusal::CredentialsOrFragment,
            ),
            (
                "https://discord.com/api/webhooks/123/abc#x",
                WebhookRefusal::CredentialsOrFragment,
            ),
            ("not a url", WebhookRefusal::NotAUrl),
        ] {
            assert_eq!(check(bad, &base()), Err(why), "{bad}");
        }
        let local = Url::parse("http://127.0.0.1:8080/api/v10").unwrap();
        assert!(check("http://127.0.0.1:8080/api/v10/webhooks/1/t", &local).is_ok());
        assert!(check("http://127.0.0.1:8080/admin", &local).is_err());
        assert!(check("http://127.0.0.1:8081/api/v10/webhooks/1/t", &local).is_err());
        assert!(check("http://127.0.0.1:8080/api/v10/webhooks/../../admin", &local).is_err());
    }
}
