//! Who may reach the worker: the OIDC token every push and task dispatch
//! carries (PUSH_AUTH, PUSH_AUDIENCE, PUSH_SERVICE_ACCOUNT), and for tests
//! the stand-ins of Google's keys and Secret Manager.

use reqwest::Url;

use mandala_service::config::given;

use super::{Config, ConfigError, Role, bad};

/// Whether pushes and task dispatches must carry Google's OIDC token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushAuthMode {
    /// Every push and dispatch must carry a token for PUSH_AUDIENCE.
    Oidc,
    /// No check: a local run, where nothing else can reach the worker.
    None,
}

/// The push OIDC check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAuth {
    pub audience: String,
    pub service_account: Option<String>,
    pub jwks_url: Option<String>,
}

impl Config {
    /// The OIDC check, if any: (audience, service account, JWKS override).
    pub fn push_auth(&self) -> Result<Option<PushAuth>, ConfigError> {
        let audience = given(self.push_audience.as_deref());
        let account = given(self.push_service_account.as_deref());
        let jwks = given(self.push_jwks_url.as_deref());
        match audience {
            None if account.is_some() => Err(bad(
                "PUSH_SERVICE_ACCOUNT",
                "needs PUSH_AUDIENCE (the token's audience) to be set too",
            )),
            None if jwks.is_some() => {
                Err(bad("PUSH_JWKS_URL", "needs PUSH_AUDIENCE to be set too"))
            }
            // In one process with the ingress, nothing outside reaches the worker.
            None if self.worker_role == Role::Single => Ok(None),
            None if self.push_auth_mode == PushAuthMode::Oidc => Err(bad(
                "PUSH_AUDIENCE",
                "is required: every push and task dispatch must carry Google's OIDC token for this audience (the worker's URL). For a local run that nothing else can reach, set PUSH_AUTH=none",
            )),
            None => Ok(None),
            Some(_) if self.push_auth_mode == PushAuthMode::None => Err(bad(
                "PUSH_AUTH",
                "none turns the push token check off, but PUSH_AUDIENCE asks for it: unset one of them",
            )),
            Some(audience) => {
                if let Some(a) = account
                    && !a.contains('@')
                {
                    return Err(bad(
                        "PUSH_SERVICE_ACCOUNT",
                        format!("{a:?} is not a service account email"),
                    ));
                }
                if let Some(j) = jwks {
                    Url::parse(j)
                        .map_err(|e| bad("PUSH_JWKS_URL", format!("{j:?} is not a URL: {e}")))?;
                }
                Ok(Some(PushAuth {
                    audience: audience.to_owned(),
                    service_account: account.map(str::to_owned),
                    jwks_url: jwks.map(str::to_owned),
                }))
            }
        }
    }

    /// SECRET_MANAGER_ENDPOINT as a URL, if set (tests only).
    pub fn secret_manager(&self) -> Result<Option<Url>, ConfigError> {
        let Some(raw) = given(self.secret_manager_endpoint.as_deref()) else {
            return Ok(None);
        };
        let url = Url::parse(raw).map_err(|e| {
            bad(
                "SECRET_MANAGER_ENDPOINT",
                format!("{raw:?} is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "SECRET_MANAGER_ENDPOINT",
                format!("{raw:?} is not an http(s) URL"),
            ));
        }
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{local, parse};
    use super::*;
    use clap::Parser;

    #[test]
    fn the_worker_refuses_to_start_without_push_authentication_unless_told_it_is_local() {
        let e = parse(&["--local-store-dir", "d"]).check().unwrap_err();
        assert_eq!(e.var, "PUSH_AUDIENCE");
        assert!(e.reason.contains("PUSH_AUTH=none"), "{e}");
        assert!(local(&["--local-store-dir", "d"]).check().is_ok());
        assert!(
            parse(&["--local-store-dir", "d", "--push-audience", "https://w"])
                .push_auth()
                .unwrap()
                .is_some()
        );
        let e = local(&["--local-store-dir", "d", "--push-audience", "https://w"])
            .check()
            .unwrap_err();
        assert_eq!(e.var, "PUSH_AUTH");
        // The single service's worker is reachable from inside only.
        assert!(
            parse(&["--local-store-dir", "d", "--worker-role", "single"])
                .check()
                .is_ok()
        );
        let e = Config::try_parse_from(["mandala-worker", "--push-auth", "off"]).unwrap_err();
        assert!(
            e.to_string().contains("PUSH_AUTH") || e.to_string().contains("push-auth"),
            "{e}"
        );
    }

    #[test]
    fn push_auth_needs_an_audience() {
        let e = parse(&[
            "--local-store-dir",
            "d",
            "--push-service-account",
            "a@b.iam",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "PUSH_SERVICE_ACCOUNT");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--push-audience",
            "https://w",
            "--push-service-account",
            "a@b",
        ]);
        assert_eq!(
            ok.push_auth().unwrap().unwrap().service_account.as_deref(),
            Some("a@b")
        );
    }

    #[test]
    fn a_secret_manager_stand_in_must_be_a_url() {
        let e = local(&[
            "--local-store-dir",
            "d",
            "--secret-manager-endpoint",
            "127.0.0.1:9",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "SECRET_MANAGER_ENDPOINT");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--secret-manager-endpoint",
            "http://127.0.0.1:9",
        ]);
        assert_eq!(
            ok.secret_manager().unwrap().unwrap().as_str(),
            "http://127.0.0.1:9/"
        );
        assert!(
            parse(&["--local-store-dir", "d"])
                .secret_manager()
                .unwrap()
                .is_none()
        );
    }
}
