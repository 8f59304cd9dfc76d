//! The interactions endpoint over HTTP: what Discord (or an attacker) sends
//! and what comes back, with jobs checked where they land (a real push
//! receiver on 127.0.0.1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use mandala_ingress::Ingress;
use mandala_model::job::JobKind;
use mandala_model::{ButtonAction, ButtonState, Job, RenderSpec, Reply};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Fixture {
    ingress: Ingress,
    receiver: Receiver,
    key: ed25519_dalek::SigningKey,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(tweak: impl FnOnce(&mut mandala_ingress::config::Config)) -> Fixture {
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = key(1);
    let mut config = config(&key, &receiver.url, dir.path());
    tweak(&mut config);
    Fixture {
        ingress: Ingress::start(config).await.unwrap(),
        receiver,
        key,
        _dir: dir,
    }
}

impl Fixture {
    async fn send(&self, req: Request<Body>) -> axum::response::Response {
        self.ingress.router().oneshot(req).await.unwrap()
    }

    async fn send_json(&self, body: &Value) -> (StatusCode, Value) {
        let r = self.send(signed_now(&self.key, body)).await;
        (r.status(), body_json(r).await)
    }

    /// No job may have been queued: nothing delivered and nothing pending.
    async fn assert_no_job(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(self.receiver.count(), 0, "a job was delivered");
        if let mandala_queue::JobPublisher::Local(l) = self.ingress.publisher() {
            assert_eq!(l.unacked(), 0, "a job is queued");
        }
    }
}

#[tokio::test]
async fn ping_gets_pong_as_json() {
    let f = fixture().await;
    let r = f
        .send(signed_now(
            &f.key,
            &json!({"type": 1, "id": "1", "application_id": APP_ID}),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(body_json(r).await, json!({"type": 1}));
}

#[tokio::test]
async fn healthz_answers() {
    let f = fixture().await;
    let r = f
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_real_discord_signed_sample_verifies_byte_exact() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/discord/");
    let body = std::fs::read(format!("{root}app_command_guild_signed_body.json")).unwrap();
    let meta: Value = serde_json::from_slice(
        &std::fs::read(format!("{root}app_command_guild_signed_headers.json")).unwrap(),
    )
    .unwrap();
    let public_key = meta["public_key_hex"].as_str().unwrap();
    let ts = meta["headers"]["X-Signature-Timestamp"].as_str().unwrap();
    let sig = meta["headers"]["X-Signature-Ed25519"].as_str().unwrap();

    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&key(9), &receiver.url, dir.path());
    c.discord_public_key = mandala_ingress::signing::PublicKey::new(
        ed25519_dalek::VerifyingKey::from_bytes(
            &hex::decode(public_key).unwrap().try_into().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    c.signature_max_age_secs = 0;
    let ingress = Ingress::start(c).await.unwrap();
    let request = |body: Vec<u8>| {
        Request::post("/interactions")
            .header("X-Signature-Ed25519", sig)
            .header("X-Signature-Timestamp", ts)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    // The sample is a command named "sign" for application 1380486651436073092.
    let r = ingress
        .router()
        .oneshot(request(body.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        ephemeral_text(&body_json(r).await),
        mandala_model::i18n::strings(None).unknown_command
    );

    // One byte more (a trailing newline) and it is not Discord's request any more.
    let mut tampered = body.clone();
    tampered.push(b'\n');
    let r = ingress.router().oneshot(request(tampered)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_bad_signature_is_401_and_queues_nothing() {
    let f = fixture().await;
    let body = command(&snowflake(), json!([])).to_string();
    let ts = now_secs().to_string();
    let good_sig = mandala_ingress::signing::sign(&f.key, &ts, body.as_bytes());
    let other_sig = mandala_ingress::signing::sign(&key(2), &ts, body.as_bytes());
    let req = |sig: Option<&str>, ts: Option<&str>, body: &str| {
        let mut b = Request::post("/interactions").header("content-type", "application/json");
        if let Some(s) = sig {
            b = b.header("x-signature-ed25519", s);
        }
        if let Some(t) = ts {
            b = b.header("x-signature-timestamp", t);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    };
    let old = (now_secs() - 61).to_string();
    let future = (now_secs() + 61).to_string();
    let cases: Vec<(&str, Request<Body>)> = vec![
        ("no headers", req(None, None, &body)),
        ("no signature", req(None, Some(&ts), &body)),
        ("no timestamp", req(Some(&good_sig), None, &body)),
        (
            "signature not hex",
            req(Some(&"zz".repeat(64)), Some(&ts), &body),
        ),
        (
            "signature too short",
            req(Some(&good_sig[..126]), Some(&ts), &body),
        ),
        (
            "signature too long",
            req(Some(&format!("{good_sig}00")), Some(&ts), &body),
        ),
        (
            "timestamp not a number",
            req(Some(&good_sig), Some("soon"), &body),
        ),
        (
            "signed by another key",
            req(Some(&other_sig), Some(&ts), &body),
        ),
        (
            "body tampered",
            req(
                Some(&good_sig),
                Some(&ts),
                &body.replace("mandala", "mandalb"),
            ),
        ),
        (
            "timestamp changed",
            req(Some(&good_sig), Some(&(now_secs() - 1).to_string()), &body),
        ),
        ("too old", signed(&f.key, &old, body.as_bytes())),
        ("from the future", signed(&f.key, &future, body.as_bytes())),
    ];
    for (what, request) in cases {
        let r = f.send(request).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body_text(r).await, "invalid request signature", "{what}");
    }
    f.assert_no_job().await;
}

#[tokio::test]
async fn age_check_can_be_turned_off() {
    let f = fixture_with(|c| c.signature_max_age_secs = 0).await;
    let ping = json!({"type": 1, "id": "1", "application_id": APP_ID}).to_string();
    let r = f.send(signed(&f.key, "1000", ping.as_bytes())).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_interaction_queues_nothing_more() {
    let f = fixture().await;
    let body = command(&snowflake(), json!([])).to_string();
    let ts = now_secs().to_string();
    let first = f.send(signed(&f.key, &ts, body.as_bytes())).await;
    assert_eq!(first.status(), StatusCode::OK);
    let again = f.send(signed(&f.key, &ts, body.as_bytes())).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    // Re-signed with a fresh timestamp (a replayer cannot, but Discord could): still refused.
    let resigned = f
        .send(signed(
            &f.key,
            &(now_secs() + 1).to_string(),
            body.as_bytes(),
        ))
        .await;
    assert_eq!(resigned.status(), StatusCode::UNAUTHORIZED);
    f.receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.receiver.count(), 1);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let f = fixture_with(|c| c.max_body_bytes = 4096).await;
    let big = json!({"type": 1, "pad": "x".repeat(5000)}).to_string();
    let r = f
        .send(signed(&f.key, &now_secs().to_string(), big.as_bytes()))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without Content-Length too (chunked).
    let ts = now_secs().to_string();
    let stream = futures_like_stream(big.clone().into_bytes());
    let req = Request::post("/interactions")
        .header(
            "x-signature-ed25519",
            mandala_ingress::signing::sign(&f.key, &ts, big.as_bytes()),
        )
        .header("x-signature-timestamp", &ts)
        .body(stream)
        .unwrap();
    assert_eq!(f.send(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A body whose length is not known up front.
fn futures_like_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = bytes
        .chunks(1000)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn signed_garbage_is_400_with_a_reason() {
    let f = fixture().await;
    for (body, needle) in [
        (b"not json".to_vec(), "not an interaction"),
        (b"{\"type\":\"one\"}".to_vec(), "not an interaction"),
        (b"[]".to_vec(), "not an interaction"),
    ] {
        let r = f.send(signed(&f.key, &now_secs().to_string(), &body)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = body_text(r).await;
        assert!(text.contains(needle), "{text}");
    }
    // Wrongly shaped data for the type.
    let (status, _) = f
        .send_json(&json!({"id": snowflake(), "application_id": APP_ID, "type": 2, "token": "t", "data": {"options": 5}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .send_json(&json!({"id": "abc", "application_id": APP_ID, "type": 2, "token": "t"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .send_json(&json!({"id": snowflake(), "application_id": APP_ID, "type": 42}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    f.assert_no_job().await;
}

#[tokio::test]
async fn interactions_for_another_application_are_401() {
    let f = fixture().await;
    let mut body = command(&snowflake(), json!([]));
    body["application_id"] = json!("999");
    let (status, _) = f.send_json(&body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    f.assert_no_job().await;
}

#[tokio::test]
async fn mandala_publishes_one_job_and_acknowledges_visibly() {
    let f = fixture().await;
    let id = snowflake();
    let (status, v) = f
        .send_json(&command_from(&id, "33", json!([{"name": "symmetry", "type": 4, "value": 12}, {"name": "palette", "type": 3, "value": "ocean"}])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["type"], 4);
    assert!(v["data"]["flags"].is_null(), "must be visible: {v}");
    let said = v["data"]["content"].as_str().unwrap();
    assert!(
        mandala_model::wait::parse_approx(said).is_some() && said.contains("⏱️ ready in ~"),
        "the answer says when to expect the image: {said}"
    );
    assert_eq!(v["data"]["allowed_mentions"], json!({"parse": []}));
    let content = v["data"]["content"].as_str().unwrap();
    // A grid of four candidates by default, naming what they share.
    assert!(
        content.starts_with("🌀 Rendering four mandalas · seeds "),
        "{content}"
    );
    assert!(
        content.contains("12-fold") && content.contains("ocean"),
        "{content}"
    );

    let got = f.receiver.wait_for(1).await;
    let env = &got[0];
    assert_eq!(
        env.subscription,
        "projects/local/subscriptions/mandala-jobs-push"
    );
    assert_eq!(env.delivery_attempt, Some(1));
    assert!(
        env.message
            .publish_time
            .as_deref()
            .unwrap()
            .parse::<String>()
            .is_ok()
    );
    time::OffsetDateTime::parse(
        env.message.publish_time.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let job: Job = env.decode_job().unwrap();
    assert_eq!(job.kind, JobKind::Command);
    assert_eq!(job.grid, Some(mandala_model::GridKind::Candidates));
    let Reply::Interaction(reply) = &job.reply else {
        panic!("{:?}", job.reply)
    };
    assert_eq!(
        (
            reply.application_id.as_str(),
            reply.interaction_id.as_str(),
            reply.token.as_str()
        ),
        (APP_ID, id.as_str(), format!("tok-{id}").as_str())
    );
    // The ingress fills the seed; the answer names the four cells' seeds,
    // the ones U1–U4 will draw alone.
    assert!(job.spec.seed.is_some());
    let cells = mandala_model::grid::cells(&job.spec, mandala_model::GridKind::Candidates).unwrap();
    let seeds: Vec<String> = cells.iter().map(|c| c.seed.unwrap().to_string()).collect();
    assert!(
        content.contains(&format!("seeds {} ", seeds.join(", "))),
        "{content} vs {seeds:?}"
    );
    assert_eq!(job.spec.symmetry, Some(12));
    let by = job.requested_by.unwrap();
    assert_eq!(
        (
            by.user_id.as_deref(),
            by.username.as_deref(),
            by.guild_id.as_deref(),
            by.channel_id.as_deref()
        ),
        (Some("33"), Some("ada"), Some("11"), Some("22"))
    );
    assert!(job.requested_at.is_some());
    let ticket = job.ticket.clone().expect("admitted through the ledger");
    assert_eq!(
        (ticket.user.as_str(), ticket.job.as_str()),
        ("33", id.as_str())
    );
    assert_eq!(
        env.message.ordering_key.as_deref(),
        Some("33"),
        "one user's jobs are ordered by their id"
    );
    let a = &env.message.attributes;
    assert_eq!(a["kind"], "command");
    assert_eq!(a["interaction_id"], id);
    assert_eq!(a["source"], "discord");
}

#[tokio::test]
async fn the_same_interaction_gets_the_same_seed_on_any_instance() {
    let id = snowflake();
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let f = fixture().await;
        let (status, _) = f.send_json(&command(&id, json!([]))).await;
        assert_eq!(status, StatusCode::OK);
        let job = f.receiver.wait_for(1).await[0].decode_job().unwrap();
        hashes.push(
            mandala_model::Drawing::resolve(&job.spec, job.grid)
                .unwrap()
                .hash(),
        );
    }
    assert_eq!(hashes[0], hashes[1], "the same object on any instance");
}

#[tokio::test]
async fn bad_options_say_which_and_what_is_allowed() {
    let f = fixture().await;
    let (status, v) = f
        .send_json(&command(
            &snowflake(),
            json!([{"name": "symmetry", "type": 4, "value": 99}]),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = ephemeral_text(&v);
    assert!(
        text.contains("symmetry") && text.contains("2..=64"),
        "{text}"
    );
    let (_, v) = f
        .send_json(&command(
            &snowflake(),
            json!([{"name": "palette", "type": 3, "value": "mauve"}]),
        ))
        .await;
    let text = ephemeral_text(&v);
    assert!(text.contains("palette") && text.contains("ocean"), "{text}");
    f.assert_no_job().await;
}

#[tokio::test]
async fn unknown_commands_and_modals_are_ephemeral() {
    let f = fixture().await;
    let mut body = command(&snowflake(), json!([]));
    body["data"]["name"] = json!("imagine");
    let (_, v) = f.send_json(&body).await;
    assert_eq!(
        ephemeral_text(&v),
        mandala_model::i18n::strings(None).unknown_command
    );
    let (status, v) = f
        .send_json(&json!({"id": snowflake(), "application_id": APP_ID, "type": 5, "token": "t", "data": {"custom_id": "x", "components": []}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    ephemeral_text(&v);
    f.assert_no_job().await;
}

fn button(action: ButtonAction, size: Option<u32>) -> String {
    ButtonState {
        action,
        spec: RenderSpec {
            seed: Some(42),
            symmetry: Some(8),
            size,
            ..Default::default()
        },
    }
    .encode()
    .unwrap()
}

#[tokio::test]
async fn every_button_publishes_what_it_says() {
    use mandala_model::GridKind::{Candidates, Variations};
    let f = fixture().await;
    let cases = [
        (
            ButtonAction::Reroll,
            JobKind::Reroll,
            "🔄 Re-rolling · ",
            None,
        ),
        (
            ButtonAction::Variation,
            JobKind::Variation,
            "✨ Varying · ",
            None,
        ),
        (
            ButtonAction::Subtle,
            JobKind::Subtle,
            "✨ Varying (subtle) · ",
            None,
        ),
        (
            ButtonAction::Strong,
            JobKind::Strong,
            "✨ Varying (strong) · ",
            None,
        ),
        (
            ButtonAction::Upscale,
            JobKind::Upscale,
            "🔍 Upscaling to 2048 px · ",
            None,
        ),
        (
            ButtonAction::NewGrid,
            JobKind::Reroll,
            "🔄 Four new mandalas · ",
            Some(Candidates),
        ),
        (
            ButtonAction::Pick(Candidates, 3),
            JobKind::Pick,
            "🔍 Taking U3 · ",
            None,
        ),
        (
            ButtonAction::VaryCell(Candidates, 2),
            JobKind::Variation,
            "✨ Four variations of V2 · ",
            Some(Variations),
        ),
    ];
    for (i, (action, kind, text, grid)) in cases.into_iter().enumerate() {
        let id = snowflake();
        let (status, v) = f.send_json(&click(&id, &button(action, Some(1024)))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["type"], 4);
        assert!(v["data"]["flags"].is_null(), "{v}");
        let content = v["data"]["content"].as_str().unwrap();
        assert!(content.starts_with(text), "{content}");
        let env = f.receiver.wait_for(i + 1).await.pop().unwrap();
        let job = env.decode_job().unwrap();
        assert_eq!((job.kind, job.grid), (kind, grid), "{action:?}");
        assert_eq!(env.message.attributes["kind"], kind.as_str());
        let Reply::Interaction(r) = &job.reply else {
            panic!()
        };
        assert_eq!(
            r.interaction_id, id,
            "the worker edits the click's own message"
        );
        assert_eq!(job.spec.symmetry, Some(8));
        let expected = ButtonState::parse(&button(action, Some(1024)))
            .unwrap()
            .next(id.parse().unwrap())
            .unwrap();
        assert_eq!((job.spec, job.grid), (expected.spec, expected.grid));
    }
}

#[tokio::test]
async fn bad_or_useless_buttons_are_ephemeral_and_queue_nothing() {
    let f = fixture().await;
    let (_, v) = f.send_json(&click(&snowflake(), "m1:zz")).await;
    assert!(ephemeral_text(&v).contains("button"), "{v}");
    let (_, v) = f
        .send_json(&click(
            &snowflake(),
            &button(ButtonAction::Upscale, Some(4096)),
        ))
        .await;
    assert!(ephemeral_text(&v).contains("largest"), "{v}");
    f.assert_no_job().await;
}

#[tokio::test]
async fn palette_autocomplete_lists_matching_names() {
    let f = fixture().await;
    let body = json!({
        "id": snowflake(), "application_id": APP_ID, "type": 4, "token": "t",
        "data": {"name": "mandala", "type": 1, "options": [
            {"name": "symmetry", "type": 4, "value": 8},
            {"name": "palette", "type": 3, "value": "oc", "focused": true}
        ]}
    });
    let (status, v) = f.send_json(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["type"], 8);
    let choices = v["data"]["choices"].as_array().unwrap();
    assert!(!choices.is_empty() && choices.len() <= 25);
    assert_eq!(choices[0]["value"], "ocean");
    f.assert_no_job().await;
}

#[tokio::test]
async fn a_full_queue_gets_try_again() {
    // A stuck worker holds the only slot.
    let stuck = Receiver::hanging().await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let mut c = config(&k, &stuck.url, dir.path());
    c.local_push_queue_capacity = 1;
    let ingress = Ingress::start(c).await.unwrap();
    let send = |body: Value| {
        let router = ingress.router();
        let req = signed_now(&k, &body);
        async move { body_json(router.oneshot(req).await.unwrap()).await }
    };
    let first = send(command(&snowflake(), json!([]))).await;
    assert!(
        first["data"]["content"].as_str().unwrap().starts_with("🌀"),
        "{first}"
    );
    let second = send(command(&snowflake(), json!([]))).await;
    assert_eq!(
        ephemeral_text(&second),
        mandala_model::i18n::strings(None).try_again
    );
}

#[tokio::test]
async fn a_publish_that_hangs_gets_try_again_within_the_budget() {
    // A Pub/Sub "server" that accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = blackhole.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let mut c = config(&k, "http://unused", dir.path());
    c.local_push_url = None;
    c.pubsub_topic = Some("projects/p/topics/jobs".into());
    c.pubsub_emulator_host = Some(host.clone());
    c.publish_timeout_ms = 300;
    // The ledger is unreachable too: the job goes out without an estimate.
    c.firestore_database = Some("projects/p/databases/(default)".into());
    c.firestore_emulator_host = Some(host);
    c.ledger_timeout_ms = 200;
    let ingress = Ingress::start(c).await.unwrap();
    let started = Instant::now();
    let r = ingress
        .router()
        .oneshot(signed_now(&k, &command(&snowflake(), json!([]))))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        ephemeral_text(&body_json(r).await),
        mandala_model::i18n::strings(None).try_again
    );
    // The user must hear back well inside Discord's 3 s.
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[tokio::test]
async fn serve_drains_and_stops_on_the_signal() {
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let c = config(&k, &receiver.url, dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mandala_ingress::serve(c, listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let body = command(&snowflake(), json!([])).to_string();
    let ts = now_secs().to_string();
    let r = client
        .post(format!("http://{addr}/interactions"))
        .header(
            "x-signature-ed25519",
            mandala_ingress::signing::sign(&k, &ts, body.as_bytes()),
        )
        .header("x-signature-timestamp", &ts)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "still accepting"
    );
    receiver.wait_for(1).await;
}
