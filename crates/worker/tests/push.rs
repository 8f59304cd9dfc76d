//! The push endpoint end to end: a real worker (local store) and the
//! Discord stand-in on 127.0.0.1, jobs as Pub/Sub would push them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use mandala_model::{ButtonAction, ButtonState, Format, Job, RenderSpec, Reply};

#[tokio::test]
async fn an_interaction_job_edits_the_original_with_image_caption_and_buttons() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let job = job(spec(42), interaction("tok-first", 1000));
    let (status, body) = w.push(envelope(&job, "1001", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");

    let m = d
        .standin
        .message_for_token("tok-first")
        .expect("the original was edited");
    assert!(m.original);
    assert_eq!(m.edits, 1);
    let content = m.payload.content.as_deref().unwrap();
    assert!(
        content.starts_with("<@80351110224678912> · seed 42 · "),
        "{content}"
    );
    assert_eq!(
        m.payload_json["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
    let embed = &m.payload.embeds.as_ref().unwrap()[0];
    assert_eq!(
        embed.image.as_ref().unwrap().url,
        "attachment://mandala-42.webp"
    );
    assert_eq!(m.attachments.len(), 1);
    let file = &m.attachments[0];
    assert_eq!(
        (file.filename.as_str(), file.content_type.as_str()),
        ("mandala-42.webp", "image/webp")
    );
    assert_eq!(image_size(&file.bytes), (256, 256));

    // The buttons carry the user's spec with the seed that was drawn.
    let buttons = m.payload.components.as_ref().unwrap()[0]
        .components
        .clone()
        .unwrap();
    let states: Vec<ButtonState> = buttons
        .iter()
        .map(|b| ButtonState::parse(b.custom_id.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        states.iter().map(|s| s.action).collect::<Vec<_>>(),
        ButtonAction::SINGLE
    );
    // Vary (Strong) also pins the drawn look; the others carry the spec as asked.
    assert!(
        states
            .iter()
            .filter(|s| s.action != ButtonAction::Strong)
            .all(|s| s.spec == spec(42))
    );

    // The same bytes are in the store, under the spec's hash, with the spec beside them.
    let resolved = spec(42).resolve().unwrap();
    let stored = std::fs::read(dir.path().join(resolved.object_name())).unwrap();
    assert_eq!(stored, file.bytes.to_vec());
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(resolved.object_name() + ".json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["metadata"]["spec"], resolved.canonical_json());
    assert_eq!(sidecar["content_type"], "image/webp");

    let r = d.standin.requests();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].method.as_str(), r[0].status), ("PATCH", 200));
    assert_eq!(
        r[0].path,
        format!("/webhooks/{APP_ID}/tok-first/messages/@original")
    );
}

#[tokio::test]
async fn a_redelivered_job_renders_once_and_edits_twice() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let job = job(spec(7), interaction("tok-again", 1000));
    for attempt in 1..=2 {
        let (status, body) = w.push(envelope(&job, "2002", Some(attempt))).await;
        assert_eq!(status, 200, "{body}");
    }
    let stats = w.worker.stats();
    assert_eq!((stats.renders, stats.replied), (1, 2));
    let stages = stats.stages;
    assert_eq!((stages.decoded, stages.stored, stages.replies), (2, 2, 2));
    assert!(
        stages.render_us > 0 && stages.encode_us > 0 && stages.reply_us > 0,
        "{stages:?}"
    );
    let m = d.standin.message_for_token("tok-again").unwrap();
    assert_eq!(
        m.edits, 2,
        "the same message edited twice, not a second message"
    );
    assert_eq!(d.standin.messages().len(), 1);
    let images: Vec<_> = stored_images(dir.path());
    assert_eq!(images.len(), 1, "{images:?}");
    // The second edit re-sent the stored image.
    assert_eq!(image_size(&m.attachments[0].bytes), (256, 256));
}

#[tokio::test]
async fn identical_jobs_at_once_render_once() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let pushes = (0..4).map(|i| {
        let job = job(spec(99), interaction(&format!("tok-par-{i}"), 1000));
        w.push(envelope(&job, &format!("30{i}"), None))
    });
    for (status, body) in futures::future::join_all(pushes).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(w.worker.stats().renders, 1);
    assert_eq!(d.standin.messages().len(), 4);
}

#[tokio::test]
async fn a_job_without_a_seed_means_one_image_per_message() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let unseeded = job(
        RenderSpec {
            size: Some(128),
            ..Default::default()
        },
        Reply::None,
    );
    for (id, attempt) in [("4001", 1), ("4001", 2), ("4002", 1)] {
        let (status, body) = w.push(envelope(&unseeded, id, Some(attempt))).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("stored"), "{body}");
    }
    assert_eq!(
        w.worker.stats().renders,
        2,
        "a redelivery reuses the seed; a new message draws a new one"
    );
    let images: Vec<_> = stored_images(dir.path());
    assert_eq!(images.len(), 2);
}

