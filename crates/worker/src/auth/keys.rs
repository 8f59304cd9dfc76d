//! Google's token signing keys, fetched once and shared by every check.
//!
//! The rules, each against a failure seen in production-like probes:
//! - a key found in a fresh key set is used without waiting for anything,
//!   however many checks run at once;
//! - one fetch at a time, with a timeout ([`FETCH_TIMEOUT`]); checks that
//!   need keys meanwhile wait for that fetch and share its outcome instead
//!   of failing or fetching again;
//! - a key id missing from a fresh set is refetched at most once per
//!   [`REFETCH_INTERVAL`] (Google publishes new keys before signing with
//!   them), so tokens naming made-up key ids cannot drive a fetch per
//!   request;
//! - the set stays fresh for its `Cache-Control: max-age`, within
//!   [`MIN_TTL`]..=[`MAX_TTL`], or [`DEFAULT_TTL`] without one;
//! - after a failed fetch, checks are answered "unavailable" for
//!   [`RETRY_INTERVAL`] before the next attempt.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use tokio::time::Instant;

/// A fetch of the key set, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an unknown key id may cause a refetch of a fresh key set.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long after a failed fetch the next may start.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
pub const MIN_TTL: Duration = Duration::from_secs(1);
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Google's key set is about 1.5 KB.
const MAX_BODY: usize = 64 * 1024;

/// Why no key was returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The key set, fresh, does not have this key id.
    Unknown,
    /// The key set could not be fetched.
    Unavailable(String),
}

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("key set client: {0}")]
pub struct KeyCacheError(#[from] reqwest::Error);

pub struct KeyCache {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    http: reqwest::Client,
    current: RwLock<Arc<Snapshot>>,
    /// Held by the one fetch in progress; checks that need it queue here.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// The key set as of the last fetch attempt.
#[derive(Default)]
struct Snapshot {
    keys: HashMap<String, DecodingKey>,
    /// When the keys were fetched, and until when they are fresh.
    fetched: Option<(Instant, Instant)>,
    /// When the last attempt ended, and why it failed if it did.
    attempt: Option<(Instant, Option<String>)>,
}

/// What a check should do with the snapshot it read.
enum Decision {
    Use(DecodingKey),
    Refuse(KeyError),
    Fetch,
}

impl Snapshot {
    fn fresh_at(&self, now: Instant) -> bool {
        self.fetched.is_some_and(|(_, until)| now < until)
    }

    fn decide(&self, kid: &str, now: Instant) -> Decision {
        if self.fresh_at(now) {
            if let Some(key) = self.keys.get(kid) {
                return Decision::Use(key.clone());
            }
            let recent = |at: Instant| now.saturating_duration_since(at) < REFETCH_INTERVAL;
            if self.attempt.as_ref().is_some_and(|(at, _)| recent(*at)) {
                return self.outcome(kid, now).into();
            }
            return Decision::Fetch;
        }
        match &self.attempt {
            Some((at, Some(why))) if now.saturating_duration_since(*at) < RETRY_INTERVAL => {
                Decision::Refuse(KeyError::Unavailable(why.clone()))
            }
            _ => Decision::Fetch,
        }
    }

    /// The answer the last attempt gives for `kid`, without fetching.
    fn outcome(&self, kid: &str, now: Instant) -> Result<DecodingKey, KeyError> {
        match (
            self.fresh_at(now).then(|| self.keys.get(kid)).flatten(),
            &self.attempt,
        ) {
            (Some(key), _) => Ok(key.clone()),
            (None, Some((_, Some(why)))) => Err(KeyError::Unavailable(why.clone())),
            (None, _) => Err(KeyError::Unknown),
        }
    }
}

impl From<Result<DecodingKey, KeyError>> for Decision {
    fn from(outcome: Result<DecodingKey, KeyError>) -> Self {
        match outcome {
            Ok(key) => Decision::Use(key),
            Err(e) => Decision::Refuse(e),
        }
    }
}

impl KeyCache {
    pub fn new(url: &str) -> Result<Self, KeyCacheError> {
        Ok(KeyCache {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                http: reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                current: RwLock::new(Arc::new(Snapshot::default())),
                fetching: Arc::new(tokio::sync::Mutex::new(())),
            }),
        })
    }

    /// The key `kid` names, fetching the key set if needed.
    pub async fn get(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        let asked = Instant::now();
        match self.inner.snapshot().decide(kid, asked) {
            Decision::Use(key) => return Ok(key),
            Decision::Refuse(e) => return Err(e),
            Decision::Fetch => {}
        }
        let turn = Arc::clone(&self.inner.fetching).lock_owned().await;
        let snapshot = self.inner.snapshot();
        let now = Instant::now();
        // A fetch that ended while this check waited answers for it too.
        let decision = if snapshot
            .attempt
            .as_ref()
            .is_some_and(|(at, _)| *at >= asked)
        {
            snapshot.outcome(kid, now).into()
        } else {
            snapshot.decide(kid, now)
        };
        match decision {
            Decision::Use(key) => return Ok(key),
            Decision::Refuse(e) => return Err(e),
            Decision::Fetch => {}
        }
        // The fetch runs in its own task, holding the turn: if this check is
        // abandoned (its client hung up), the fetch still completes and the
        // checks queued behind it get its outcome instead of starting over.
        let inner = Arc::clone(&self.inner);
        let refresh = tokio::spawn(async move {
            let _turn = turn;
            inner.refresh(&snapshot).await
        });
        match refresh.await {
            Ok(next) => next.outcome(kid, Instant::now()),
            Err(e) => Err(KeyError::Unavailable(format!("key fetch failed: {e}"))),
        }
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Fetches the key set and publishes the outcome; keeps the previous
    /// keys when the fetch fails.
    async fn refresh(&self, snapshot: &Snapshot) -> Arc<Snapshot> {
        let fetched = self.fetch().await;
        let now = Instant::now();
        let next = match fetched {
            Ok((keys, ttl)) => {
                tracing::info!(
                    keys = keys.len(),
                    ttl_secs = ttl.as_secs(),
                    "push token keys fetched"
                );
                Snapshot {
                    keys,
                    fetched: Some((now, now + ttl)),
                    attempt: Some((now, None)),
                }
            }
            Err(why) => {
                tracing::warn!(url = %self.url, "cannot fetch the push token keys: {why}");
                Snapshot {
                    keys: snapshot.keys.clone(),
                    fetched: snapshot.fetched,
                    attempt: Some((now, Some(why))),
                }
            }
        };
        let next = Arc::new(next);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&next);
        next
    }

    /// Downloads and parses the key set; its keys by id, and how long it is fresh.
    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), String> {
        let mut response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let ttl = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map_or(DEFAULT_TTL, |age| age.clamp(MIN_TTL, MAX_TTL));
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the key set failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("key set is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| {
                // RSA signing keys for RS256 only: nothing else can verify
                // a Google ID token.
                matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                    && jwk
                        .common
                        .key_algorithm
                        .is_none_or(|a| a == KeyAlgorithm::RS256)
                    && jwk
                        .common
                        .public_key_use
                        .as_ref()
                        .is_none_or(|u| *u == PublicKeyUse::Signature)
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect::<HashMap<_, _>>();
        if keys.is_empty() {
            return Err("the key set has no RS256 signing keys".into());
        }
        Ok((keys, ttl))
    }
}

/// `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=21013, must-revalidate, no-transform"),
            Some(Duration::from_secs(21013))
        );
        assert_eq!(max_age("Max-Age=\"5\""), Some(Duration::from_secs(5)));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
