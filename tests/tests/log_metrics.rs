//! The log filters of `terraform/monitoring.tf` against the lines the real
//! services write.
//!
//! The ingress and the worker binaries run as separate processes with
//! Cloud Run's environment (`K_SERVICE`, so they write Cloud Logging's
//! JSON), the worker behind the local push delivery and Discord's
//! stand-in. They are taken through what the alerts are about:
//!
//! - a normal job (one 429 on the way, waited out), with a trace;
//! - a refused one (an option out of range);
//! - a failed one (Discord rate-limits both attempts: redelivered, then
//!   given up, the user told);
//! - a dead letter, as Pub/Sub's dead-letter push delivers it;
//! - a job admitted while the queue ledger (Firestore) is unreachable;
//! - an unsigned request, as the uptime check sends it.
//!
//! Each stdout line becomes the log entry Cloud Logging makes of it
//! (`logfilter::entry`), and every log-based metric, exclusion and
//! log-match condition of the configuration is evaluated over all of them,
//! in each design (the services take that design's names): it must match
//! the lines it is meant to count and no other line, its extracted fields
//! must be there, and the alerts' label filters must find their values.
//! The lines must also join up: the worker's job line carries the
//! interaction's id, its user's hash, its design and the interaction's
//! trace, and failures carry Error Reporting's shape.
//!
//! Cloud Run's own entries (request logs, the out-of-memory line) are not
//! written by the services; the filters on them are checked against entries
//! shaped as Cloud Run writes them.
//!
//! `LOG_METRICS_DUMP=1 cargo test -p mandala-e2e --test log_metrics -- --nocapture`
//! prints every line collected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

#[allow(dead_code)]
#[path = "terraform/eval.rs"]
mod eval;
#[allow(dead_code)]
#[path = "terraform/hclx.rs"]
mod hclx;
#[allow(dead_code)]
#[path = "terraform/instance.rs"]
mod instance;
#[path = "logfilter/mod.rs"]
mod logfilter;
#[allow(dead_code)]
#[path = "terraform/monitoring.rs"]
mod monitoring;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandala_cli::dev::client;
use mandala_e2e::{ChildGuard, free_port, wait_healthy, workspace_root};
use mandala_model::job::JobKind;
use mandala_model::{InteractionReply, Job, PushEnvelope, RenderSpec, Reply, Requester};
use mandala_standin::discord::{DiscordStandin, Failure};
use serde_json::{Map, Value, json};

use crate::monitoring::LogFilter;

const APP: &str = "1000000000000000001";
/// The examples' project_id: the filters name it (the request and system logs).
const PROJECT: &str = "my-mandala-project";
const WAIT: Duration = Duration::from_secs(90);

const NORMAL_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const FAILED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const DEAD_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const LEDGER_TRACE: &str = "7a085853722dc6d2ff6e7d7e0d8a0ff1";

const NORMAL_USER: &str = "4000000000000000001";
const FAILED_USER: &str = "4000000000000000002";
const DEAD_USER: &str = "4000000000000000003";
const LEDGER_USER: &str = "4000000000000000004";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn spawn(name: &str, program: &str, env: &[(&str, String)], logs: &Path) -> (ChildGuard, String) {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("PORT", port.to_string()));
    env.push(("RUST_LOG", "info".to_owned()));
    // Cloud Run's environment: Cloud Logging's JSON, traces of this project.
    env.push(("GOOGLE_CLOUD_PROJECT", PROJECT.to_owned()));
    let child = ChildGuard::spawn(name, program, &env, logs).unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

