//! The second gate on `/pubsub/push`: the push request's OIDC token.
//!
//! Cloud Run's IAM already rejects callers without `run.invoker`; when
//! `PUSH_AUDIENCE` is set the worker also checks the Google-signed ID token
//! Pub/Sub attaches: an RS256 signature by one of Google's keys, issuer
//! `accounts.google.com`, this audience, not expired and, with
//! `PUSH_SERVICE_ACCOUNT`, that account's verified email.
//!
//! The signature and claims are checked with `jsonwebtoken`; the keys come
//! from [`keys::KeyCache`]. google-cloud-auth's verifier was used before,
//! but its key cache refuses every token that arrives while another is
//! being checked (a non-blocking lock held across an untimed download,
//! googleapis/google-cloud-rust#6696), and downloads the key set again for
//! every unknown key id.

pub mod keys;

use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::PushAuth;
use keys::{KeyCache, KeyError};

/// Where Google publishes the keys that sign its ID tokens, as a JWK set.
pub const GOOGLE_KEYS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The issuers Google ID tokens carry.
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Clock difference tolerated on `exp` (google-cloud-auth's default too).
const LEEWAY: Duration = Duration::from_secs(10);

/// Key ids longer than this are not Google's (theirs are 40 hex digits).
const MAX_KID_LEN: usize = 128;

pub struct PushVerifier {
    keys: KeyCache,
    validation: Validation,
    service_account: Option<String>,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushVerifier").finish_non_exhaustive()
    }
}

/// Why a push was refused. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401.
    #[error("missing Authorization: Bearer header")]
    Missing,
    /// 401.
    #[error("invalid push token: {0}")]
    Invalid(String),
    /// 401.
    #[error("invalid push token: not a JWT: {0}")]
    NotAJwt(#[source] jsonwebtoken::errors::Error),
    /// 401: the token's signature or standard claims do not check out.
    #[error("invalid push token: {0}")]
    Rejected(#[source] jsonwebtoken::errors::Error),
    /// 503: the token could not be checked now; Pub/Sub retries later.
    #[error("cannot check push tokens now: {0}")]
    KeysUnavailable(String),
}

/// The claims checked beyond what [`Validation`] does. `iss` and `aud`
/// are single strings in Google's tokens: requiring strings here refuses
/// the arrays [`Validation`] would accept when any one element matches.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(rename = "iss")]
    _iss: String,
    #[serde(rename = "aud")]
    _aud: String,
    email: Option<String>,
    email_verified: Option<bool>,
}

impl PushVerifier {
    pub fn new(settings: &PushAuth) -> Result<Self, keys::KeyCacheError> {
        let url = settings.jwks_url.as_deref().unwrap_or(GOOGLE_KEYS_URL);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&ISSUERS);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY.as_secs();
        Ok(PushVerifier {
            keys: KeyCache::new(url)?,
            validation,
            service_account: settings.service_account.clone(),
        })
    }

    /// Checks the request's bearer token; returns the token's email claim.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Option<String>, AuthError> {
        let token = bearer(headers).ok_or(AuthError::Missing)?;
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::NotAJwt)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "signed with {:?}; Google signs with RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
            .ok_or_else(|| AuthError::Invalid("no usable key id (kid)".into()))?;
        let key = self.keys.get(&kid).await.map_err(|e| match e {
            KeyError::Unknown => {
                AuthError::Invalid("signed with a key Google does not list".into())
            }
            KeyError::Unavailable(why) => AuthError::KeysUnavailable(why),
        })?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(AuthError::Rejected)?
            .claims;
        if let Some(expected) = &self.service_account {
            if claims.email_verified != Some(true) {
                return Err(AuthError::Invalid(
                    "the email_verified claim is missing or false".into(),
                ));
            }
            match claims.email.as_deref() {
                Some(email) if email == expected => {}
                Some(email) => {
                    return Err(AuthError::Invalid(format!(
                        "the token is for {email}, not PUSH_SERVICE_ACCOUNT"
                    )));
                }
                None => return Err(AuthError::Invalid("the email claim is missing".into())),
            }
        }
        Ok(claims.email)
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
