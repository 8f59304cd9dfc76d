//! Helpers shared by the ingress's HTTP-level tests: a real push receiver,
//! configs that ignore the caller's environment, signed requests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use clap::Parser as _;
use ed25519_dalek::SigningKey;
use mandala_ingress::config::Config;
use mandala_ingress::signing::sign;
use mandala_model::PushEnvelope;
use serde_json::{Value, json};

pub const APP_ID: &str = "1380486651436073092";

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// A config for `public_key` delivering to `push_url`, with every setting
/// set explicitly so that the test does not depend on the environment.
pub fn config(public_key: &SigningKey, push_url: &str, dir: &Path) -> Config {
    let mut c = Config::try_parse_from([
        "mandala-ingress",
        "--discord-public-key",
        &hex::encode(public_key.verifying_key().to_bytes()),
    ])
    .unwrap();
    c.cloud_run.port = 0;
    c.cloud_run.google_cloud_project = None;
    c.discord_application_id = Some(APP_ID.into());
    c.pubsub_topic = None;
    c.pubsub_emulator_host = None;
    c.local_push_url = Some(push_url.into());
    c.local_dead_letter_file = dir.join("dead-letter.jsonl");
    c.local_spool_file = dir.join("pending.jsonl");
    c.local_push_max_attempts = 5;
    c.local_push_queue_capacity = 1024;
    c.local_push_concurrency = 8;
    c.local_push_ack_deadline_secs = 60;
    c.signature_max_age_secs = 60;
    c.replay_memory_ids = 131_072;
    c.max_body_bytes = 65_536;
    c.publish_timeout_ms = 1500;
    c.max_queued_per_user = 5;
    c.firestore_database = None;
    c.firestore_emulator_host = None;
    c.ledger_timeout_ms = 800;
    c.local_push_min_backoff_ms = 100;
    c.local_push_max_backoff_ms = 10_000;
    c.local_dead_letter_url = None;
    c.discord.api_base = "http://127.0.0.1:9/api/v10".into();
    c.http.header_read_timeout_ms = 5000;
    c.http.body_read_timeout_ms = 3000;
    c.http.idle_timeout_secs = 60;
    c.http.max_connections = 1024;
    c.http.drain_secs = 5;
    c
}

pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A POST /interactions signed by `key` at `timestamp`.
pub fn signed(key: &SigningKey, timestamp: &str, body: &[u8]) -> Request<Body> {
    Request::post("/interactions")
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sign(key, timestamp, body))
        .header("x-signature-timestamp", timestamp)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

pub fn signed_now(key: &SigningKey, body: &Value) -> Request<Body> {
    signed(key, &now_secs().to_string(), body.to_string().as_bytes())
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh snowflake for now.
pub fn snowflake() -> String {
    let ms =
        u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
    mandala_model::discord::snowflake::from_timestamp_ms(
        ms,
        NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    )
}

/// A `/mandala` interaction from a user of its own (so per-user limits
/// and ordering never get in the way of a test about something else).
pub fn command(id: &str, options: Value) -> Value {
    command_from(id, &format!("9{id}"), options)
}

/// A `/mandala` interaction from `user`.
pub fn command_from(id: &str, user: &str, options: Value) -> Value {
    json!({
        "id": id, "application_id": APP_ID, "type": 2, "token": format!("tok-{id}"),
        "version": 1, "guild_id": "11", "channel_id": "22",
        "member": {"user": {"id": user, "username": "ada"}},
        "data": {"id": "44", "name": "mandala", "type": 1, "options": options}
    })
}

pub fn click(id: &str, custom_id: &str) -> Value {
    json!({
        "id": id, "application_id": APP_ID, "type": 3, "token": format!("tok-{id}"),
        "version": 1, "channel_id": "22", "user": {"id": "33", "username": "ada"},
        "data": {"custom_id": custom_id, "component_type": 2}
    })
}

/// The text of an answer only its user sees (panics if it is not one).
pub fn ephemeral_text(v: &Value) -> &str {
    assert_eq!(v["type"], 4, "{v}");
    assert_eq!(v["data"]["flags"], 64, "not ephemeral: {v}");
    v["data"]["content"].as_str().unwrap()
}

/// `body`, signed with `key`, sent to `ingress`'s router: the 200 answer's JSON.
pub async fn answer(ingress: &mandala_ingress::Ingress, key: &SigningKey, body: &Value) -> Value {
    use tower::ServiceExt as _;
    let r = ingress
        .router()
        .oneshot(signed_now(key, body))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    body_json(r).await
}

pub async fn body_json(resp: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
}

pub async fn body_text(resp: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A push endpoint on 127.0.0.1 that records every envelope and answers
/// with the scripted statuses in turn (then 204), or never answers.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<PushEnvelope>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<PushEnvelope>>>,
    script: Arc<Mutex<Vec<u16>>>,
    hang: bool,
}

async fn receive(
    State(s): State<ReceiverState>,
    body: axum::body::Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let env = PushEnvelope::from_slice(&body).expect("ingress sent a valid push envelope");
    s.got.lock().unwrap().push(env);
    if s.hang {
        tokio::time::sleep(Duration::from_hours(1)).await;
    }
    let mut script = s.script.lock().unwrap();
    let code = if script.is_empty() {
        204
    } else {
        script.remove(0)
    };
    // Redirects point back here, so a client that followed them would
    // deliver again within the same attempt.
    (StatusCode::from_u16(code).unwrap(), [("location", "/push")])
}

impl Receiver {
    pub async fn start(script: Vec<u16>) -> Receiver {
        Self::start_with(script, false).await
    }

    /// Records but never answers (a stuck worker).
    pub async fn hanging() -> Receiver {
        Self::start_with(Vec::new(), true).await
    }

    async fn start_with(script: Vec<u16>, hang: bool) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let app = axum::Router::new()
            .route("/push", post(receive))
            .with_state(ReceiverState {
                got: Arc::clone(&got),
                script: Arc::clone(&script),
                hang,
            });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{addr}/push"),
            got,
            script,
        }
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    pub fn envelopes(&self) -> Vec<PushEnvelope> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (10 s at most).
    pub async fn wait_for(&self, n: usize) -> Vec<PushEnvelope> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} deliveries, got {}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.envelopes()
    }
}

/// A URL nothing listens on.
pub async fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/push")
}
