//! Webhook URLs kept in Secret Manager.
//!
//! A channel webhook URL is a credential (anyone holding it can post to the
//! channel), so the daily mandala's job does not carry it: it names the
//! secret version that holds it (`{"reply":{"webhook_secret":
//! "projects/P/secrets/S/versions/latest"}}`), and the worker reads that
//! through Secret Manager's REST API (`GET /v1/{name}:access`) as its own
//! service account, which may access that one secret. The URL then never
//! sits in the Scheduler job, the Pub/Sub message, its redeliveries or the
//! dead-letter copies.
//!
//! Values are kept for [`CACHE_FOR`]: a job and its redeliveries read the
//! secret once, and a rotation (a new version under `latest`) is seen
//! within minutes. The value is never logged and never part of an error.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use reqwest::{StatusCode, Url};

/// How long a read value is used before it is read again.
pub const CACHE_FOR: Duration = Duration::from_secs(5 * 60);

/// Secret Manager's API.
pub const GOOGLE_ENDPOINT: &str = "https://secretmanager.googleapis.com";

/// One read's time budget.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("webhook_secret {0:?} is not a secret version name (projects/P/secrets/S/versions/V)")]
    BadName(String),
    /// Secret Manager said no for good: no such secret or version.
    #[error("secret {name}: Secret Manager answered {status}: {message}")]
    Refused {
        name: String,
        status: u16,
        message: String,
    },
    /// Not now (network, rate limit, server error, a permission not yet
    /// in effect): the job is redelivered.
    #[error("secret {name} could not be read: {why}")]
    Unavailable { name: String, why: String },
}

impl SecretError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Why the Secret Manager client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Endpoint(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no credentials for Secret Manager: {0}")]
    Credentials(#[source] google_cloud_auth::build_errors::Error),
    #[error("{0}")]
    Client(#[source] reqwest::Error),
}

/// Reads secrets, with a short cache.
pub struct Secrets {
    endpoint: Url,
    /// `None`: a local stand-in, asked without credentials (tests).
    credentials: Option<Credentials>,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

/// `projects/P/secrets/S/versions/V`, each part of the characters Google
/// allows in project, secret and version ids; nothing that could change
/// the request's path.
pub fn check_name(name: &str) -> Result<(), SecretError> {
    let part = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || extra.contains(&b))
    };
    match name.split('/').collect::<Vec<_>>().as_slice() {
        // Domain-scoped project ids look like `example.com:project`.
        ["projects", p, "secrets", s, "versions", v]
            if part(p, b".:") && part(s, b"") && part(v, b"") =>
        {
            Ok(())
        }
        _ => Err(SecretError::BadName(name.to_owned())),
    }
}

impl Secrets {
    /// Google's Secret Manager, as the service's own account (Application
    /// Default Credentials), or, with `endpoint`, a stand-in at that URL
    /// asked without credentials.
    pub fn new(endpoint: Option<Url>) -> Result<Secrets, SetupError> {
        let (endpoint, credentials) = match endpoint {
            Some(e) => (e, None),
            None => (
                Url::parse(GOOGLE_ENDPOINT).map_err(|e| SetupError::Endpoint(e.into()))?,
                Some(
                    google_cloud_auth::credentials::Builder::default()
                        .build()
                        .map_err(SetupError::Credentials)?,
                ),
            ),
        };
        let http = reqwest::Client::builder()
            .timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SetupError::Client)?;
        Ok(Secrets {
            endpoint,
            credentials,
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The value of secret version `name`, trimmed (a value typed with
    /// `echo` ends in a newline).
    pub async fn access(&self, name: &str) -> Result<String, SecretError> {
        check_name(name)?;
        if let Some(value) = self.cached(name) {
            return Ok(value);
        }
        let value = self.read(name).await?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }

    fn cached(&self, name: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(name)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, v)| v.clone())
    }

    async fn read(&self, name: &str) -> Result<String, SecretError> {
        let unavailable = |why: String| SecretError::Unavailable {
            name: name.to_owned(),
            why,
        };
        let base = self.endpoint.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}/v1/{name}:access"))
            .map_err(|e| unavailable(format!("bad endpoint: {e}")))?;
        let mut request = self.http.get(url);
        if let Some(credentials) = &self.credentials {
            match credentials.headers(http::Extensions::new()).await {
                Ok(CacheableResource::New { data, .. }) => request = request.headers(data),
                Ok(CacheableResource::NotModified) => {}
                Err(e) => return Err(unavailable(format!("no credentials: {e}"))),
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(format!("network error: {}", e.without_url())))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .chars()
                .take(300)
                .collect::<String>();
            // No such secret or version, or a malformed name: asking
            // again will not help. Anything else (a permission still
            // propagating, quotas, outages) may pass.
            return Err(match status {
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => SecretError::Refused {
                    name: name.to_owned(),
                    status: status.as_u16(),
                    message,
                },
                _ => unavailable(format!("Secret Manager answered {status}: {message}")),
            });
        }
        let data = body["payload"]["data"]
            .as_str()
            .ok_or_else(|| unavailable("the answer has no payload.data".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| unavailable("payload.data is not base64".into()))?;
        // The checksum Secret Manager keeps with the value, when it has one.
        if let Some(expected) = body["payload"]["dataCrc32c"]
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
            && u64::from(crc32c::crc32c(&bytes)) != expected
        {
            return Err(unavailable("the value does not match its CRC32C".into()));
        }
        let text = String::from_utf8(bytes).map_err(|_| SecretError::Refused {
            name: name.to_owned(),
            status: status.as_u16(),
            message: "the value is not UTF-8 text".into(),
        })?;
        Ok(text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_secret_version_names_are_read() {
        for ok in [
            "projects/my-project/secrets/mandala-daily-mandala-webhook/versions/latest",
            "projects/123456/secrets/s_1/versions/7",
            "projects/example.com:mandala/secrets/s/versions/latest",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "projects/p/secrets/s",
            "projects/p/secrets/../versions/latest",
            "projects/p/secrets/s/versions/latest:access?x=",
            "https://discord.com/api/webhooks/1/t",
            "projects//secrets/s/versions/1",
        ] {
            assert!(
                matches!(check_name(bad), Err(SecretError::BadName(_))),
                "{bad}"
            );
        }
    }
}
