//! Every design of issue #11 end to end, through the real binaries as
//! separate processes configured only by environment variables: an
//! interaction in, the image edit out at the Discord stand-in, one object
//! stored per spec, duplicates and injected Discord failures handled.
//!
//! - `pubsub`: ingress → local push delivery → worker (`WORKER_ROLE=all`).
//! - `single`: one worker process (`WORKER_ROLE=single`) is the ingress
//!   too; a small job is answered inline through the interaction callback,
//!   a large one deferred and finished in process.
//! - `pubsub-split`: render worker → reply delivery → replier; a Discord
//!   429 the replier cannot wait out is retried by the reply stage alone.
//! - `cloud-tasks`: two ingresses → the Cloud Tasks twin → worker
//!   `/tasks/run` with an OIDC token; a duplicated interaction makes one
//!   task, and a dispatch without a token is refused. Needs the Firestore
//!   emulator (the ingress keeps a shared ledger with a cloud queue), so it
//!   skips loudly without it.
//!
//! The `mandala dev --topology` stack is tested in-process at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandala_cli::dev::{DevOptions, DevStack, StoreLocation, Topology, client};
use mandala_e2e::{
    ChildGuard, Sent, by_token, check_image, free_port, seeded_specs, send_commands,
    send_commands_answered, stored_objects, wait_healthy,
};
use mandala_model::{Drawing, RenderSpec};
use mandala_standin::discord::{DiscordStandin, Failure, RecordedMessage};
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::suites;
use mandala_standin::tasks::{CloudTasksTwin, QueueConfig};
use serde_json::Value;

const APP: &str = "1000000000000000001";
const WAIT: Duration = Duration::from_secs(90);

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn public_key() -> String {
    hex::encode(key().verifying_key().to_bytes())
}

/// A Discord 429 whose wait no reply budget covers: the delivery must be
/// retried later, by whichever stage owns the reply.
fn long_rate_limit() -> Failure {
    Failure::RateLimited {
        retry_after_secs: 1000.0,
    }
}

/// The worker's counters, from its `/healthz`.
async fn stats(base: &str) -> Value {
    let v: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["stats"].clone()
}

fn spawn(name: &str, program: &str, env: &[(&str, String)], logs: &Path) -> (ChildGuard, String) {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("PORT", port.to_string()));
    env.push(("RUST_LOG", "info".to_owned()));
    let child = ChildGuard::spawn(name, program, &env, logs).unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

async fn healthy(child: &ChildGuard, base: &str) {
    wait_healthy(&format!("{base}/healthz"), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", child.output()));
}

/// [`spawn`], then wait until it answers `/healthz`.
async fn start(
    name: &str,
    program: &str,
    env: &[(&str, String)],
    logs: &Path,
) -> (ChildGuard, String) {
    let (child, url) = spawn(name, program, env, logs);
    healthy(&child, &url).await;
    (child, url)
}

/// Discord fails twice with a 500 and once with a long 429, then takes
/// everything; meanwhile 160 px jobs with `seeds` go to the ingress at
/// `ingress_url`, `concurrency` at a time, and interaction `duplicate` is
/// sent a second time. Returns what was sent and the images Discord got.
async fn through_failures(
    standin: &DiscordStandin,
    ingress_url: &str,
    seeds: std::ops::Range<u64>,
    concurrency: usize,
    duplicate: usize,
) -> (Vec<Sent>, Vec<RecordedMessage>) {
    standin.fail_next(2, Failure::ServerError);
    standin.fail_next(1, long_rate_limit());
    let url = format!("{ingress_url}/interactions");
    let sent = send_commands(&url, &key(), APP, seeded_specs(seeds, 160), concurrency)
        .await
        .unwrap();
    resend(&url, &sent, duplicate).await;
    let messages = standin.wait_for_images(sent.len(), WAIT).await;
    (sent, messages)
}

fn worker_env(store: &Path, api_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LOCAL_STORE_DIR", store.display().to_string()),
        // Local pushes carry no token; the Cloud Tasks designs ask for one.
        ("PUSH_AUTH", "none".to_owned()),
        ("DISCORD_API_BASE", api_base.to_owned()),
        ("RENDER_CONCURRENCY", "2".to_owned()),
        ("MAX_DELIVERY_ATTEMPTS", "10".to_owned()),
    ]
}

