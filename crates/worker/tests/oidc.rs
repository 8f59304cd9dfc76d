//! The push OIDC check with a locally generated key set: Google-shaped ID
//! tokens signed with the test-only key in `fixtures/`, verified by
//! `google-cloud-auth` against the JWKS served on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mandala_model::Reply;
use serde_json::json;

const AUDIENCE: &str = "https://mandala-worker-abc-uc.a.run.app";
const PUSHER: &str = "pubsub-push@mandala-test.iam.gserviceaccount.com";

fn token(claims: &serde_json::Value, kid: &str) -> String {
    let key = EncodingKey::from_rsa_der(include_bytes!("fixtures/oidc-test-key.der"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn claims(aud: &str, email: &str, exp_offset: i64) -> serde_json::Value {
    let now = (now_ms() / 1000) as i64;
    json!({
        "iss": "https://accounts.google.com",
        "aud": aud,
        "sub": "1234567890",
        "azp": "1234567890",
        "email": email,
        "email_verified": true,
        "iat": now - 60,
        "exp": now + exp_offset,
    })
}

/// Serves the test key set at `/certs`, as Google serves its signing keys.
async fn serve_test_jwks() -> std::net::SocketAddr {
    let jwks: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/oidc-test-jwks.json")).unwrap();
    serve(axum::Router::new().route(
        "/certs",
        axum::routing::get(move || async move { axum::Json(jwks) }),
    ))
    .await
}

#[tokio::test]
async fn push_tokens_are_verified() {
    let jwks_addr = serve_test_jwks().await;
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.push_audience = Some(AUDIENCE.into());
    c.push_service_account = Some(PUSHER.into());
    c.push_jwks_url = Some(format!("http://{jwks_addr}/certs"));
    let w = start(c).await;
    let body = envelope(&job(spec(1), Reply::None), "1", None);

    let send = |auth: Option<String>| {
        let mut r = w
            .http
            .post(format!("{}/pubsub/push", w.url))
            .body(body.clone());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    let good = token(&claims(AUDIENCE, PUSHER, 3600), "mandala-test-key-1");
    let (status, text) = send(Some(format!("Bearer {good}"))).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("stored"), "{text}");

    let refused = [
        ("no header", None),
        ("not bearer", Some(format!("Basic {good}"))),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                token(
                    &claims("https://elsewhere.run.app", PUSHER, 3600),
                    "mandala-test-key-1"
                )
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                token(&claims(AUDIENCE, PUSHER, -3600), "mandala-test-key-1")
            )),
        ),
        (
            "wrong email",
            Some(format!(
                "Bearer {}",
                token(
                    &claims(AUDIENCE, "someone@else.iam.gserviceaccount.com", 3600),
                    "mandala-test-key-1"
                )
            )),
        ),
        (
            "unknown key",
            Some(format!(
                "Bearer {}",
                token(&claims(AUDIENCE, PUSHER, 3600), "some-other-key")
            )),
        ),
    ];
    for (what, auth) in refused {
        let (status, text) = send(auth).await;
        assert_eq!(status, 401, "{what}: {text}");
    }
    // A token without `email_verified` must be refused, not crash the handler.
    let mut unverified = claims(AUDIENCE, PUSHER, 3600);
    unverified.as_object_mut().unwrap().remove("email_verified");
    let (status, _) = send(Some(format!(
        "Bearer {}",
        token(&unverified, "mandala-test-key-1")
    )))
    .await;
    assert_eq!(status, 401);

    let stats = w.worker.stats();
    assert_eq!(
        (stats.received, stats.unauthorized, stats.renders),
        (1, 8, 1)
    );
}

#[tokio::test]
async fn the_service_account_is_optional() {
    let jwks_addr = serve_test_jwks().await;
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.push_audience = Some(AUDIENCE.into());
    c.push_jwks_url = Some(format!("http://{jwks_addr}/certs"));
    let w = start(c).await;
    let any_account = token(
        &claims(AUDIENCE, "anyone@p.iam.gserviceaccount.com", 3600),
        "mandala-test-key-1",
    );
    let r = w
        .http
        .post(format!("{}/pubsub/push", w.url))
        .header("authorization", format!("Bearer {any_account}"))
        .body(envelope(&job(spec(2), Reply::None), "2", None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