async fn healthy(child: &ChildGuard, base: &str) {
    wait_healthy(&format!("{base}/healthz"), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", child.output()));
}

fn ingress_env(api_base: &str, worker: &str, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("K_SERVICE", "mandala-ingress".to_owned()),
        (
            "DISCORD_PUBLIC_KEY",
            hex::encode(key().verifying_key().to_bytes()),
        ),
        ("DISCORD_APPLICATION_ID", APP.to_owned()),
        ("DISCORD_API_BASE", api_base.to_owned()),
        ("LOCAL_PUSH_URL", format!("{worker}/pubsub/push")),
        // The worker's MAX_DELIVERY_ATTEMPTS: its second attempt is its last.
        ("LOCAL_PUSH_MAX_ATTEMPTS", "2".to_owned()),
        ("LOCAL_PUSH_MIN_BACKOFF_MS", "50".to_owned()),
        ("LOCAL_PUSH_MAX_BACKOFF_MS", "200".to_owned()),
        (
            "LOCAL_SPOOL_FILE",
            dir.join("pending.jsonl").display().to_string(),
        ),
        (
            "LOCAL_DEAD_LETTER_FILE",
            dir.join("dead-letter.jsonl").display().to_string(),
        ),
    ]
}

/// Signs and POSTs `out`, with a W3C trace context when given.
async fn send(url: &str, out: &client::Outgoing, trace: Option<&str>) -> (u16, Value) {
    let (signature, timestamp) = client::sign(&key(), &out.body);
    let mut request = reqwest::Client::new()
        .post(format!("{url}/interactions"))
        .header("Content-Type", "application/json")
        .header("X-Signature-Ed25519", signature)
        .header("X-Signature-Timestamp", timestamp)
        .body(out.body.clone());
    if let Some(t) = trace {
        request = request.header("traceparent", format!("00-{t}-00f067aa0ba902b7-01"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn spec(seed: u64) -> RenderSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(96),
        ..Default::default()
    }
}

/// The JSON lines a process wrote so far.
fn lines(child: &ChildGuard) -> Vec<Map<String, Value>> {
    child
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// Waits until `child` wrote a line `pred` accepts, and returns it.
async fn line_where(
    child: &ChildGuard,
    what: &str,
    pred: impl Fn(&Map<String, Value>) -> bool,
) -> Map<String, Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(l) = lines(child).into_iter().find(|l| pred(l)) {
            return l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never logged {what}:\n{}",
            child.name,
            child.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn text<'a>(l: &'a Map<String, Value>, key: &str) -> &'a str {
    l.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn trace_of(id: &str) -> String {
    format!("projects/{PROJECT}/traces/{id}")
}

/// Where a line came from, for the expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Ingress,
    /// The ingress whose queue ledger is unreachable.
    LedgerDownIngress,
    Worker,
}

struct Collected {
    lines: Vec<(Source, Map<String, Value>)>,
}

/// Runs the processes through every case and returns their lines.
async fn collect() -> Collected {
    let dir = tempfile::tempdir().unwrap();
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();

    let (worker, worker_url) = spawn(
        "worker",
        env!("CARGO_BIN_EXE_e2e-mandala-worker"),
        &[
            ("K_SERVICE", "mandala-worker".to_owned()),
            (
                "LOCAL_STORE_DIR",
                dir.path().join("store").display().to_string(),
            ),
            ("DISCORD_API_BASE", api_base.clone()),
            ("RENDER_CONCURRENCY", "1".to_owned()),
            ("MAX_DELIVERY_ATTEMPTS", "2".to_owned()),
            // Only the ingress beside it reaches this worker.
            ("PUSH_AUTH", "none".to_owned()),
        ],
        dir.path(),
    );
    healthy(&worker, &worker_url).await;

    let ingress_dir = dir.path().join("ingress");
    std::fs::create_dir_all(&ingress_dir).unwrap();
    let (ingress, ingress_url) = spawn(
        "ingress",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &ingress_env(&api_base, &worker_url, &ingress_dir),
        dir.path(),
    );
    healthy(&ingress, &ingress_url).await;

    // A second ingress whose queue ledger (Firestore) is unreachable:
    // nothing listens on the emulator port it is given.
    let down_dir = dir.path().join("ledger-down");
    std::fs::create_dir_all(&down_dir).unwrap();
    let mut env = ingress_env(&api_base, &worker_url, &down_dir);
    env.push((
        "FIRESTORE_DATABASE",
        format!("projects/{PROJECT}/databases/mandala-queue"),
    ));
    env.push((
        "FIRESTORE_EMULATOR_HOST",
        format!("127.0.0.1:{}", free_port()),
    ));
    env.push(("LEDGER_TIMEOUT_MS", "500".to_owned()));
    let (down, down_url) = spawn(
        "ingress-ledger-down",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &env,
        dir.path(),
    );
    healthy(&down, &down_url).await;

    // A normal job: one 429 on the way, waited out.
    standin.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 0.05,
        },
    );
    let normal = client::command_as(APP, NORMAL_USER, &spec(1));
    let (status, _) = send(&ingress_url, &normal, Some(NORMAL_TRACE)).await;
    assert_eq!(status, 200);
    line_where(&worker, "the normal job's line", |l| {
        text(l, "outcome") == "replied" && text(l, "interactionId") == normal.id
    })
    .await;

    // A refused one: an option out of range, answered privately.
    let refused = client::command_from(
        APP,
        NORMAL_USER,
        &[json!({"name": "size", "type": 4, "value": 10})],
    );
    let (status, body) = send(&ingress_url, &refused, None).await;
    assert_eq!(status, 200, "{body}");

    // A failed one: Discord rate-limits both attempts for longer than a
    // job can wait; the second is the last, and the user is told.
    standin.fail_next(
        2,
        Failure::RateLimited {
            retry_after_secs: 1000.0,
        },
    );
    let failed = client::command_as(APP, FAILED_USER, &spec(2));
    let (status, _) = send(&ingress_url, &failed, Some(FAILED_TRACE)).await;
    assert_eq!(status, 200);
    line_where(&worker, "the failed job's line", |l| {
        text(l, "outcome") == "gave_up" && text(l, "interactionId") == failed.id
    })
    .await;

    // A dead letter, as the dead-letter topic's push subscription delivers
    // it: the job with the attributes it was published with.
    let dead = client::command_as(APP, DEAD_USER, &spec(3));
    let job = Job {
        requested_by: Some(Requester {
            user_id: Some(DEAD_USER.into()),
            ..Requester::default()
        }),
        ..Job::new(
            spec(3),
            Reply::Interaction(InteractionReply {
                application_id: APP.into(),
                interaction_id: dead.id.clone().into(),
                token: dead.token.clone(),
            }),
            JobKind::Command,
        )
    };
    let envelope = PushEnvelope::wrap(
        &job,
        "dead-1",
        format!("projects/{PROJECT}/subscriptions/mandala-jobs-dead-letter-worker-push"),
        "2026-01-01T00:00:00Z",
        BTreeMap::from([
            ("kind".to_owned(), "command".to_owned()),
            ("interaction_id".to_owned(), dead.id.clone()),
            (
                mandala_service::trace::TRACE_ATTRIBUTE.to_owned(),
                DEAD_TRACE.to_owned(),
            ),
            (
                "CloudPubSubDeadLetterSourceDeliveryCount".to_owned(),
                "5".to_owned(),
            ),
        ]),
        Some(1),
    );
    let answer = reqwest::Client::new()
        .post(format!("{worker_url}/pubsub/dead-letter"))
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let answer = answer.text().await.unwrap();
    assert!(answer.starts_with("dead_letter_told"), "{answer}");

    // Admission while the queue ledger is unreachable: queued anyway.
    let unledgered = client::command_as(APP, LEDGER_USER, &spec(4));
    let (status, _) = send(&down_url, &unledgered, Some(LEDGER_TRACE)).await;
    assert_eq!(status, 200);
    line_where(&worker, "the job admitted without the ledger", |l| {
        text(l, "outcome") == "replied" && text(l, "interactionId") == unledgered.id
    })
    .await;

    // The uptime check: an unsigned interaction, refused.
    let unsigned = reqwest::Client::new()
        .post(format!("{ingress_url}/interactions"))
        .header("Content-Type", "application/json")
        .body("{\"type\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    line_where(&ingress, "the unsigned request's line", |l| {
        l.get("status") == Some(&json!(401))
    })
    .await;

    let mut collected = Vec::new();
    for (source, child) in [
        (Source::Ingress, &ingress),
        (Source::LedgerDownIngress, &down),
        (Source::Worker, &worker),
    ] {
        collected.extend(lines(child).into_iter().map(|l| (source, l)));
    }
    Collected { lines: collected }
}

