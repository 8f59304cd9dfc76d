//! Faults end to end: the worker dies and comes back, Discord rate-limits
//! and errors, the store fails for a while. Every job must still be replied
//! to exactly once per interaction, with one stored object per spec.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::HashSet;
use std::time::Duration;

use mandala_cli::dev::{DevOptions, DevStack, StoreLocation};
use mandala_e2e::{by_token, check_image, seeded_specs, send_commands, stored_objects};
use mandala_model::RenderSpec;
use mandala_standin::discord::Failure;

const JOBS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_and_nothing_is_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = DevOptions::ephemeral(dir.path().join(".mandala"));
    options.render_concurrency = Some(2);
    let mut stack = DevStack::start(options).await.unwrap();
    let key = stack.signing_key.clone().unwrap();
    let standin = stack.standin.clone().unwrap();
    let StoreLocation::Directory(store) = stack.store.clone() else {
        panic!("local store expected")
    };

    // Discord misbehaves for the first replies.
    standin.fail_next(
        3,
        Failure::RateLimited {
            retry_after_secs: 0.3,
        },
    );
    standin.fail_next(3, Failure::ServerError);

    let specs: Vec<RenderSpec> = seeded_specs(7000..7000 + JOBS, 160);
    let (first, second) = specs.split_at(JOBS as usize / 2);

    // Half the jobs go in, then the worker dies mid-run.
    let mut sent = send_commands(
        &stack.interactions_url(),
        &key,
        &stack.application_id,
        first.to_vec(),
        8,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.stop_worker().await;
    // The ingress keeps accepting while the worker is down: jobs queue.
    sent.extend(
        send_commands(
            &stack.interactions_url(),
            &key,
            &stack.application_id,
            second.to_vec(),
            8,
        )
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;

    // The store fails while the worker comes back: the directory its
    // objects go into becomes a file, so every write fails until restored.
    let renders = store.join("renders");
    let moved = store.join("renders.away");
    std::fs::create_dir_all(&renders).unwrap();
    std::fs::rename(&renders, &moved).unwrap();
    std::fs::write(&renders, b"not a directory").unwrap();
    stack.restart_worker().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored_during_outage = standin.messages().len();
    std::fs::remove_file(&renders).unwrap();
    std::fs::rename(&moved, &renders).unwrap();

    let messages = standin
        .wait_for_images(JOBS as usize, Duration::from_secs(240))
        .await;
    // Waiting notices edit the same messages: still one per interaction.
    assert_eq!(standin.messages().len(), messages.len());
    let sent = by_token(&sent);
    let tokens: HashSet<&str> = messages.iter().filter_map(|m| m.token.as_deref()).collect();
    assert_eq!(
        tokens.len() as u64,
        JOBS,
        "every interaction eventually replied"
    );
    assert_eq!(
        messages.len() as u64,
        JOBS,
        "one edited message per interaction, no duplicates"
    );
    for m in &messages {
        let asked = &sent[m.token.as_deref().unwrap()];
        let spec = check_image(&m.attachments[0].bytes).unwrap();
        assert_eq!(Some(spec.seed), asked.spec.seed);
    }
    assert_eq!(
        stored_objects(&store).len() as u64,
        JOBS,
        "one object per spec"
    );
    let failed: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.status >= 400)
        .collect();
    assert!(
        failed.len() >= 6,
        "the injected Discord failures happened: {}",
        failed.len()
    );
    assert!(
        stored_during_outage < JOBS as usize,
        "the store outage held jobs back ({stored_during_outage} replied during it)"
    );
    let dead =
        std::fs::read_to_string(dir.path().join(".mandala/dead-letter.jsonl")).unwrap_or_default();
    assert!(dead.trim().is_empty(), "nothing was dead-lettered: {dead}");
    stack.shutdown().await;
}

/// `mandala dev`'s promise: stopping it (Ctrl-C) while jobs are still
/// undelivered loses none; the next start on the same directory delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_jobs_survive_a_restart_of_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".mandala");
    let mut first = DevStack::start(DevOptions::ephemeral(state.clone()))
        .await
        .unwrap();
    let key = first.signing_key.clone().unwrap();
    // No worker: the jobs can only queue.
    first.stop_worker().await;
    let specs: Vec<RenderSpec> = seeded_specs(9100..9105, 128);
    let sent = send_commands(
        &first.interactions_url(),
        &key,
        &first.application_id,
        specs,
        5,
    )
    .await
    .unwrap();
    first.shutdown().await;
    let spool = std::fs::read_to_string(state.join("pending.jsonl")).unwrap_or_default();
    assert_eq!(
        spool.lines().count(),
        5,
        "the undelivered jobs were kept on disk:\n{spool}"
    );

    let second = DevStack::start(DevOptions::ephemeral(state.clone()))
        .await
        .unwrap();
    let standin = second.standin.clone().unwrap();
    let messages = standin.wait_for_messages(5, Duration::from_secs(60)).await;
    assert_eq!(
        messages.len(),
        5,
        "every queued job was delivered after the restart"
    );
    let sent = by_token(&sent);
    for m in &messages {
        let spec = check_image(&m.attachments[0].bytes).unwrap();
        assert_eq!(Some(spec.seed), sent[m.token.as_deref().unwrap()].spec.seed);
    }
    second.shutdown().await;
}
