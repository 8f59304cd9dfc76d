//! The production adapters end to end: the real ingress and worker binaries
//! as separate processes, configured only by environment variables, joined
//! by the official Pub/Sub emulator's ordered push subscription, sharing the
//! queue ledger in the official Firestore emulator, and storing in
//! fake-gcs-server (which, like Cloud Storage, enforces the worker's
//! create-only writes). Then a manual job published with `gcloud`.
//!
//! Skips loudly when gcloud/Java or fake-gcs-server are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::time::Duration;

use mandala_cli::dev::client;
use mandala_e2e::{
    ChildGuard, by_token, check_image, free_port, seeded_specs, send_commands, wait_healthy,
};
use mandala_model::{PaletteChoice, RenderSpec};
use mandala_standin::discord::DiscordStandin;
use mandala_standin::emulators::fake_gcs::FakeGcs;
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::suites;

const PROJECT: &str = "mandala-e2e";
const TOPIC: &str = "mandala-jobs";
const BUCKET: &str = "mandala-renders";
const APP: &str = "1000000000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binaries_through_real_emulators() {
    let Some(pubsub) = suites::require("pubsub-emulator end-to-end", PubsubEmulator::start())
    else {
        return;
    };
    let Some(gcs) = suites::require("fake-gcs-server end-to-end", FakeGcs::start(BUCKET).await)
    else {
        return;
    };
    let Some(firestore) =
        suites::require("firestore-emulator end-to-end", FirestoreEmulator::start())
    else {
        return;
    };
    let database = format!("projects/{PROJECT}/databases/(default)");
    let logs = tempfile::tempdir().unwrap();

    // Discord stand-in served by the test.
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();

    // The worker, as its own process.
    let worker_port = free_port();
    let worker = ChildGuard::spawn(
        "worker",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &[
            ("PORT", worker_port.to_string()),
            ("BUCKET", BUCKET.to_owned()),
            ("STORAGE_EMULATOR_HOST", gcs.endpoint()),
            // The emulator's pushes carry no token.
            ("PUSH_AUTH", "none".to_owned()),
            ("DISCORD_API_BASE", api_base.clone()),
            ("RENDER_CONCURRENCY", "2".to_owned()),
            ("FIRESTORE_DATABASE", database.clone()),
            ("FIRESTORE_EMULATOR_HOST", firestore.host_port()),
        ],
        logs.path(),
    )
    .unwrap();
    let worker_url = format!("http://127.0.0.1:{worker_port}");
    wait_healthy(&format!("{worker_url}/healthz"), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.output()));

    // Topic and push subscription to the worker's real listener.
    pubsub.create_topic(PROJECT, TOPIC).await.unwrap();
    pubsub
        .create_push_subscription(
            PROJECT,
            "mandala-jobs-push",
            TOPIC,
            &format!("{worker_url}/pubsub/push"),
        )
        .await
        .unwrap();

    // The ingress, as its own process.
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let ingress_port = free_port();
    let ingress = ChildGuard::spawn(
        "ingress",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &[
            ("PORT", ingress_port.to_string()),
            (
                "DISCORD_PUBLIC_KEY",
                hex::encode(key.verifying_key().to_bytes()),
            ),
            ("DISCORD_APPLICATION_ID", APP.to_owned()),
            ("PUBSUB_TOPIC", format!("projects/{PROJECT}/topics/{TOPIC}")),
            ("PUBSUB_EMULATOR_HOST", pubsub.host_port()),
            ("FIRESTORE_DATABASE", database.clone()),
            ("FIRESTORE_EMULATOR_HOST", firestore.host_port()),
        ],
        logs.path(),
    )
    .unwrap();
    let ingress_url = format!("http://127.0.0.1:{ingress_port}");
    wait_healthy(&format!("{ingress_url}/healthz"), Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", ingress.output()));

    // Signed interactions in; edited messages and stored objects out.
    let specs: Vec<RenderSpec> = seeded_specs(500..512, 192);
    let sent = send_commands(
        &format!("{ingress_url}/interactions"),
        &key,
        APP,
        specs.clone(),
        4,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", ingress.output()));
    let messages = standin
        .wait_for_images(sent.len(), Duration::from_secs(120))
        .await;
    assert_eq!(
        messages.len(),
        sent.len(),
        "worker log:\n{}\ningress log:\n{}",
        worker.output(),
        ingress.output()
    );
    let sent = by_token(&sent);
    for m in &messages {
        let asked = &sent[m.token.as_deref().unwrap()];
        let spec = check_image(&m.attachments[0].bytes).unwrap();
        assert_eq!(spec, asked.spec.clone().resolve().unwrap());
        // (Not its content type: fake-gcs-server drops it, see the worker's
        // tests/gcs.rs; gcp-storage-emulator checks it there.)
        let (bytes, _, metadata) = gcs
            .json()
            .get_object(BUCKET, &spec.object_name())
            .await
            .expect("object in the bucket");
        assert_eq!(check_image(&bytes).unwrap(), spec);
        assert_eq!(metadata["spec"], spec.canonical_json());
    }
    assert_eq!(
        gcs.json().list(BUCKET).await.len(),
        specs.len(),
        "one object per spec"
    );

    // A manual job, exactly as an operator publishes it.
    let manual = RenderSpec {
        seed: Some(42),
        palette: Some(PaletteChoice::Named("ocean".into())),
        ..RenderSpec::default()
    };
    let object = manual.resolve().unwrap().object_name();
    let gcloud = std::process::Command::new("gcloud")
        .args([
            "pubsub",
            "topics",
            "publish",
            TOPIC,
            "--project",
            PROJECT,
            r#"--message={"spec":{"seed":42,"palette":"ocean"}}"#,
        ])
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB",
            format!("http://{}/", pubsub.host_port()),
        )
        .env("CLOUDSDK_AUTH_DISABLE_CREDENTIALS", "true")
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .output()
        .unwrap();
    assert!(
        gcloud.status.success(),
        "gcloud publish failed: {}",
        String::from_utf8_lossy(&gcloud.stderr)
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((bytes, _, _)) = gcs.json().get_object(BUCKET, &object).await {
            assert_eq!(check_image(&bytes).unwrap().seed, 42);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "manual job's object {object} never appeared\n{}",
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The same through `mandala publish`, replying to a channel webhook.
    let webhook = format!("{api_base}/webhooks/1000000000000000777/e2e-webhook-token");
    mandala_cli::commands::publish::run(mandala_cli::commands::publish::Args {
        topic: Some(format!("projects/{PROJECT}/topics/{TOPIC}")),
        emulator_host: Some(pubsub.host_port()),
        spec: Some(r#"{"seed":43,"symmetry":7}"#.to_owned()),
        webhook_url: Some(webhook),
        timeout: 30,
        // The worker's API base, under which the stand-in's webhook is allowed.
        discord: mandala_service::config::DiscordApi::new(api_base.clone()),
        options: mandala_cli::spec_args::SpecArgs {
            size: Some(256),
            ..Default::default()
        },
    })
    .await
    .unwrap();
    let published = RenderSpec {
        seed: Some(43),
        symmetry: Some(7),
        size: Some(256),
        ..RenderSpec::default()
    }
    .resolve()
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while gcs
        .json()
        .get_object(BUCKET, &published.object_name())
        .await
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "`mandala publish` job never stored\n{}",
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let posted = standin
        .wait_for_messages(messages.len() + 1, Duration::from_secs(30))
        .await;
    let to_webhook = posted
        .iter()
        .find(|m| !m.original)
        .expect("the webhook got the image");
    assert_eq!(
        check_image(&to_webhook.attachments[0].bytes).unwrap(),
        published
    );

    // Buttons keep working through the production path too.
    let first = &messages[0];
    let custom_id = first.payload.components.as_ref().unwrap()[0]
        .components
        .as_ref()
        .unwrap()[0]
        .custom_id
        .clone()
        .unwrap();
    let click = client::button(APP, &custom_id);
    let answer = client::send(
        &reqwest::Client::new(),
        &format!("{ingress_url}/interactions"),
        &key,
        &click,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let after = standin
        .wait_for_messages(posted.len() + 1, Duration::from_secs(60))
        .await;
    assert!(
        after
            .iter()
            .any(|m| m.token.as_deref() == Some(click.token.as_str())),
        "the click's reply arrived"
    );
}

/// `mandala dev --pubsub-emulator --gcs-emulator`: the same in-process stack,
/// but publishing through the emulator's push subscription and storing in
/// the emulated bucket, both created by the stack itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_stack_through_emulators() {
    let Some(pubsub) = suites::require("pubsub-emulator dev stack", PubsubEmulator::start()) else {
        return;
    };
    let Some(firestore) =
        suites::require("firestore-emulator dev stack", FirestoreEmulator::start())
    else {
        return;
    };
    // The stack creates its own bucket; this one only starts the server.
    let Some(gcs) = suites::require(
        "fake-gcs-server dev stack",
        FakeGcs::start("unused-default").await,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut options = mandala_cli::dev::DevOptions::ephemeral(dir.path().join(".mandala"));
    options.pubsub_emulator = Some(pubsub.host_port());
    options.firestore_emulator = Some(firestore.host_port());
    options.gcs_emulator = Some(gcs.endpoint());
    let stack = mandala_cli::dev::DevStack::start(options).await.unwrap();
    let mandala_cli::dev::StoreLocation::Bucket { bucket, .. } = stack.store.clone() else {
        panic!("bucket store expected")
    };
    let key = stack.signing_key.clone().unwrap();
    let specs: Vec<RenderSpec> = seeded_specs(60..63, 128);
    let sent = send_commands(
        &stack.interactions_url(),
        &key,
        &stack.application_id,
        specs.clone(),
        3,
    )
    .await
    .unwrap();
    let messages = stack
        .standin
        .clone()
        .unwrap()
        .wait_for_images(sent.len(), Duration::from_secs(60))
        .await;
    assert_eq!(messages.len(), 3);
    for spec in &specs {
        let name = spec.resolve().unwrap().object_name();
        assert!(
            gcs.json().get_object(&bucket, &name).await.is_some(),
            "{name} in gs://{bucket}"
        );
    }
    // The playground's gallery shows them, and serves them, from the bucket.
    let gallery: serde_json::Value = reqwest::get(format!("{}/playground/gallery", stack.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = gallery.as_array().unwrap();
    assert_eq!(items.len(), 3, "{gallery}");
    let image = reqwest::get(format!(
        "{}{}",
        stack.base_url,
        items[0]["url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert!(image.status().is_success());
    mandala_e2e::check_image(&image.bytes().await.unwrap()).unwrap();
    stack.shutdown().await;
}