/// The service names of a design: what the ingress's and the worker's
/// lines are logged under.
fn services(topology: &str) -> (&'static str, &'static str) {
    match topology {
        "single" => ("mandala-bot", "mandala-bot"),
        _ => ("mandala-ingress", "mandala-worker"),
    }
}

fn is_job_line(source: Source, l: &Map<String, Value>) -> bool {
    source == Source::Worker && l.contains_key("outcome")
}

fn is_interaction_line(source: Source, l: &Map<String, Value>) -> bool {
    source != Source::Worker && l.contains_key("status") && l.contains_key("latencyUs")
}

/// Which lines each filter must match, by the filter's place.
fn expected(place: &str, source: Source, l: &Map<String, Value>) -> Option<bool> {
    let rate_limited = text(l, "message").contains("429 Too Many Requests");
    Some(match place {
        "google_logging_metric.jobs" => is_job_line(source, l),
        "google_logging_metric.interactions" | "google_logging_metric.answer_latency" => {
            is_interaction_line(source, l)
        }
        "google_logging_metric.promised_wait" => {
            is_interaction_line(source, l) && l.contains_key("waitMs")
        }
        "google_logging_metric.estimate_error" => {
            is_job_line(source, l) && l.contains_key("lateMs")
        }
        "google_logging_metric.ledger_unavailable" => {
            source == Source::LedgerDownIngress
                && text(l, "message").starts_with("queue ledger unavailable")
        }
        "google_logging_metric.discord_rate_limited" => source == Source::Worker && rate_limited,
        "google_logging_project_exclusion.rejected_interactions" => {
            is_interaction_line(source, l)
                && l.get("status")
                    .and_then(Value::as_u64)
                    .is_some_and(|s| (400..500).contains(&s))
        }
        // Cloud Run's own entries, checked apart.
        "google_logging_project_exclusion.rejected_requests"
        | "google_monitoring_alert_policy.out_of_memory (log-match condition)" => false,
        _ => return None,
    })
}

