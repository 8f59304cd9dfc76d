//! At capacity, end to end: the real ingress and worker binaries with a
//! worker of one render slot, played the load lab's scenario (one user's
//! burst of heavy jobs beside light users, then steady mixed load), in the
//! local default and through the Pub/Sub and Firestore emulators. Every
//! queued job reaches a final state, every answer states when to expect
//! it, the burst is capped, and light users are served in turn rather
//! than behind the whole burst.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::PathBuf;
use std::time::Duration;

use mandala_cli::lab::{self, BotSetup, Mode, Scenario};
use mandala_model::RenderSpec;
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::suites;

fn scenario() -> Scenario {
    Scenario {
        // One more than a user may queue: the last is refused.
        burst: 6,
        heavy: RenderSpec {
            size: Some(2048),
            layers: Some(12),
            elements: Some(32),
            ..Default::default()
        },
        light_users: 3,
        light: RenderSpec {
            size: Some(256),
            layers: Some(2),
            ..Default::default()
        },
        light_delay: Duration::from_millis(300),
        steady_users: 3,
        steady_jobs: 3,
        steady_gap: Duration::from_millis(300),
        heavy_share: 0.3,
        timeout: Duration::from_secs(120),
        seed: 7,
    }
}

async fn at_capacity(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let setup = BotSetup {
        mode,
        ingress_bin: PathBuf::from(env!("CARGO_BIN_EXE_e2e-mandala-ingress")),
        worker_bin: PathBuf::from(env!("CARGO_BIN_EXE_e2e-mandala-worker")),
        render_slots: 1,
        dir: dir.path().to_owned(),
    };
    let (records, s) = lab::run(&setup, &scenario()).await.unwrap();
    let logs = || {
        ["ingress", "worker"]
            .map(|n| {
                std::fs::read_to_string(dir.path().join(format!("{n}.log"))).unwrap_or_default()
            })
            .join("\n")
    };
    let report = lab::report::render(mode.name(), &s);
    assert_eq!(
        s.refused_full, 1,
        "the burst's sixth job is refused\n{report}"
    );
    assert_eq!(
        (s.refused_too_long, s.other_answers),
        (0, 0),
        "{report}\n{records:#?}"
    );
    assert_eq!(
        s.unfinished,
        0,
        "every queued job ends\n{report}\n{}",
        logs()
    );
    assert_eq!(s.images, s.queued, "and ends in its image\n{report}");
    assert!(
        records
            .iter()
            .filter(|r| r.queued())
            .all(|r| r.told().is_some()),
        "every answer says when to expect the image\n{records:#?}"
    );
    // Served in turn: the light users do not wait behind all five.
    assert!(
        s.burst_images_before_last_light <= 2,
        "light users waited behind the burst\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_capacity_in_the_local_default() {
    at_capacity(Mode::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_capacity_through_the_emulators() {
    // The lab starts its own emulators; check they can run here first.
    if suites::require(
        "capacity through emulators (pubsub)",
        PubsubEmulator::start(),
    )
    .is_none()
        || suites::require(
            "capacity through emulators (firestore)",
            FirestoreEmulator::start(),
        )
        .is_none()
    {
        return;
    }
    at_capacity(Mode::Emulators).await;
}