#[tokio::test]
async fn poison_messages_are_acknowledged_and_counted() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let wrapped = |data: &str| {
        serde_json::to_vec(&serde_json::json!({
            "subscription": "projects/p/subscriptions/s",
            "message": {"data": data, "messageId": "5000", "publishTime": "2026-11-24T10:00:00Z"}
        }))
        .unwrap()
    };
    let bad_spec = Job::new(
        RenderSpec {
            symmetry: Some(999),
            ..Default::default()
        },
        Reply::None,
        mandala_model::job::JobKind::Manual,
    );
    let evil_hook = job(
        spec(1),
        Reply::WebhookUrl("http://169.254.169.254/computeMetadata/v1/".into()),
    );
    let mut not_snowflake = job(spec(1), interaction("t", 0));
    if let Reply::Interaction(i) = &mut not_snowflake.reply {
        i.interaction_id = "yesterday".into();
    }
    let poison: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{{{".to_vec()),
        ("no message", br#"{"subscription":"s"}"#.to_vec()),
        ("bad base64", wrapped("***")),
        ("bad job JSON", wrapped(&b64("{not json"))),
        ("version zero", wrapped(&b64(r#"{"v":0}"#))),
        ("spec out of range", envelope(&bad_spec, "5001", None)),
        ("webhook off Discord", envelope(&evil_hook, "5002", None)),
        (
            "interaction id not a snowflake",
            envelope(&not_snowflake, "5003", None),
        ),
        (
            "no message id",
            serde_json::to_vec(&serde_json::json!({"message": {"data": b64("{}")}})).unwrap(),
        ),
    ];
    for (what, body) in &poison {
        let (status, text) = w.push(body.clone()).await;
        assert_eq!(status, 200, "{what}: {text}");
        assert!(text.starts_with("rejected"), "{what}: {text}");
    }
    // Not poison: jobs from a newer build, which a newer worker can serve
    // (tests/upgrades.rs follows them to their last attempt).
    for (what, data) in [
        ("unknown version", r#"{"v":2}"#),
        ("unknown spec field", r#"{"spec":{"sides":3}}"#),
    ] {
        let (status, text) = w.push(wrapped(&b64(data))).await;
        assert_eq!(status, 503, "{what}: {text}");
    }
    let stats = w.worker.stats();
    assert_eq!((stats.rejected, stats.renders), (poison.len() as u64, 0));
    assert!(d.standin.requests().is_empty(), "nothing reached Discord");
    assert!(stored_files(dir.path()).is_empty());
}

#[tokio::test]
async fn expired_interaction_tokens_are_dropped_without_rendering() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let old = job(spec(3), interaction("tok-old", 16 * 60 * 1000));
    let (status, body) = w.push(envelope(&old, "6001", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("expired"), "{body}");
    let stats = w.worker.stats();
    assert_eq!((stats.expired, stats.renders), (1, 0));
    assert!(d.standin.requests().is_empty());
    assert!(stored_files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_webhook_job_posts_to_the_channel_and_svg_is_attached_not_embedded() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let hook = format!("{}/webhooks/2200000000000000002/hook-token", d.api_base);
    let svg = RenderSpec {
        format: Some(Format::Svg),
        ..spec(8)
    };
    let (status, body) = w
        .push(envelope(&job(svg, Reply::WebhookUrl(hook)), "7001", None))
        .await;
    assert_eq!(status, 200, "{body}");
    let m = d.standin.wait_for_messages(1, SHORT).await.remove(0);
    assert!(!m.original);
    assert_eq!(m.webhook_id, "2200000000000000002");
    assert_eq!(m.attachments[0].filename, "mandala-8.svg");
    assert_eq!(m.attachments[0].content_type, "image/svg+xml");
    assert!(m.payload.embeds.as_ref().unwrap()[0].image.is_none());
    let r = &d.standin.requests()[0];
    assert_eq!((r.method.as_str(), r.status), ("POST", 200));
}

#[tokio::test]
async fn a_manual_job_is_stored_and_logged_only() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    // What `gcloud pubsub topics publish mandala-jobs --message='{"spec":{"seed":42,"palette":"ocean"}}'` sends.
    let data = base64::engine::general_purpose::STANDARD
        .encode(r#"{"spec":{"seed":42,"palette":"ocean","size":128}}"#);
    let body = serde_json::to_vec(&serde_json::json!({
        "subscription": "projects/p/subscriptions/mandala-jobs-push",
        "message": {"data": data, "messageId": "8001", "message_id": "8001",
                    "publishTime": "2026-11-24T10:00:00Z", "publish_time": "2026-11-24T10:00:00Z"}
    }))
    .unwrap();
    let (status, text) = w.push(body).await;
    assert_eq!(status, 200, "{text}");
    let name = RenderSpec {
        seed: Some(42),
        size: Some(128),
        palette: Some("ocean".parse().unwrap()),
        ..Default::default()
    }
    .resolve()
    .unwrap()
    .object_name();
    assert!(text.contains(&name), "{text}");
    assert_eq!(
        image_size(&std::fs::read(dir.path().join(&name)).unwrap()),
        (128, 128)
    );
    assert!(d.standin.requests().is_empty());
}

#[tokio::test]
async fn health_reports_counters() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let h: serde_json::Value = w
        .http
        .get(format!("{}/healthz", w.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["render_concurrency"], 2);
    assert_eq!(h["stats"]["renders"], 0);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_jobs() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mandala_worker::serve(
        config(dir.path(), &d.api_base),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let big = RenderSpec {
        size: Some(2048),
        ..spec(11)
    };
    let body = envelope(&job(big, interaction("tok-late", 1000)), "9001", None);
    let http = reqwest::Client::new();
    let push = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(format!("{url}/pubsub/push"))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    // Wait until the job is running, then ask the server to stop.
    for _ in 0..2000 {
        let h: serde_json::Value = http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["in_flight"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        d.standin.requests().is_empty(),
        "the job was still running when shutdown began"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // `serve` returned only after the job had replied.
    assert_eq!(
        d.standin.message_for_token("tok-late").map(|m| m.edits),
        Some(1)
    );
    assert_eq!(push.await.unwrap(), 200);
}
