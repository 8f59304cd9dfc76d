//! Publishing through the real Cloud Pub/Sub emulator with the official
//! client, admitted through the queue ledger in the real Firestore
//! emulator: the job, its ticket and its attributes read back from a pull
//! subscription. Skips loudly when gcloud or Java is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use mandala_ingress::Ingress;
use mandala_model::job::JobKind;
use mandala_model::{Job, Reply};
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use serde_json::json;
use tower::ServiceExt as _;

#[tokio::test]
async fn jobs_reach_pubsub_with_their_attributes() {
    let Some(emulator) =
        mandala_standin::suites::require("pubsub-emulator (ingress)", PubsubEmulator::start())
    else {
        return;
    };
    let Some(firestore) = mandala_standin::suites::require(
        "firestore-emulator (ingress)",
        FirestoreEmulator::start(),
    ) else {
        return;
    };
    emulator.create_topic("test-proj", "jobs").await.unwrap();
    emulator
        .create_pull_subscription("test-proj", "jobs-pull", "jobs")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let mut c = config(&k, "http://unused", dir.path());
    c.local_push_url = None;
    c.pubsub_topic = Some("projects/test-proj/topics/jobs".into());
    c.pubsub_emulator_host = Some(emulator.host_port());
    c.publish_timeout_ms = 2500;
    c.firestore_database = Some("projects/test-proj/databases/(default)".into());
    c.firestore_emulator_host = Some(firestore.host_port());
    c.ledger_timeout_ms = 2000;
    warm_up(&firestore, "projects/test-proj/databases/(default)").await;
    let ingress = Ingress::start(c).await.unwrap();

    let id = snowflake();
    let r = ingress
        .router()
        .oneshot(signed_now(
            &k,
            &command(
                &id,
                json!([{"name": "seed", "type": 3, "value": "rosebud"}]),
            ),
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = body_json(r).await;
    let content = v["data"]["content"].as_str().unwrap();
    assert!(content.starts_with("🌀 Rendering four mandalas"), "{v}");
    assert!(content.contains("⏱️ ready in ~"), "{v}");
    ingress.shutdown().await;

    let pulled = emulator
        .pull_n("test-proj", "jobs-pull", 1, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(pulled.len(), 1);
    let (data, attributes) = &pulled[0];
    let job = Job::from_json(data).unwrap();
    assert_eq!(job.kind, JobKind::Command);
    let Reply::Interaction(reply) = &job.reply else {
        panic!("{:?}", job.reply)
    };
    assert_eq!(
        (reply.interaction_id.as_str(), reply.token.as_str()),
        (id.as_str(), format!("tok-{id}").as_str())
    );
    let ticket = job
        .ticket
        .as_ref()
        .expect("admitted through the Firestore ledger");
    assert_eq!(ticket.job, id);
    let seed = job.spec.seed.unwrap();
    assert_eq!(seed, mandala_model::spec::seed_from_text("rosebud"));
    // The answer names the grid's four cells, drawn from that seed.
    let cells = mandala_model::grid::cells(&job.spec, mandala_model::GridKind::Candidates).unwrap();
    assert!(
        content.contains(&format!("seeds {}, ", cells[0].seed.unwrap())),
        "{content}"
    );
    assert_eq!(attributes.len(), 3, "{attributes:?}");
    assert_eq!(attributes["kind"], "command");
    assert_eq!(attributes["interaction_id"], id);
    assert_eq!(attributes["source"], "discord");
}

/// A publish that outlives its budget: the user is told to try again, and
/// the job is cancelled in the ledger, so a worker that still receives the
/// message does not render it (the worker's side is in its ledger tests).
#[tokio::test]
async fn a_publish_that_times_out_is_cancelled_in_the_ledger() {
    let Some(firestore) = mandala_standin::suites::require(
        "firestore-emulator (ingress cancel)",
        FirestoreEmulator::start(),
    ) else {
        return;
    };
    // A Pub/Sub "server" that accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pubsub = blackhole.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            held.push(s);
        }
    });
    let database = "projects/cancel-proj/databases/(default)";
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let mut c = config(&k, "http://unused", dir.path());
    c.local_push_url = None;
    c.pubsub_topic = Some("projects/cancel-proj/topics/jobs".into());
    c.pubsub_emulator_host = Some(pubsub);
    c.publish_timeout_ms = 300;
    c.firestore_database = Some(database.into());
    c.firestore_emulator_host = Some(firestore.host_port());
    c.ledger_timeout_ms = 2000;
    warm_up(&firestore, database).await;
    let ingress = Ingress::start(c).await.unwrap();
    let r = ingress
        .router()
        .oneshot(signed_now(&k, &command_from(&snowflake(), "77", json!([]))))
        .await
        .unwrap();
    assert_eq!(
        ephemeral_text(&body_json(r).await),
        mandala_model::i18n::strings(None).try_again
    );
    // The cancel goes to the ledger after the answer, not before it.
    let mut jobs = u64::MAX;
    for _ in 0..50 {
        let later = mandala_ingress::now_ms() + 2_000;
        jobs = ingress.ledger().snapshot(later).await.unwrap().totals.jobs;
        if jobs == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(jobs, 0, "the job the user was told to retry is not queued");
}

/// A fresh emulator's first answers take a JVM's warm-up, which on a busy
/// machine outlasts the 2 s admission may wait (the job would then be
/// queued without an estimate, as designed): read once, unhurried, first.
async fn warm_up(firestore: &FirestoreEmulator, database: &str) {
    use mandala_ledger::backend::Backend as _;
    let backend = mandala_ledger::backend::firestore::FirestoreBackend::connect(
        database,
        Some(&firestore.host_port()),
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), backend.read("warm-up"))
        .await
        .expect("the Firestore emulator answers")
        .unwrap();
}
