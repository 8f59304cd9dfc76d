//! The embedded stack (`mandala dev`'s composition) end to end: 200 signed
//! interactions in, 200 edited Discord messages and 200 stored images out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::HashSet;
use std::time::Duration;

use mandala_cli::dev::{DevOptions, DevStack, StoreLocation};
use mandala_e2e::{by_token, check_image, seeded_specs, send_commands, stored_objects};
use mandala_model::RenderSpec;

const JOBS: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_interactions_become_two_hundred_images() {
    let dir = tempfile::tempdir().unwrap();
    let stack = DevStack::start(DevOptions::ephemeral(dir.path().join(".mandala")))
        .await
        .unwrap();
    let key = stack.signing_key.clone().unwrap();
    let standin = stack.standin.clone().unwrap();

    // Distinct seeds; small images keep 200 renders quick on two cores.
    let specs: Vec<RenderSpec> = seeded_specs(1000..1000 + JOBS, 128);
    let sent = send_commands(
        &stack.interactions_url(),
        &key,
        &stack.application_id,
        specs,
        16,
    )
    .await
    .unwrap();
    assert_eq!(sent.len() as u64, JOBS);

    let messages = standin
        .wait_for_images(JOBS as usize, Duration::from_secs(180))
        .await;
    // Waiting notices edit the same messages: still one per interaction.
    assert_eq!(standin.messages().len(), messages.len());
    assert_eq!(
        messages.len() as u64,
        JOBS,
        "every interaction gets exactly one edited message"
    );

    let sent = by_token(&sent);
    let mut seeds = HashSet::new();
    for m in &messages {
        let token = m.token.as_deref().expect("an interaction edit has a token");
        let asked = sent
            .get(token)
            .unwrap_or_else(|| panic!("reply for an unknown token {token}"));
        let image = m.attachments.first().expect("the edit carries the image");
        let spec = check_image(&image.bytes).unwrap();
        assert_eq!(
            Some(spec.seed),
            asked.spec.seed,
            "the image is the one that was asked for"
        );
        assert_eq!(spec.size, 128);
        assert_eq!(
            spec,
            asked.spec.clone().resolve().unwrap(),
            "embedded spec matches the request"
        );
        seeds.insert(spec.seed);
    }
    assert_eq!(seeds.len() as u64, JOBS);

    let StoreLocation::Directory(store) = &stack.store else {
        panic!("embedded stack stores locally")
    };
    assert_eq!(
        stored_objects(store).len() as u64,
        JOBS,
        "one stored object per spec"
    );
    stack.shutdown().await;
}