/// Cloud Run's entries for the filters on them: (entry, the filters that must match it).
fn platform_entries(public: &str, worker: &str) -> Vec<(Value, &'static [&'static str])> {
    let request = |status: u16| {
        json!({
            "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2Frequests"),
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": public}},
            "severity": if status >= 500 { "ERROR" } else if status >= 400 { "WARNING" } else { "INFO" },
            "httpRequest": {"requestMethod": "POST", "status": status, "requestUrl": "/interactions"},
        })
    };
    let oom = json!({
        "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2Fvarlog%2Fsystem"),
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": worker}},
        "severity": "ERROR",
        "textPayload": "Memory limit of 1024 MiB exceeded with 1043 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits",
    });
    vec![
        (
            request(401),
            &["google_logging_project_exclusion.rejected_requests"][..],
        ),
        (request(200), &[]),
        (request(503), &[]),
        (
            oom,
            &["google_monitoring_alert_policy.out_of_memory (log-match condition)"],
        ),
    ]
}

/// The filters of one design, as Terraform would evaluate them with the
/// design's example, and the outcomes the jobs-without-an-image alert
/// counts (`local.imageless_outcomes`).
fn filters(topology: &str) -> (Vec<LogFilter>, Vec<String>) {
    let tf = workspace_root().join("terraform");
    let config = hclx::Config::load(&tf).unwrap();
    let scenarios = eval::scenarios(&config, &tf, topology).unwrap();
    let instance = instance::instantiate(&config, &scenarios[0]);
    let scenarios = eval::scenarios(&instance, &tf, topology).unwrap();
    let (filters, problems) = monitoring::log_filters(&instance, &scenarios[0]);
    assert!(problems.is_empty(), "{topology}: {problems:#?}");
    let locals = instance.locals();
    let imageless = match scenarios[0].eval(locals["imageless_outcomes"]) {
        Ok(hcl::Value::Array(a)) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        other => panic!("local.imageless_outcomes: {other:?}"),
    };
    (filters, imageless)
}

