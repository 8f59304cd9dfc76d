//! The push OIDC check with a locally generated key set: Google-shaped ID
//! tokens signed with the test-only key in `fixtures/`, verified against
//! the JWKS served on 127.0.0.1 (which counts its fetches, and can be slow
//! or failing), with pushes arriving one by one and all at once.
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
    c.push_auth_mode = mandala_worker::config::PushAuthMode::Oidc;
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
    let without = |claim: &str| {
        let mut c = claims(AUDIENCE, PUSHER, 3600);
        c.as_object_mut().unwrap().remove(claim);
        Some(format!("Bearer {}", token(&c, "mandala-test-key-1")))
    };
    let with = |claim: &str, value: serde_json::Value| {
        let mut c = claims(AUDIENCE, PUSHER, 3600);
        c[claim] = value;
        Some(format!("Bearer {}", token(&c, "mandala-test-key-1")))
    };
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("mandala-test-key-1".into());
        jsonwebtoken::encode(
            &header,
            &claims(AUDIENCE, PUSHER, 3600),
            &EncodingKey::from_secret(b"anyone can sign this"),
        )
        .unwrap()
    };
    let refused = refused.into_iter().chain([
        ("no issuer", without("iss")),
        ("another issuer", with("iss", json!("https://evil.example"))),
        (
            "issuers as a list",
            with("iss", json!(["accounts.google.com", "x"])),
        ),
        ("no audience", without("aud")),
        ("audiences as a list", with("aud", json!([AUDIENCE, "x"]))),
        ("no expiry", without("exp")),
        ("email not verified", with("email_verified", json!(false))),
        ("a shared-secret signature", Some(format!("Bearer {hs256}"))),
    ]);
    let mut count = 0;
    for (what, auth) in refused {
        let (status, text) = send(auth).await;
        assert_eq!(status, 401, "{what}: {text}");
        count += 1;
    }
    assert_eq!(count, 15);
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
        (1, 16, 1)
    );
}

