//! Every job a user waits for ends in something they can see: the image,
//! or a short message saying why not. Against the Discord stand-in, through
//! the worker's real listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_model::RenderSpec;
use mandala_standin::discord::Failure;

/// What the user sees in place of "Rendering…".
fn shown(d: &Discord, token: &str) -> (String, usize) {
    let m = d
        .standin
        .message_for_token(token)
        .unwrap_or_else(|| panic!("nothing was shown for {token}"));
    (
        m.payload.content.clone().unwrap_or_default(),
        m.attachments.len(),
    )
}

#[tokio::test]
async fn a_spec_the_worker_refuses_is_explained_to_its_user() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let bad = RenderSpec {
        seed: Some(1),
        symmetry: Some(500),
        ..Default::default()
    };
    let (status, body) = w
        .push(envelope(&job(bad, interaction("tok-bad", 500)), "1", None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("rejected"), "{body}");
    let (content, files) = shown(&d, "tok-bad");
    assert!(
        content.starts_with("❌ Cannot draw that") && content.contains("symmetry"),
        "{content}"
    );
    assert_eq!(files, 0);
    assert_eq!(w.worker.stats().told, 1);
}

#[tokio::test]
async fn a_failure_is_retried_quietly_until_the_last_attempt_then_told() {
    // A bucket nobody can reach: every storage check fails.
    let d = discord().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = config(std::path::Path::new("unused"), &d.api_base);
    c.local_store_dir = None;
    c.bucket = Some("unreachable-renders".into());
    c.storage_emulator_host = Some(format!("127.0.0.1:{port}"));
    c.max_delivery_attempts = 5;
    let w = start(c).await;
    let the_job = job(spec(2), interaction("tok-store", 500));

    let (status, body) = w.push(envelope(&the_job, "2", Some(1))).await;
    assert_eq!(status, 503, "an early attempt asks for redelivery: {body}");
    assert!(
        d.standin.message_for_token("tok-store").is_none(),
        "the user is not bothered yet"
    );

    let (status, body) = w.push(envelope(&the_job, "2", Some(5))).await;
    assert_eq!(status, 200, "the last attempt lets go: {body}");
    assert!(body.starts_with("gave_up"), "{body}");
    let (content, _) = shown(&d, "tok-store");
    assert!(
        content.contains("could not be finished after 5 attempts")
            && content.contains("image store"),
        "{content}"
    );
    let stats = w.worker.stats();
    assert_eq!((stats.gave_up, stats.told, stats.redeliver), (1, 1, 1));
    // The per-object lock was released on the failing path too.
    assert_eq!(w.worker.locked_objects(), 0);
}

#[tokio::test]
async fn a_dead_lettered_job_tells_its_user() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let the_job = job(spec(3), interaction("tok-dead", 500));
    let mut env: serde_json::Value =
        serde_json::from_slice(&envelope(&the_job, "3", None)).unwrap();
    env["message"]["attributes"] =
        serde_json::json!({"CloudPubSubDeadLetterSourceDeliveryCount": "5"});
    let r = w
        .http
        .post(format!("{}/pubsub/dead-letter", w.url))
        .json(&env)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (content, files) = shown(&d, "tok-dead");
    assert!(
        content.contains("could not be finished after 5 attempts"),
        "{content}"
    );
    assert_eq!(files, 0);
    assert_eq!(w.worker.stats().dead_lettered, 1);
}

#[tokio::test]
async fn an_image_discord_finds_too_large_is_replaced_by_a_smaller_one() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    d.standin.fail_next(1, Failure::TooLarge);
    let big = RenderSpec {
        seed: Some(4),
        size: Some(1024),
        ..Default::default()
    };
    let (status, body) = w
        .push(envelope(&job(big, interaction("tok-413", 500)), "4", None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    let m = d.standin.message_for_token("tok-413").unwrap();
    let (width, _) = image_size(&m.attachments[0].bytes);
    assert!(width < 1024, "a smaller render was sent: {width}");
    let content = m.payload.content.unwrap();
    assert!(
        content.contains("to fit Discord's upload limit"),
        "{content}"
    );
    let statuses: Vec<u16> = d.standin.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [413, 200]);
}

#[tokio::test]
async fn an_expired_token_is_counted_and_nothing_is_sent() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let (status, body) = w
        .push(envelope(
            &job(spec(5), interaction("tok-old", 16 * 60 * 1000)),
            "5",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("expired"), "{body}");
    assert!(d.standin.requests().is_empty());
    assert_eq!(w.worker.stats().expired, 1);
}
