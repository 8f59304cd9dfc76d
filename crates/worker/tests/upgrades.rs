//! A rolling upgrade loses no job: a job "from the next version" (a spec
//! field, a version this build does not know) is handed back for a newer
//! worker while attempts remain, and its user is told on the last one; a
//! job that cannot be decoded still gets its final word whenever its
//! interaction can be read. Through the worker's real listener, against the
//! Discord stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_worker::Role;

/// `job`'s JSON with `change` applied: what a newer (or broken) ingress sends.
fn altered(job: &mandala_model::Job, change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&job.to_json()).unwrap();
    change(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn shown(d: &Discord, token: &str) -> String {
    d.standin
        .message_for_token(token)
        .and_then(|m| m.payload.content)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_job_from_the_next_version_is_handed_back_then_told_on_its_last_attempt() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    for (token, change) in [
        (
            "tok-sparkle",
            Box::new(|v: &mut serde_json::Value| v["spec"]["sparkle"] = true.into())
                as Box<dyn Fn(&mut serde_json::Value)>,
        ),
        (
            "tok-v2",
            Box::new(|v: &mut serde_json::Value| v["v"] = 2.into()),
        ),
    ] {
        let next = altered(&job(spec(1), interaction(token, 1_000)), change);
        let (status, body) = w.push(envelope_of(&next, token, Some(1), now_ms())).await;
        assert_eq!(status, 503, "a newer worker may take it: {body}");
        assert!(body.contains("newer version"), "{body}");
        assert!(
            d.standin.message_for_token(token).is_none(),
            "nobody bothered yet"
        );

        let (status, body) = w.push(envelope_of(&next, token, Some(5), now_ms())).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("gave_up"), "{body}");
        let content = shown(&d, token);
        assert!(
            content.contains("after 5 attempts") && content.contains("being updated"),
            "{content}"
        );
    }
    assert_eq!(w.worker.stats().renders, 0);
}

#[tokio::test]
async fn a_broken_job_whose_interaction_can_be_read_is_told_at_once() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let broken = altered(&job(spec(2), interaction("tok-broken", 1_000)), |v| {
        v["spec"]["seed"] = "forty-two".into();
    });
    let (status, body) = w.push(envelope_of(&broken, "b", Some(1), now_ms())).await;
    assert_eq!(status, 200, "redelivering cannot help: {body}");
    assert!(body.starts_with("rejected"), "{body}");
    let content = shown(&d, "tok-broken");
    assert!(content.starts_with("❌ Cannot draw that"), "{content}");
    assert_eq!(w.worker.stats().told, 1);

    // Nothing to read a target from: logged, nobody told.
    let (status, body) = w
        .push(envelope_of(
            br#"{"spec":{"seed":"x"}}"#,
            "c",
            Some(1),
            now_ms(),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("rejected"), "{body}");
    assert_eq!(
        d.standin
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_dead_letter_from_the_next_version_still_tells_its_user() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let next = altered(&job(spec(3), interaction("tok-dead-next", 1_000)), |v| {
        v["spec"]["sparkle"] = true.into();
    });
    let (status, body) = w
        .post(
            "/pubsub/dead-letter",
            envelope_of(&next, "dn", None, now_ms()),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("dead_letter_told"), "{body}");
    assert!(shown(&d, "tok-dead-next").contains("could not be finished"));
}

#[tokio::test]
async fn a_reply_job_from_the_next_version_is_handed_back_then_told() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.worker_role = Role::Reply;
    let w = start(c).await;
    let reply_job = serde_json::json!({
        "v": 1,
        "job": serde_json::from_slice::<serde_json::Value>(
            &job(spec(4), interaction("tok-reply-next", 1_000)).to_json()
        ).unwrap(),
        "spec": {"seed": 4, "sparkle": true},
        "image": {"object": "renders/v1/x.png", "content_type": "image/png", "size": 256},
        "job_message_id": "rj",
    });
    let data = serde_json::to_vec(&reply_job).unwrap();
    let (status, body) = w.push(envelope_of(&data, "rj", Some(1), now_ms())).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = w.push(envelope_of(&data, "rj", Some(5), now_ms())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("gave_up"), "{body}");
    assert!(shown(&d, "tok-reply-next").contains("being updated"));
}
