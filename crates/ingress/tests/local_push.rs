//! The local push delivery behaves like a push subscription: retries with
//! counted attempts, dead-letters after the last one, and keeps undelivered
//! jobs across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use mandala_ingress::Ingress;
use mandala_model::PushEnvelope;
use mandala_queue::JobPublisher;
use serde_json::{Value, json};
use tower::ServiceExt as _;

async fn queue_command(ingress: &Ingress, key: &ed25519_dalek::SigningKey) -> String {
    let id = snowflake();
    let r = ingress
        .router()
        .oneshot(signed_now(key, &command(&id, json!([]))))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = body_json(r).await;
    assert!(
        v["data"]["content"].as_str().unwrap().starts_with("🌀"),
        "{v}"
    );
    id
}

fn unacked(ingress: &Ingress) -> usize {
    match ingress.publisher() {
        JobPublisher::Local(l) => l.unacked(),
        _ => panic!("expected local delivery"),
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_counted_attempts() {
    let receiver = Receiver::start(vec![500, 503]).await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let ingress = Ingress::start(config(&k, &receiver.url, dir.path()))
        .await
        .unwrap();
    let id = queue_command(&ingress, &k).await;
    let got = receiver.wait_for(3).await;
    let attempts: Vec<Option<u32>> = got.iter().map(|e| e.delivery_attempt).collect();
    assert_eq!(attempts, [Some(1), Some(2), Some(3)]);
    assert!(
        got.iter()
            .all(|e| e.message.message_id == got[0].message.message_id),
        "one message, redelivered"
    );
    assert!(
        got.iter()
            .all(|e| e.message.attributes["interaction_id"] == id)
    );
    // Acknowledged on the third attempt: nothing more comes.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 3);
    assert_eq!(unacked(&ingress), 0);
    assert!(!dir.path().join("dead-letter.jsonl").exists());
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_not_followed() {
    let receiver = Receiver::start(vec![307]).await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let ingress = Ingress::start(config(&k, &receiver.url, dir.path()))
        .await
        .unwrap();
    queue_command(&ingress, &k).await;
    let got = receiver.wait_for(2).await;
    let attempts: Vec<Option<u32>> = got.iter().map(|e| e.delivery_attempt).collect();
    assert_eq!(attempts, [Some(1), Some(2)], "retried, as Pub/Sub would");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 2);
    assert_eq!(unacked(&ingress), 0);
}

#[tokio::test]
async fn messages_are_dead_lettered_after_the_last_attempt() {
    let receiver = Receiver::start(vec![500; 10]).await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let mut c = config(&k, &receiver.url, dir.path());
    c.local_push_max_attempts = 3;
    let ingress = Ingress::start(c).await.unwrap();
    let id = queue_command(&ingress, &k).await;
    receiver.wait_for(3).await;
    let dead = dir.path().join("dead-letter.jsonl");
    for _ in 0..200 {
        if dead.exists() && unacked(&ingress) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = std::fs::read_to_string(&dead).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(
        line["lastError"].as_str().unwrap().contains("500"),
        "{line}"
    );
    let env = PushEnvelope::from_slice(lines[0].as_bytes()).unwrap();
    assert_eq!(env.delivery_attempt, Some(3));
    assert_eq!(env.message.attributes["interaction_id"], id);
    let job = env.decode_job().unwrap();
    assert!(job.spec.seed.is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 3, "no attempts after the last");
    assert_eq!(unacked(&ingress), 0);
}

#[tokio::test]
async fn undelivered_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    // The worker is down: nothing can be delivered.
    let down = closed_url().await;
    let mut c = config(&k, &down, dir.path());
    c.local_push_max_attempts = 100;
    let first = Ingress::start(c).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(queue_command(&first, &k).await);
    }
    assert_eq!(unacked(&first), 3);
    first.shutdown().await;
    let spool = dir.path().join("pending.jsonl");
    let text = std::fs::read_to_string(&spool).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("tok-"),
        "the reply token is kept so the image can still be posted"
    );

    // Back up, with the worker running: the spooled jobs are delivered and the spool removed.
    let receiver = Receiver::start(vec![]).await;
    let second = Ingress::start(config(&k, &receiver.url, dir.path()))
        .await
        .unwrap();
    assert!(!spool.exists(), "the spool is consumed on start");
    let got = receiver.wait_for(3).await;
    let mut delivered: Vec<String> = got
        .iter()
        .map(|e| e.message.attributes["interaction_id"].clone())
        .collect();
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
    let message_ids: std::collections::HashSet<_> =
        got.iter().map(|e| e.message.message_id.clone()).collect();
    assert_eq!(message_ids.len(), 3, "message ids are unique");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(unacked(&second), 0);
    second.shutdown().await;
    assert!(!spool.exists(), "nothing left to spool");
}

#[tokio::test]
async fn deliveries_run_concurrently() {
    // A worker that never answers still receives several jobs at once.
    let stuck = Receiver::hanging().await;
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let ingress = Ingress::start(config(&k, &stuck.url, dir.path()))
        .await
        .unwrap();
    for _ in 0..10 {
        queue_command(&ingress, &k).await;
    }
    let got = stuck.wait_for(8).await;
    assert_eq!(got.len(), 8, "at most 8 in flight");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stuck.count(), 8);
    // Shutdown spools all ten: eight in flight and two waiting.
    ingress.shutdown().await;
    let text = std::fs::read_to_string(dir.path().join("pending.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 10);
}
