//! `mandala publish`, run as the built binary: it publishes what the
//! worker reads, refuses what the worker would refuse before sending
//! anything, and says in one line, within its timeout, why a publish
//! cannot happen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use mandala_model::Job;
use mandala_model::discord::webhook::WebhookRefusal;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::faults;
use mandala_standin::suites;

const TOPIC: &str = "projects/mandala-test/topics/jobs";

/// Runs `mandala publish ARGS` with no ambient Google settings: no
/// emulator variable, no credentials file, and a metadata server address
/// nothing answers on (a CI machine on Google Cloud has a real one).
async fn publish(args: &[&str], home: &std::path::Path) -> (Output, Duration) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mandala"));
    command
        .arg("publish")
        .args(args)
        .env_remove("PUBSUB_EMULATOR_HOST")
        .env_remove("PUBSUB_TOPIC")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("CLOUDSDK_CONFIG")
        .env_remove("DISCORD_API_BASE")
        .env("HOME", home)
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .kill_on_drop(true);
    let started = Instant::now();
    // A publish that hangs is the failure being tested: bound it here too.
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("mandala publish did not end within 120 s")
        .unwrap();
    (output, started.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One line on stderr, starting with `error:`, and no panic.
fn one_error_line(o: &Output) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

#[tokio::test]
async fn a_job_reaches_the_emulator_as_the_worker_reads_it() {
    let Some(emulator) = suites::require(
        "publish against the Pub/Sub emulator",
        PubsubEmulator::start(),
    ) else {
        return;
    };
    emulator.create_topic("mandala-test", "jobs").await.unwrap();
    emulator
        .create_pull_subscription("mandala-test", "jobs-pull", "jobs")
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let host = emulator.host_port();
    let (o, _) = publish(
        &[
            "--topic",
            TOPIC,
            "--emulator-host",
            &host,
            "--spec",
            r#"{"seed":42,"palette":"ocean"}"#,
            "--webhook-url",
            "https://discord.com/api/webhooks/123/abc",
        ],
        home.path(),
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("published message "), "{out}");
    assert!(out.contains("the worker stores it as renders/"), "{out}");

    let pulled = emulator
        .pull_n("mandala-test", "jobs-pull", 1, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(pulled.len(), 1);
    let (data, attributes) = &pulled[0];
    let job = Job::from_json(data).unwrap();
    assert_eq!(job.spec.seed, Some(42));
    assert_eq!(attributes.get("source").map(String::as_str), Some("cli"));
    assert_eq!(attributes.get("kind").map(String::as_str), Some("manual"));

    // A topic that does not exist is named as such.
    let (o, _) = publish(
        &[
            "--topic",
            "projects/mandala-test/topics/nope",
            "--emulator-host",
            &host,
            "--seed",
            "1",
        ],
        home.path(),
    )
    .await;
    let err = one_error_line(&o);
    assert!(
        err.contains("topic projects/mandala-test/topics/nope does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_given_up_on_within_the_timeout() {
    let hang = faults::hang().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let (o, took) = publish(
        &[
            "--topic",
            TOPIC,
            "--emulator-host",
            &hang.host_port(),
            "--seed",
            "1",
            "--timeout",
            "3",
        ],
        home.path(),
    )
    .await;
    let err = one_error_line(&o);
    assert!(
        err.contains("no answer from") && err.contains("within 3 s"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test]
async fn an_emulator_nobody_listens_on_is_said_at_once() {
    // Bind and drop: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let (o, took) = publish(
        &[
            "--topic",
            TOPIC,
            "--emulator-host",
            &format!("127.0.0.1:{port}"),
            "--seed",
            "1",
        ],
        home.path(),
    )
    .await;
    let err = one_error_line(&o);
    assert!(err.contains("cannot reach the Pub/Sub emulator"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn without_credentials_or_an_emulator_it_says_so() {
    let home = tempfile::tempdir().unwrap();
    let (o, took) = publish(&["--topic", TOPIC, "--seed", "1"], home.path()).await;
    let err = one_error_line(&o);
    assert!(
        err.contains("no Google credentials") && err.contains("--emulator-host"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn what_the_worker_would_refuse_is_refused_before_anything_is_sent() {
    // Were anything sent, it would go to this listener.
    let hang = faults::hang().await.unwrap();
    let host = hang.host_port();
    let home = tempfile::tempdir().unwrap();
    let common = ["--topic", TOPIC, "--emulator-host", &host, "--timeout", "3"];

    let bad_url = [
        &common[..],
        &["--webhook-url", "https://evil.example.com/x"],
    ]
    .concat();
    let (o, _) = publish(&bad_url, home.path()).await;
    let err = one_error_line(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // The worker's words: `webhook_url is not allowed: <refusal>`.
    assert!(
        err.contains(&format!("is not allowed: {}", WebhookRefusal::NotDiscord)),
        "{err}"
    );

    // Under the worker's DISCORD_API_BASE is allowed, elsewhere on that host not.
    let local = [
        &common[..],
        &[
            "--discord-api-base",
            "http://127.0.0.1:1/api/v10",
            "--webhook-url",
            "http://127.0.0.1:1/admin",
        ],
    ]
    .concat();
    let (o, _) = publish(&local, home.path()).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let bad_spec = [&common[..], &["--spec", r#"{"symmetry":99}"#]].concat();
    let (o, _) = publish(&bad_spec, home.path()).await;
    let err = one_error_line(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // The model's SpecError, as the worker's rejection says it.
    let words = mandala_model::RenderSpec {
        symmetry: Some(99),
        ..Default::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains(&words), "{err} lacks {words}");

    assert_eq!(
        hang.connections(),
        0,
        "something was sent before the checks"
    );
}