#[tokio::test]
async fn the_service_account_is_optional() {
    let jwks_addr = serve_test_jwks().await;
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.push_audience = Some(AUDIENCE.into());
    c.push_auth_mode = mandala_worker::config::PushAuthMode::Oidc;
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

/// A JWKS endpoint that counts fetches, waits `delay` before answering,
/// and sends `cache_control` if given.
#[derive(Clone)]
struct KeyServer {
    addr: std::net::SocketAddr,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl KeyServer {
    async fn start(delay: std::time::Duration, cache_control: Option<&'static str>) -> KeyServer {
        Self::start_with(delay, cache_control, 200).await
    }

    async fn start_with(
        delay: std::time::Duration,
        cache_control: Option<&'static str>,
        status: u16,
    ) -> KeyServer {
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/oidc-test-jwks.json")).unwrap();
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&fetches);
        let app = axum::Router::new().route(
            "/certs",
            axum::routing::get(move || {
                let (jwks, counter) = (jwks.clone(), std::sync::Arc::clone(&counter));
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let mut response = axum::response::IntoResponse::into_response((
                        http::StatusCode::from_u16(status).unwrap(),
                        axum::Json(jwks),
                    ));
                    if let Some(cc) = cache_control {
                        response.headers_mut().insert(
                            http::header::CACHE_CONTROL,
                            http::HeaderValue::from_static(cc),
                        );
                    }
                    response
                }
            }),
        );
        KeyServer {
            addr: serve(app).await,
            fetches,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn url(&self) -> String {
        format!("http://{}/certs", self.addr)
    }
}

/// A fresh worker checking tokens against `keys`.
async fn worker_for(keys: &KeyServer) -> (Running, Discord, tempfile::TempDir) {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.push_audience = Some(AUDIENCE.into());
    c.push_auth_mode = mandala_worker::config::PushAuthMode::Oidc;
    c.push_service_account = Some(PUSHER.into());
    c.push_jwks_url = Some(keys.url());
    (start(c).await, d, dir)
}

/// Sends every `(token, seed)` push at once; the statuses, in order.
async fn push_all(w: &Running, pushes: Vec<(String, u64)>) -> Vec<u16> {
    let sends = pushes.into_iter().map(|(token, seed)| {
        let r = w
            .http
            .post(format!("{}/pubsub/push", w.url))
            .header("authorization", format!("Bearer {token}"))
            .body(envelope(
                &job(
                    mandala_model::RenderSpec {
                        size: Some(64),
                        ..spec(seed)
                    },
                    Reply::None,
                ),
                &seed.to_string(),
                None,
            ));
        async move { r.send().await.unwrap().status().as_u16() }
    });
    futures::future::join_all(sends).await
}

fn valid() -> String {
    token(&claims(AUDIENCE, PUSHER, 3600), "mandala-test-key-1")
}

#[tokio::test]
async fn valid_pushes_arriving_together_on_a_fresh_worker_are_all_accepted() {
    let keys = KeyServer::start(std::time::Duration::ZERO, None).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    let statuses = push_all(&w, (0..16).map(|i| (valid(), 100 + i)).collect()).await;
    assert_eq!(statuses, vec![200; 16]);
    assert_eq!(keys.fetches(), 1, "one key fetch for all of them");
    // And again with the keys cached.
    let statuses = push_all(&w, (0..16).map(|i| (valid(), 200 + i)).collect()).await;
    assert_eq!(statuses, vec![200; 16]);
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test]
async fn unknown_key_ids_cannot_make_the_worker_fetch_keys_per_request() {
    let keys = KeyServer::start(std::time::Duration::ZERO, None).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    // Someone sends tokens naming key ids Google never had, while Pub/Sub
    // pushes valid ones.
    let good = valid();
    let mut pushes = Vec::new();
    for i in 0..24 {
        let forged = token(&claims(AUDIENCE, PUSHER, 3600), &format!("no-such-key-{i}"));
        pushes.push((forged, 300 + i));
        if i % 2 == 0 {
            pushes.push((good.clone(), 400 + i));
        }
    }
    let expected: Vec<u16> = pushes
        .iter()
        .map(|(t, _)| if *t == good { 200 } else { 401 })
        .collect();
    let statuses = push_all(&w, pushes).await;
    assert_eq!(statuses, expected);
    assert_eq!(keys.fetches(), 1, "unknown key ids made the worker refetch");
}

#[tokio::test]
async fn a_slow_key_endpoint_makes_pushes_wait_not_fail() {
    let keys = KeyServer::start(std::time::Duration::from_millis(1500), None).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    let statuses = push_all(&w, (0..8).map(|i| (valid(), 500 + i)).collect()).await;
    assert_eq!(statuses, vec![200; 8]);
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test]
async fn keys_are_fetched_again_when_their_max_age_has_passed() {
    let keys = KeyServer::start(std::time::Duration::ZERO, Some("public, max-age=1")).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    assert_eq!(push_all(&w, vec![(valid(), 600)]).await, vec![200]);
    assert_eq!(push_all(&w, vec![(valid(), 601)]).await, vec![200]);
    assert_eq!(keys.fetches(), 1, "within max-age the cached keys serve");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(push_all(&w, vec![(valid(), 602)]).await, vec![200]);
    assert_eq!(
        keys.fetches(),
        2,
        "after max-age the keys are fetched again"
    );
}

#[tokio::test]
async fn a_failing_key_endpoint_is_503_so_pubsub_retries_later() {
    let keys = KeyServer::start_with(std::time::Duration::ZERO, None, 500).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    let statuses = push_all(&w, (0..4).map(|i| (valid(), 700 + i)).collect()).await;
    assert_eq!(statuses, vec![503; 4]);
    assert_eq!(keys.fetches(), 1, "the pushes shared one failed fetch");
    assert_eq!(w.worker.stats().unauthorized, 0, "nobody was refused");
}

#[tokio::test]
async fn a_push_abandoned_during_the_key_fetch_does_not_restart_it() {
    let keys = KeyServer::start(std::time::Duration::from_millis(1500), None).await;
    let (w, _d, _dir) = worker_for(&keys).await;
    // The first push gives up while the keys are being fetched.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(format!("{}/pubsub/push", w.url))
        .header("authorization", format!("Bearer {}", valid()))
        .body(envelope(&job(spec(800), Reply::None), "800", None))
        .send()
        .await;
    assert!(gave_up.is_err(), "the push was meant to time out");
    // Those that arrive meanwhile wait for that same fetch.
    let statuses = push_all(&w, (0..4).map(|i| (valid(), 801 + i)).collect()).await;
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(keys.fetches(), 1, "the abandoned fetch was started again");
}