fn ingress_env(api_base: &str, logs: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DISCORD_PUBLIC_KEY", public_key()),
        ("DISCORD_APPLICATION_ID", APP.to_owned()),
        ("DISCORD_API_BASE", api_base.to_owned()),
        (
            "LOCAL_SPOOL_FILE",
            logs.join("pending.jsonl").display().to_string(),
        ),
        (
            "LOCAL_DEAD_LETTER_FILE",
            logs.join("dead-letter.jsonl").display().to_string(),
        ),
    ]
}

/// Every sent job has its image, matching its spec, and the store holds
/// exactly one object per spec.
fn check_replies(sent: &[Sent], messages: &[RecordedMessage], store: &Path, logs: &str) {
    assert_eq!(messages.len(), sent.len(), "{logs}");
    let sent = by_token(sent);
    for m in messages {
        let asked = &sent[m.token.as_deref().unwrap()];
        let bytes = &m.attachments[0].bytes;
        // Large commands are grids of four (their cells are checked where
        // grids are tested); single images must be what was asked.
        match mandala_render::drawing_from_image(bytes).unwrap() {
            Drawing::One(_) => {
                let spec = check_image(bytes).unwrap();
                assert_eq!(spec, asked.spec.clone().resolve().unwrap());
            }
            Drawing::Grid(grid) => assert_eq!(Some(grid.size), asked.spec.size),
        }
    }
    assert_eq!(
        stored_objects(store).len(),
        sent.len(),
        "one object per spec"
    );
}

