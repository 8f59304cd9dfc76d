//! Settings both services read, defined once and flattened into each
//! service's clap `Config` (`#[command(flatten)]`): where Cloud Run says
//! to listen ([`CloudRun`]), the HTTP server's limits ([`HttpSettings`]),
//! Discord's API base ([`DiscordApi`]), and the checks both apply: a
//! Pub/Sub topic's name ([`parse_topic`]), an emulator's `host:port`
//! ([`is_host_port`]), a blank value as unset ([`given`]), and the
//! dead-letter route beside a local push URL ([`dead_letter_beside`]).
//!
//! Each keeps its environment variable and flag, so what a binary reads is
//! unchanged (the Terraform test derives that set from the clap
//! definitions). Where the two services' traffic differs, the defaults do
//! too: each service names its own ([`HttpDefaults`]).

use std::fmt::Debug;
use std::marker::PhantomData;
use std::time::Duration;

use url::Url;

use crate::server::Limits;

/// What Cloud Run tells every service.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CloudRun {
    /// TCP port to listen on (Cloud Run sets it).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// The Google Cloud project, for trace correlation in Cloud Logging (set by Terraform).
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub google_cloud_project: Option<String>,
}

impl Default for CloudRun {
    fn default() -> Self {
        CloudRun {
            port: 8080,
            google_cloud_project: None,
        }
    }
}

/// One service's HTTP defaults (and the longest body timeout it allows).
pub trait HttpDefaults: Debug + Clone + Send + Sync + 'static {
    const HEADER_READ_TIMEOUT_MS: u64;
    const BODY_READ_TIMEOUT_MS: u64;
    const BODY_READ_TIMEOUT_MAX_MS: u64;
    const IDLE_TIMEOUT_SECS: u64;
    const MAX_CONNECTIONS: u32;
    const DRAIN_SECS: u64;
}

/// The HTTP server's limits, with `D`'s defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpSettings<D: HttpDefaults> {
    /// How long a client may take to send a request head once it started, in milliseconds;
    /// then the connection is closed.
    #[arg(id = "http_header_read_timeout_ms", value_name = "HTTP_HEADER_READ_TIMEOUT_MS", long = "http-header-read-timeout-ms", env = "HTTP_HEADER_READ_TIMEOUT_MS", default_value_t = D::HEADER_READ_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub header_read_timeout_ms: u64,

    /// How long a client may take to send a request body after its head, in milliseconds;
    /// then it gets 408 (and a push is redelivered). Discord allows 3 s for a whole
    /// interaction; push bodies are up to 13.4 MB.
    #[arg(id = "http_body_read_timeout_ms", value_name = "HTTP_BODY_READ_TIMEOUT_MS", long = "http-body-read-timeout-ms", env = "HTTP_BODY_READ_TIMEOUT_MS", default_value_t = D::BODY_READ_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(100..=D::BODY_READ_TIMEOUT_MAX_MS))]
    pub body_read_timeout_ms: u64,

    /// How long a connection may stay open with no request in progress, in seconds.
    #[arg(id = "http_idle_timeout_secs", value_name = "HTTP_IDLE_TIMEOUT_SECS", long = "http-idle-timeout-secs", env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = D::IDLE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Connections open at once (lowered to what the open-file limit allows), and requests
    /// in progress at once; at the cap, idle connections are closed to make room and new ones wait.
    #[arg(id = "http_max_connections", value_name = "HTTP_MAX_CONNECTIONS", long = "http-max-connections", env = "HTTP_MAX_CONNECTIONS", default_value_t = D::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// After SIGTERM, how long requests in progress may take, in seconds; then their
    /// connections are closed (a push is redelivered; the ingress flushes undelivered jobs
    /// after). Cloud Run allows 10 s in all.
    #[arg(id = "shutdown_drain_secs", value_name = "SHUTDOWN_DRAIN_SECS", long = "shutdown-drain-secs", env = "SHUTDOWN_DRAIN_SECS", default_value_t = D::DRAIN_SECS, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub drain_secs: u64,

    #[arg(skip)]
    defaults: PhantomData<D>,
}

impl<D: HttpDefaults> Default for HttpSettings<D> {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_ms: D::HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: D::BODY_READ_TIMEOUT_MS,
            idle_timeout_secs: D::IDLE_TIMEOUT_SECS,
            max_connections: D::MAX_CONNECTIONS,
            drain_secs: D::DRAIN_SECS,
            defaults: PhantomData,
        }
    }
}

