//! The OIDC tokens the twin's dispatches carry: Google-shaped ID tokens
//! (issuer `https://accounts.google.com`, the task's audience, the service
//! account as a verified email), signed RS256 by a fixed test key whose
//! public half is served at `/certs`. The key protects nothing; it only
//! lets the worker's real token check run locally.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const KID: &str = "mandala-test-key-1";
const LIFETIME_SECS: u64 = 3600;

pub(super) struct Signer {
    key: EncodingKey,
    jwks: Value,
}

impl Signer {
    pub(super) fn new() -> Result<Self, String> {
        let jwks = serde_json::from_str(include_str!("test-jwks.json"))
            .map_err(|e| format!("the twin's key set: {e}"))?;
        Ok(Signer {
            key: EncodingKey::from_rsa_der(include_bytes!("test-key.der")),
            jwks,
        })
    }

    pub(super) fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// A token for `email`, audience `audience`, valid for an hour.
    pub(super) fn mint(
        &self,
        email: &str,
        audience: &str,
        now_secs: u64,
    ) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        let claims = json!({
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": "cloud-tasks-twin",
            "sub": email,
            "email": email,
            "email_verified": true,
            "iat": now_secs,
            "exp": now_secs + LIFETIME_SECS,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}