/// The outcome words of each service, as it logs them.
fn outcome_words() -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let worker =
        mandala_worker::outcome::Outcome::ALL.map(mandala_worker::outcome::Outcome::as_str);
    let ingress =
        mandala_ingress::outcome::Outcome::ALL.map(mandala_ingress::outcome::Outcome::as_str);
    (worker.into(), ingress.into())
}

/// One spelling: the outcomes the console counts and describes are the
/// words the services log, and both services spell them alike.
#[test]
fn the_console_names_outcomes_as_the_services_spell_them() {
    let (worker, ingress) = outcome_words();
    for word in worker.iter().chain(&ingress) {
        assert!(
            word.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{word} is not snake_case, as every outcome is"
        );
    }
    let config = hclx::Config::load(&workspace_root().join("terraform")).unwrap();
    let locals = config.locals();
    let jobs = config
        .resources("google_logging_metric")
        .into_iter()
        .find(|m| m.address() == "google_logging_metric.jobs")
        .expect("google_logging_metric.jobs");
    let descriptor = hclx::body_at(jobs.body, &["metric_descriptor"]).unwrap();
    let described = hclx::blocks(descriptor, "labels")
        .find(|l| {
            hclx::attr(l.body(), "key")
                .map(|k| hclx::render(k, &locals))
                .as_deref()
                == Some("outcome")
        })
        .and_then(|l| hclx::attr(l.body(), "description"))
        .map(|d| hclx::render(d, &locals))
        .expect("the jobs metric's outcome label has a description");
    let listed: BTreeSet<&str> = described.split(", ").collect();
    assert_eq!(
        listed, worker,
        "the outcome label's description: {described}"
    );
    for topology in eval::TOPOLOGIES {
        let (_, imageless) = filters(topology);
        for o in &imageless {
            assert!(
                worker.contains(o.as_str()),
                "{topology}: local.imageless_outcomes names {o:?}, which the worker never logs"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_log_filter_counts_the_lines_the_services_write_for_it() {
    let collected = collect().await;
    if std::env::var_os("LOG_METRICS_DUMP").is_some() {
        for (s, l) in &collected.lines {
            eprintln!("{s:?} {}", serde_json::to_string(l).unwrap());
        }
    }
    let find = |source: Source, pred: &dyn Fn(&Map<String, Value>) -> bool| {
        collected
            .lines
            .iter()
            .find(|(s, l)| *s == source && pred(l))
            .map_or_else(
                || panic!("no {source:?} line of that kind"),
                |(_, l)| l.clone(),
            )
    };

    // ---------------------------------------------------------------- the lines join up
    let queued = find(Source::Ingress, &|l| {
        text(l, "outcome") == "queued"
            && text(l, "logging.googleapis.com/trace") == trace_of(NORMAL_TRACE)
    });
    let interaction_id = text(&queued, "interactionId").to_owned();
    let replied = find(Source::Worker, &|l| {
        text(l, "outcome") == "replied" && text(l, "interactionId") == interaction_id
    });
    assert_eq!(
        text(&replied, "logging.googleapis.com/trace"),
        trace_of(NORMAL_TRACE),
        "the job line joins the interaction's trace: {replied:?}"
    );
    assert_eq!(
        text(&replied, "user"),
        mandala_service::logging::user_hash(NORMAL_USER)
    );
    assert_eq!(text(&replied, "design"), "pubsub");
    assert_eq!(replied.get("toldUser"), Some(&json!(false)));
    assert_eq!(replied.get("cacheHit"), Some(&json!(false)));
    assert!(replied.contains_key("lateMs"), "{replied:?}");
    assert!(!text(&queued, "message").contains(NORMAL_USER));
    for (_, l) in &collected.lines {
        assert!(
            !serde_json::to_string(l).unwrap().contains(NORMAL_USER),
            "a line names the user: {l:?}"
        );
    }

    let gave_up = find(Source::Worker, &|l| text(l, "outcome") == "gave_up");
    assert_eq!(
        text(&gave_up, "logging.googleapis.com/trace"),
        trace_of(FAILED_TRACE)
    );
    assert_eq!(text(&gave_up, "reason"), "discord");
    assert_eq!(gave_up.get("toldUser"), Some(&json!(true)));
    let redelivered = find(Source::Worker, &|l| text(l, "outcome") == "redeliver");
    assert_eq!(text(&redelivered, "reason"), "discord");
    assert_eq!(
        text(&redelivered, "logging.googleapis.com/trace"),
        trace_of(FAILED_TRACE)
    );

    let dead = find(Source::Worker, &|l| {
        l.get("deadLetter") == Some(&json!(true))
    });
    assert_eq!(text(&dead, "outcome"), "dead_letter_told");
    assert_eq!(
        text(&dead, "logging.googleapis.com/trace"),
        trace_of(DEAD_TRACE)
    );
    assert_eq!(
        text(&dead, "user"),
        mandala_service::logging::user_hash(DEAD_USER)
    );

    let unledgered = find(Source::Worker, &|l| {
        text(l, "logging.googleapis.com/trace") == trace_of(LEDGER_TRACE)
    });
    assert_eq!(text(&unledgered, "outcome"), "replied");

    // Failures are Error Reporting events, grouped by outcome or call site.
    for (line, group) in [(&gave_up, "job gave_up"), (&dead, "job dead_letter_told")] {
        assert_eq!(text(line, "severity"), "ERROR", "{line:?}");
        assert_eq!(
            text(line, "@type"),
            mandala_service::logging::REPORTED_ERROR_EVENT
        );
        assert_eq!(line["serviceContext"]["service"], "mandala-worker");
        assert_eq!(line["context"]["reportLocation"]["functionName"], group);
        assert!(
            line["context"]["reportLocation"]["lineNumber"].is_u64(),
            "{line:?}"
        );
    }
    let ledger = find(Source::LedgerDownIngress, &|l| {
        text(l, "message").starts_with("queue ledger unavailable")
    });
    assert_eq!(
        text(&ledger, "@type"),
        mandala_service::logging::REPORTED_ERROR_EVENT
    );
    assert_eq!(ledger["serviceContext"]["service"], "mandala-ingress");
    // Successes are not.
    assert!(!replied.contains_key("@type"), "{replied:?}");

    // ---------------------------------------------------------------- every filter, every design
    for topology in eval::TOPOLOGIES {
        let (filters, imageless) = filters(topology);
        let (public, worker) = services(topology);
        let entries: Vec<(Source, &Map<String, Value>, Value)> = collected
            .lines
            .iter()
            .map(|(source, l)| {
                let service = if *source == Source::Worker {
                    worker
                } else {
                    public
                };
                (*source, l, logfilter::entry(l, service, PROJECT))
            })
            .collect();
        let platform = platform_entries(public, worker);
        assert!(
            filters.len() >= 9,
            "{topology}: only {} log filters",
            filters.len()
        );
        for f in &filters {
            let mut counted = Vec::new();
            for (source, line, entry) in &entries {
                let matched = f.filter.matches(entry);
                let want = expected(&f.place, *source, line).unwrap_or_else(|| {
                    panic!(
                        "{}: no expectation for this filter; say in expected() which lines it counts",
                        f.place
                    )
                });
                assert_eq!(
                    matched,
                    want,
                    "[{topology}] {} {} a {source:?} line it should {}:\n{}\n{line:#?}",
                    f.place,
                    if matched { "matches" } else { "misses" },
                    if want { "count" } else { "leave alone" },
                    f.text
                );
                if matched {
                    counted.push(*line);
                }
            }
            for (entry, wanted) in &platform {
                assert_eq!(
                    f.filter.matches(entry),
                    wanted.contains(&f.place.as_str()),
                    "[{topology}] {} on Cloud Run's entry {entry}:\n{}",
                    f.place,
                    f.text
                );
            }
            let platform_hits = platform.iter().filter(|(e, _)| f.filter.matches(e)).count();
            assert!(
                !counted.is_empty() || platform_hits > 0,
                "[{topology}] {} counts nothing the services or Cloud Run write:\n{}",
                f.place,
                f.text
            );
            // What a metric extracts is on every line it counts
            // (labels may be absent: reason, dead_letter, cache_hit).
            if let Some(field) = f.extracted.get("value") {
                let key = field.strip_prefix("jsonPayload.").unwrap_or(field);
                for line in &counted {
                    assert!(
                        line.contains_key(key),
                        "[{topology}] {} extracts {field}, missing from {line:?}",
                        f.place
                    );
                }
            }
        }

        // The job metric's labels say what the alerts filter on.
        let jobs = filters
            .iter()
            .find(|f| f.place == "google_logging_metric.jobs")
            .expect("the jobs metric");
        let label = |line: &Map<String, Value>, name: &str| -> String {
            let field = &jobs.extracted[name];
            let key = field.strip_prefix("jsonPayload.").unwrap_or(field);
            line.get(key)
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        assert_eq!(label(&dead, "dead_letter"), "true");
        assert_eq!(label(&replied, "dead_letter"), "");
        assert_eq!(label(&replied, "cache_hit"), "false");
        assert_eq!(label(&gave_up, "told_user"), "true");
        assert_eq!(label(&gave_up, "reason"), "discord");
        assert_eq!(label(&replied, "design"), "pubsub");
        for line in [&gave_up, &dead] {
            assert!(
                imageless.contains(&label(line, "outcome")),
                "{topology}: the jobs-without-an-image alert misses {}",
                label(line, "outcome")
            );
        }
        assert!(!imageless.contains(&label(&replied, "outcome")));
    }
}

// ------------------------------------------------------------------ the evaluator itself

fn entry_of(v: &Value) -> Value {
    logfilter::entry(v.as_object().unwrap(), "mandala-worker", PROJECT)
}

#[test]
fn the_evaluator_reads_the_subset_as_cloud_logging_does() {
    let e = entry_of(&json!({
        "severity": "WARNING", "message": "job gave_up: x", "outcome": "gave_up",
        "toldUser": true, "lateMs": -20, "logging.googleapis.com/trace": "projects/p/traces/t"
    }));
    for f in [
        "jsonPayload.outcome=\"GAVE_UP\"",
        "jsonPayload.message:\"GAVE_UP\"",
        "jsonPayload.message=~\"^job \"",
        "jsonPayload.toldUser=\"true\"",
        "jsonPayload.lateMs<0",
        "severity>=WARNING AND severity<ERROR",
        "jsonPayload.outcome=(\"replied\" OR \"gave_up\")",
        "jsonPayload.outcome:* AND NOT jsonPayload.deadLetter:*",
        "resource.labels.service_name=~\"^mandala-(ingress|worker)$\"",
        "trace=\"projects/p/traces/t\" AND sample(insertId, 0.5)",
        "(jsonPayload.outcome=\"x\" OR jsonPayload.outcome=\"gave_up\") AND severity=WARNING",
    ] {
        assert!(logfilter::parse(f).unwrap().matches(&e), "{f}");
    }
    for f in [
        "jsonPayload.message=~\"^JOB \"",
        "jsonPayload.outcome=\"gave\"",
        "severity>=ERROR",
        "jsonPayload.severity:*",
        "jsonPayload.trace:*",
    ] {
        assert!(!logfilter::parse(f).unwrap().matches(&e), "{f}");
    }
}

#[test]
fn the_evaluator_refuses_what_is_outside_the_subset() {
    for (f, why) in [
        ("a=\"1\" AND b=\"2\" OR c=\"3\"", "AND and OR mixed"),
        ("a=\"1\" b=\"2\"", "juxtaposition"),
        ("a!=\"1\"", "!="),
        ("\"robot\"", "global restriction"),
        ("a=robot", "bare word"),
        ("SEARCH(\"x\")", "function"),
        ("a=~\"(\"", "regular expression"),
    ] {
        assert!(logfilter::parse(f).is_err(), "{why}: {f} was accepted");
    }
    assert_eq!(
        logfilter::extracted_field("EXTRACT(jsonPayload.outcome)").unwrap(),
        "jsonPayload.outcome"
    );
    assert!(logfilter::extracted_field("REGEXP_EXTRACT(jsonPayload.m, \"(.*)\")").is_err());
}