impl<D: HttpDefaults> HttpSettings<D> {
    /// The server's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections as usize,
            drain_timeout: Duration::from_secs(self.drain_secs),
        }
    }
}

/// Discord's REST API, as both services reach it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DiscordApi {
    /// Discord's REST API base (replies, waiting notices, final words); point it at a
    /// stand-in for local runs and tests.
    #[arg(
        id = "discord_api_base",
        value_name = "DISCORD_API_BASE",
        long = "discord-api-base",
        env = "DISCORD_API_BASE",
        default_value = DiscordApi::DISCORD
    )]
    pub api_base: String,
}

/// A setting's value that cannot be used, naming its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct SettingError {
    pub var: &'static str,
    pub reason: String,
}

impl DiscordApi {
    /// Discord's own API.
    pub const DISCORD: &str = "https://discord.com/api/v10";

    pub fn new(api_base: impl Into<String>) -> Self {
        DiscordApi {
            api_base: api_base.into(),
        }
    }

    /// DISCORD_API_BASE as an http(s) URL with a host, without a trailing
    /// slash, a query or a fragment (paths are appended to it).
    pub fn base(&self) -> Result<Url, SettingError> {
        let bad = |reason: String| SettingError {
            var: "DISCORD_API_BASE",
            reason,
        };
        let raw = self.api_base.trim().trim_end_matches('/');
        let url = Url::parse(raw).map_err(|e| bad(format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(format!("{raw:?} is not an http(s) URL")));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or fragment".to_owned()));
        }
        Ok(url)
    }
}

impl Default for DiscordApi {
    fn default() -> Self {
        DiscordApi::new(DiscordApi::DISCORD)
    }
}

/// A Pub/Sub topic's full name, `projects/PROJECT/topics/TOPIC` (a clap
/// value parser).
pub fn parse_topic(topic: &str) -> Result<String, String> {
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty() => Ok(topic.to_owned()),
        _ => Err("expected projects/PROJECT/topics/TOPIC".into()),
    }
}

/// A setting's value, unless unset or blank.
pub fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The dead-letter route beside a local push delivery's URL: its last
/// path segment replaced by `dead-letter` (`…/pubsub/push` →
/// `…/pubsub/dead-letter`), as the services name their routes.
pub fn dead_letter_beside(push_url: &http::Uri) -> Result<http::Uri, http::uri::InvalidUriParts> {
    let path = push_url.path();
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    let mut parts = push_url.clone().into_parts();
    parts.path_and_query = format!("{parent}/dead-letter").parse().ok();
    http::Uri::from_parts(parts)
}

/// Whether `host` is `host:port` (no scheme), as the emulators are named.
pub fn is_host_port(host: &str) -> bool {
    !host.contains("://")
        && host
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_discord_base_is_an_http_url_without_query_or_fragment() {
        let base = |raw: &str| DiscordApi::new(raw).base();
        assert_eq!(
            base("http://127.0.0.1:9/api/v10/").unwrap().as_str(),
            "http://127.0.0.1:9/api/v10"
        );
        for bad in [
            "discord.com/api",
            "ftp://discord.com/api",
            "https://discord.com/api?x=1",
            "https://discord.com/api#f",
        ] {
            let e = base(bad).unwrap_err();
            assert_eq!(e.var, "DISCORD_API_BASE", "{bad}");
        }
    }

    #[test]
    fn topics_and_emulator_hosts_are_checked() {
        assert!(parse_topic("projects/p/topics/t").is_ok());
        assert!(parse_topic("topics/t").is_err());
        assert!(parse_topic("projects//topics/t").is_err());
        assert!(is_host_port("127.0.0.1:8085"));
        assert!(!is_host_port("http://127.0.0.1:8085"));
        assert!(!is_host_port("localhost"));
        assert!(!is_host_port(":8085"));
        assert_eq!(given(Some("  ")), None);
        assert_eq!(given(Some(" x ")), Some("x"));
        let push: http::Uri = "http://127.0.0.1:8082/pubsub/push".parse().unwrap();
        assert_eq!(
            dead_letter_beside(&push).unwrap().to_string(),
            "http://127.0.0.1:8082/pubsub/dead-letter"
        );
    }
}
