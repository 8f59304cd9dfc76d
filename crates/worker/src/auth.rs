//! The second gate on `/pubsub/push`: the push request's OIDC token.
//!
//! Cloud Run's IAM already rejects callers without `run.invoker`; when
//! `PUSH_AUDIENCE` is set the worker also checks the Google-signed ID token
//! Pub/Sub attaches (signature against Google's keys, issuer, audience,
//! expiry and, with `PUSH_SERVICE_ACCOUNT`, the email), with
//! `google-cloud-auth`'s verifier.

use futures::FutureExt as _;
use google_cloud_auth::credentials::idtoken::verifier::{Builder, Verifier};
use http::HeaderMap;

use crate::config::PushAuth;

pub struct PushVerifier {
    verifier: Verifier,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushVerifier").finish_non_exhaustive()
    }
}

/// Why a push was refused (401). Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization: Bearer header")]
    Missing,
    #[error("invalid push token: {0}")]
    Invalid(String),
}

impl PushVerifier {
    pub fn new(settings: &PushAuth) -> Self {
        let mut builder = Builder::new([settings.audience.clone()]);
        if let Some(email) = &settings.service_account {
            builder = builder.with_email(email.clone());
        }
        if let Some(jwks) = &settings.jwks_url {
            builder = builder.with_jwks_url(jwks.clone());
        }
        PushVerifier {
            verifier: builder.build(),
        }
    }

    /// Checks the request's bearer token; returns the token's email claim.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Option<String>, AuthError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        // The verifier indexes `claims["email_verified"]`, which panics when a
        // (validly signed) token lacks it; contain that as a refusal.
        let verified = std::panic::AssertUnwindSafe(self.verifier.verify(token))
            .catch_unwind()
            .await
            .map_err(|_| AuthError::Invalid("token lacks the email_verified claim".into()))?;
        let claims = verified.map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(claims
            .get("email")
            .and_then(|e| e.as_str())
            .map(str::to_owned))
    }
}