/// Sends the `index`th of a batch again, as Discord does when an answer is slow.
async fn resend(url: &str, sent: &[Sent], index: usize) {
    let sent = &sent[index];
    let user = (4_000_000_000_000_000_000u64 + index as u64).to_string();
    let outgoing = client::command_as(APP, &user, &sent.spec);
    // Same id and token as the first: only the signature's time differs.
    let again = client::Outgoing {
        id: sent.interaction_id.clone(),
        token: sent.token.clone(),
        body: String::from_utf8(outgoing.body)
            .unwrap()
            .replace(&outgoing.id, &sent.interaction_id)
            .replace(&outgoing.token, &sent.token)
            .into_bytes(),
    };
    let _ = client::send(&reqwest::Client::new(), url, &key(), &again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_design_through_the_binaries() {
    let logs = tempfile::tempdir().unwrap();
    let store = logs.path().join("store");
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();

    let (worker, worker_url) = start(
        "worker",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &worker_env(&store, &api_base),
        logs.path(),
    )
    .await;
    let mut env = ingress_env(&api_base, logs.path());
    env.push(("LOCAL_PUSH_URL", format!("{worker_url}/pubsub/push")));
    env.push(("LOCAL_PUSH_MIN_BACKOFF_MS", "100".to_owned()));
    let (ingress, ingress_url) = start(
        "ingress",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &env,
        logs.path(),
    )
    .await;

    let (sent, messages) = through_failures(&standin, &ingress_url, 100..106, 3, 0).await;
    let logs_text = format!("{}\n{}", worker.output(), ingress.output());
    check_replies(&sent, &messages, &store, &logs_text);
    let s = stats(&worker_url).await;
    assert_eq!(s["renders"], sent.len(), "{s}");
    assert!(s["redeliver"].as_u64().unwrap() >= 1, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_design_answers_small_jobs_inline_and_defers_the_rest() {
    let logs = tempfile::tempdir().unwrap();
    let store = logs.path().join("store");
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();

    let mut env = worker_env(&store, &api_base);
    env.extend(ingress_env(&api_base, logs.path()));
    env.push(("WORKER_ROLE", "single".to_owned()));
    env.push(("INLINE_RENDER_MAX_MS", "60".to_owned()));
    env.push(("LOCAL_PUSH_MIN_BACKOFF_MS", "100".to_owned()));
    let (single, url) = start(
        "single",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &env,
        logs.path(),
    )
    .await;
    let interactions = format!("{url}/interactions");

    // A large job first, before any render has calibrated the prediction:
    // predicted over INLINE_RENDER_MAX_MS, so deferred, and its edit
    // survives a Discord 429 (the in-process queue retries it).
    let large = RenderSpec {
        seed: Some(205),
        size: Some(2048),
        ..RenderSpec::default()
    };
    assert!(large.clone().resolve().unwrap().cost().0 > 60_000);
    standin.fail_next(1, long_rate_limit());
    let deferred = send_commands_answered(&interactions, &key(), APP, vec![large], 1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", single.output()));
    assert!(!deferred[0].1, "a large job was answered inline");
    resend(&interactions, &[deferred[0].0.clone()], 0).await;

    // Small jobs: rendered and sent as the interaction's response.
    let small = send_commands_answered(&interactions, &key(), APP, seeded_specs(200..204, 128), 1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", single.output()));
    let inline = small.iter().filter(|(_, inline)| *inline).count();
    assert!(inline >= 1, "no job answered inline\n{}", single.output());

    let sent: Vec<Sent> = small.into_iter().chain(deferred).map(|(s, _)| s).collect();
    let messages = standin.wait_for_images(sent.len(), WAIT).await;
    check_replies(&sent, &messages, &store, &single.output());
    // The inline answers are originals made by the callback, never edited.
    let callbacks = standin
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/callback") && r.status == 204)
        .count();
    assert_eq!(callbacks, inline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_split_retries_replies_without_rendering_again() {
    let logs = tempfile::tempdir().unwrap();
    let store = logs.path().join("store");
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();

    let mut env = worker_env(&store, &api_base);
    env.push(("WORKER_ROLE", "reply".to_owned()));
    let (replier, replier_url) = start(
        "replier",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &env,
        logs.path(),
    )
    .await;
    let mut env = worker_env(&store, &api_base);
    env.push(("WORKER_ROLE", "render".to_owned()));
    env.push(("LOCAL_REPLY_PUSH_URL", format!("{replier_url}/pubsub/push")));
    env.push(("LOCAL_REPLY_MIN_BACKOFF_MS", "100".to_owned()));
    env.push(("LOCAL_REPLY_MAX_ATTEMPTS", "10".to_owned()));
    env.push((
        "LOCAL_REPLY_SPOOL_FILE",
        logs.path().join("replies.jsonl").display().to_string(),
    ));
    env.push((
        "LOCAL_REPLY_DEAD_LETTER_FILE",
        logs.path().join("replies-dead.jsonl").display().to_string(),
    ));
    let (render, render_url) = start(
        "render",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &env,
        logs.path(),
    )
    .await;
    let mut env = ingress_env(&api_base, logs.path());
    env.push(("LOCAL_PUSH_URL", format!("{render_url}/pubsub/push")));
    let (ingress, ingress_url) = start(
        "ingress",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &env,
        logs.path(),
    )
    .await;

    let (sent, messages) = through_failures(&standin, &ingress_url, 300..305, 2, 1).await;
    let all_logs = format!(
        "{}\n{}\n{}",
        render.output(),
        replier.output(),
        ingress.output()
    );
    check_replies(&sent, &messages, &store, &all_logs);
    let r = stats(&render_url).await;
    let p = stats(&replier_url).await;
    // One render per job: the 429 was the replier's to retry.
    assert_eq!(r["renders"], sent.len(), "{r}\n{all_logs}");
    assert_eq!(r["handed_off"], sent.len(), "{r}");
    assert_eq!(r["redeliver"], 0, "{r}");
    assert_eq!(p["renders"], 0, "{p}");
    assert!(p["redeliver"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(p["replied"], sent.len(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cloud_tasks_design_through_the_twin() {
    let Some(firestore) = suites::require(
        "firestore-emulator cloud-tasks end-to-end",
        FirestoreEmulator::start(),
    ) else {
        return;
    };
    let database = "projects/mandala-e2e/databases/(default)".to_owned();
    let logs = tempfile::tempdir().unwrap();
    let store = logs.path().join("store");
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();
    let twin = CloudTasksTwin::new(QueueConfig {
        max_dispatches_per_second: 50.0,
        max_concurrent_dispatches: 4,
        max_attempts: 6,
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..QueueConfig::default()
    })
    .unwrap();
    let twin_host = twin.serve().await.unwrap();
    let queue = "projects/mandala-e2e/locations/local/queues/jobs";
    let account = "tasks@mandala-e2e.iam.gserviceaccount.com";

    let mut env = worker_env(&store, &api_base);
    let worker_port = free_port();
    let worker_url = format!("http://127.0.0.1:{worker_port}");
    env.extend([
        ("PORT", worker_port.to_string()),
        ("MAX_DELIVERY_ATTEMPTS", "6".to_owned()),
        ("PUSH_AUTH", "oidc".to_owned()),
        ("PUSH_AUDIENCE", worker_url.clone()),
        ("PUSH_SERVICE_ACCOUNT", account.to_owned()),
        ("PUSH_JWKS_URL", format!("http://{twin_host}/certs")),
        ("FIRESTORE_DATABASE", database.clone()),
        ("FIRESTORE_EMULATOR_HOST", firestore.host_port()),
    ]);
    let worker = ChildGuard::spawn(
        "worker",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &env,
        logs.path(),
    )
    .unwrap();
    healthy(&worker, &worker_url).await;
    let mut ingresses = Vec::new();
    for name in ["ingress-a", "ingress-b"] {
        let mut env = ingress_env(&api_base, logs.path());
        env.extend([
            ("CLOUD_TASKS_QUEUE", queue.to_owned()),
            ("CLOUD_TASKS_URL", format!("{worker_url}/tasks/run")),
            ("CLOUD_TASKS_SERVICE_ACCOUNT", account.to_owned()),
            ("CLOUD_TASKS_AUDIENCE", worker_url.clone()),
            ("CLOUD_TASKS_EMULATOR_HOST", twin_host.clone()),
            ("FIRESTORE_DATABASE", database.clone()),
            ("FIRESTORE_EMULATOR_HOST", firestore.host_port()),
        ]);
        let (child, url) = start(
            name,
            env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
            &env,
            logs.path(),
        )
        .await;
        ingresses.push((child, url));
    }

    standin.fail_next(1, Failure::ServerError);
    standin.fail_next(1, long_rate_limit());
    let url_a = format!("{}/interactions", ingresses[0].1);
    let url_b = format!("{}/interactions", ingresses[1].1);
    let sent = send_commands(&url_a, &key(), APP, seeded_specs(400..405, 160), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", ingresses[0].0.output()));
    // The same interaction reaching another instance: the same task name.
    resend(&url_b, &sent, 0).await;
    let messages = standin.wait_for_images(sent.len(), WAIT).await;
    let all_logs = format!(
        "{}\n{}\n{}",
        worker.output(),
        ingresses[0].0.output(),
        ingresses[1].0.output()
    );
    check_replies(&sent, &messages, &store, &all_logs);
    assert!(twin.wait_idle(WAIT).await, "tasks still pending");
    let t = twin.stats();
    assert_eq!(t.created, sent.len() as u64, "{t:?}");
    assert_eq!(t.duplicates, 1, "{t:?}\n{all_logs}");
    let s = stats(&worker_url).await;
    assert_eq!(s["renders"], sent.len(), "{s}");
    // The 429 was retried by the queue, with the attempt counted.
    let attempts = twin.attempts();
    let retried = attempts
        .iter()
        .find(|a| a.status != Some(200))
        .unwrap_or_else(|| panic!("no failed dispatch: {attempts:?}"));
    assert!(
        attempts
            .iter()
            .any(|a| a.task == retried.task && a.retry_count >= 1 && a.status == Some(200)),
        "{attempts:?}"
    );
    // Task names are hashed: no two share a prefix the way sequential ids do.
    assert!(attempts.iter().all(|a| a.task.len() == 32), "{attempts:?}");

    // A dispatch without a token is refused by the worker's check.
    let forged = serde_json::json!({"task": {"httpRequest": {
        "url": format!("{worker_url}/tasks/run"),
        "httpMethod": "POST",
        "body": base64_json(r#"{"spec":{"seed":1}}"#),
    }}});
    let r = reqwest::Client::new()
        .post(format!("http://{twin_host}/v2/{queue}/tasks"))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !twin.attempts().iter().any(|a| a.status == Some(401)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            twin.attempts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn base64_json(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// `mandala dev --topology NAME`: each design in one process, the
/// playground's way in, and the image out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_stack_runs_every_design() {
    for topology in [
        Topology::Pubsub,
        Topology::Single,
        Topology::PubsubSplit,
        Topology::CloudTasks,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = DevOptions::ephemeral(dir.path().join(".mandala"));
        options.render_concurrency = Some(2);
        options.topology = topology;
        let stack = DevStack::start(options)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", topology.as_str()));
        let key = stack.signing_key.clone().unwrap();
        let standin = stack.standin.clone().unwrap();
        let StoreLocation::Directory(store) = stack.store.clone() else {
            panic!("local store expected")
        };
        let sent: Vec<Sent> = send_commands_answered(
            &stack.interactions_url(),
            &key,
            &stack.application_id,
            seeded_specs(500..503, 160),
            3,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", topology.as_str()))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
        let messages = standin.wait_for_images(sent.len(), WAIT).await;
        check_replies(&sent, &messages, &store, topology.as_str());
        if topology == Topology::CloudTasks {
            assert_eq!(stack.tasks.as_ref().unwrap().stats().created, 3);
        }
        // The playground names the design it serves.
        let state: Value = reqwest::get(format!("{}/playground/state", stack.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["design"], topology.as_str());
        stack.shutdown().await;
    }
}

/// One design's processes, started for a measurement.
struct Running {
    _children: Vec<ChildGuard>,
    interactions: String,
    _twin: Option<CloudTasksTwin>,
}

/// Starts `design` (`single-inline` and `single-deferred` are the single
/// design with and without inline answers) against `api_base`.
async fn start_design(
    design: &str,
    logs: &Path,
    api_base: &str,
    firestore: Option<&FirestoreEmulator>,
) -> Running {
    let store = logs.join("store");
    let worker_bin = env!("CARGO_BIN_EXE_e2e-mandala-worker");
    let ingress_bin = env!("CARGO_BIN_EXE_e2e-mandala-ingress");
    let mut ingress = ingress_env(api_base, logs);
    ingress.push(("MAX_QUEUED_PER_USER", "0".to_owned()));
    let mut children = Vec::new();
    let mut twin_kept = None;
    let interactions = match design {
        "single-inline" | "single-deferred" => {
            let mut env = worker_env(&store, api_base);
            env.extend(ingress);
            env.push(("WORKER_ROLE", "single".to_owned()));
            let inline = if design == "single-inline" {
                "250"
            } else {
                "0"
            };
            env.push(("INLINE_RENDER_MAX_MS", inline.to_owned()));
            let (child, url) = start(design, worker_bin, &env, logs).await;
            children.push(child);
            url
        }
        _ => {
            let mut worker = worker_env(&store, api_base);
            match design {
                "pubsub" => {}
                "pubsub-split" => {
                    let mut env = worker_env(&store, api_base);
                    env.push(("WORKER_ROLE", "reply".to_owned()));
                    let (replier, replier_url) = start("replier", worker_bin, &env, logs).await;
                    children.push(replier);
                    worker.push(("WORKER_ROLE", "render".to_owned()));
                    worker.push(("LOCAL_REPLY_PUSH_URL", format!("{replier_url}/pubsub/push")));
                    worker.push((
                        "LOCAL_REPLY_SPOOL_FILE",
                        logs.join("replies.jsonl").display().to_string(),
                    ));
                }
                "cloud-tasks" => {
                    let firestore = firestore.expect("the Firestore emulator");
                    let database = "projects/mandala-e2e/databases/(default)".to_owned();
                    for env in [&mut worker, &mut ingress] {
                        env.push(("FIRESTORE_DATABASE", database.clone()));
                        env.push(("FIRESTORE_EMULATOR_HOST", firestore.host_port()));
                    }
                }
                other => panic!("no design {other}"),
            }
            let port = free_port();
            let worker_url = format!("http://127.0.0.1:{port}");
            worker.push(("PORT", port.to_string()));
            if design == "cloud-tasks" {
                let twin = CloudTasksTwin::new(QueueConfig::default()).unwrap();
                let host = twin.serve().await.unwrap();
                let account = "tasks@mandala-e2e.iam.gserviceaccount.com";
                worker.extend([
                    ("PUSH_AUTH", "oidc".to_owned()),
                    ("PUSH_AUDIENCE", worker_url.clone()),
                    ("PUSH_SERVICE_ACCOUNT", account.to_owned()),
                    ("PUSH_JWKS_URL", format!("http://{host}/certs")),
                ]);
                ingress.extend([
                    (
                        "CLOUD_TASKS_QUEUE",
                        "projects/mandala-e2e/locations/local/queues/jobs".to_owned(),
                    ),
                    ("CLOUD_TASKS_URL", format!("{worker_url}/tasks/run")),
                    ("CLOUD_TASKS_SERVICE_ACCOUNT", account.to_owned()),
                    ("CLOUD_TASKS_AUDIENCE", worker_url.clone()),
                    ("CLOUD_TASKS_EMULATOR_HOST", host),
                ]);
                twin_kept = Some(twin);
            } else {
                ingress.push(("LOCAL_PUSH_URL", format!("{worker_url}/pubsub/push")));
            }
            let child = ChildGuard::spawn("worker", worker_bin, &worker, logs).unwrap();
            healthy(&child, &worker_url).await;
            children.push(child);
            let (child, url) = start("ingress", ingress_bin, &ingress, logs).await;
            children.push(child);
            url
        }
    };
    Running {
        _children: children,
        interactions: format!("{interactions}/interactions"),
        _twin: twin_kept,
    }
}

/// Not a check but a measurement: the time from sending an interaction to
/// its image at the Discord stand-in, one 1024² job at a time, per design.
/// `MANDALA_LATENCY_JOBS` sets the number of jobs (default 40).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: cargo test --release -p mandala-e2e --test topologies -- --ignored --nocapture"]
async fn latency_per_design() {
    let jobs: usize = std::env::var("MANDALA_LATENCY_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let firestore = suites::require(
        "firestore-emulator latency (cloud-tasks)",
        FirestoreEmulator::start(),
    );
    let http = reqwest::Client::new();
    for design in [
        "pubsub",
        "single-inline",
        "single-deferred",
        "pubsub-split",
        "cloud-tasks",
    ] {
        if design == "cloud-tasks" && firestore.is_none() {
            continue;
        }
        let logs = tempfile::tempdir().unwrap();
        let standin = DiscordStandin::new();
        let api_base = standin.serve().await.unwrap();
        let running = start_design(design, logs.path(), &api_base, firestore.as_ref()).await;
        let warmup = 3;
        let mut ms = Vec::new();
        for i in 0..warmup + jobs {
            let options = [
                serde_json::json!({"name": "seed", "type": 3, "value": (9000 + i).to_string()}),
                serde_json::json!({"name": "size", "type": 4, "value": 1024}),
                serde_json::json!({"name": "grid", "type": 5, "value": false}),
            ];
            let outgoing = client::command_from(APP, "4000000000000000001", &options);
            let started = tokio::time::Instant::now();
            let answer = client::send(&http, &running.interactions, &key(), &outgoing)
                .await
                .unwrap();
            assert!(matches!(answer.status, 200 | 202), "{}", answer.text);
            let got = standin
                .wait_for_images(i + 1, Duration::from_secs(30))
                .await;
            assert_eq!(got.len(), i + 1, "{design}: job {i} has no image");
            if i >= warmup {
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        println!(
            "latency {design:>16}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
            ms.len(),
            at(0.50),
            at(0.90),
            at(0.99),
            ms[ms.len() - 1]
        );
        drop(running);
    }
}
