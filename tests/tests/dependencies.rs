//! The fault suite of issue #20: the real ingress and worker binaries with
//! production's settings — jobs on the Pub/Sub emulator (or Cloud Tasks,
//! through the twin), the queue ledger in the Firestore emulator, images
//! in Cloud Storage (fake-gcs-server), replies to the Discord stand-in —
//! and each dependency in turn slow, failing and hanging, behind the
//! stand-in's sick listeners and switchable proxy
//! (`mandala_standin::faults`). Each scenario starts its own processes,
//! warms them up on healthy dependencies, makes one dependency sick, sends
//! a burst of users at once, and checks the promises of
//! `mandala_e2e::invariants` on what Discord received: every interaction
//! answered within Discord's 3 s, every accepted job ending in one image
//! or one final word that stays last, nothing for users told to try again,
//! no duplicates. Scenarios run one at a time (the 3 s are measured on a
//! two-core machine); the emulators are shared within each test.
//!
//! Each test prints one line per scenario (what the users saw, in numbers:
//! docs/CAPACITY.md, "When a dependency misbehaves", quotes them) and
//! fails listing every broken promise with its evidence. The emulators
//! missing, a test skips loudly (`mandala_standin::suites`).
//!
//! `oversized_bodies_get_a_413_the_client_reads` needs no emulator: the
//! ingress binary refusing an 8 MiB body, read by a real client.
//!
//! `MANDALA_KEEP_LOGS=1` keeps every process's log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandala_e2e::invariants::{self, Answer, Ask, Asked, Report};
use mandala_e2e::{ChildGuard, free_port, wait_healthy};
use mandala_model::RenderSpec;
use mandala_standin::discord::{DiscordStandin, Failure};
use mandala_standin::emulators::fake_gcs::FakeGcs;
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::faults::{self, FailWith, Listener, Mode, Proxy};
use mandala_standin::suites;
use mandala_standin::tasks::{CloudTasksTwin, QueueConfig};
use serde_json::{Value, json};
use tempfile::TempDir;

const APP: &str = "1000000000000000020";
const ACCOUNT: &str = "tasks@mandala-faults.iam.gserviceaccount.com";
/// Users in a scenario's burst, all at once.
const USERS: usize = 30;
/// How long a scenario waits for its jobs to end.
const SETTLE: Duration = Duration::from_secs(60);
/// Nothing reaching Discord for this long after the last job ended: settled.
const QUIET: Duration = Duration::from_millis(1500);

fn key() -> SigningKey {
    SigningKey::from_bytes(&[20; 32])
}

/// One scenario at a time: the promise under test is a 3 s deadline, on
/// a machine with two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulators a test's scenarios share.
struct Emulators {
    pubsub: PubsubEmulator,
    firestore: FirestoreEmulator,
    gcs: FakeGcs,
}

/// Starts the three emulators, or reports loudly why this suite skips.
async fn emulators(suite: &str) -> Option<Emulators> {
    let pubsub = tokio::task::spawn_blocking(PubsubEmulator::start);
    let firestore = tokio::task::spawn_blocking(FirestoreEmulator::start);
    let gcs = FakeGcs::start("mandala-faults-warm").await;
    let (pubsub, firestore) = (pubsub.await.unwrap(), firestore.await.unwrap());
    let all = match (pubsub, firestore, gcs) {
        (Ok(pubsub), Ok(firestore), Ok(gcs)) => Ok(Emulators {
            pubsub,
            firestore,
            gcs,
        }),
        (p, f, g) => Err([p.err(), f.err(), g.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")),
    };
    let emu = suites::require(&format!("dependencies ({suite})"), all)?;
    warm_firestore(&emu.firestore).await;
    Some(emu)
}

/// Each kind of call the ledger makes, a few times, in a scratch database:
/// a fresh emulator's first calls of a kind take a second or more (its
/// JVM compiling), which no production store does, and which would open
/// the ledger's circuit breaker of the first bot that met them.
async fn warm_firestore(firestore: &FirestoreEmulator) {
    use mandala_ledger::Backend as _;
    use mandala_ledger::backend::firestore::FirestoreBackend;
    use mandala_ledger::{Entry, UserQueue, WorkerStat};
    let backend = FirestoreBackend::connect(
        "projects/mandala-warm/databases/(default)",
        Some(&firestore.host_port()),
    )
    .unwrap();
    let now = mandala_ledger::ledger::now_ms();
    for round in 0..3 {
        for user in ["a", "b"] {
            let mut v = backend.read(user).await.unwrap();
            v.queue.jobs.insert(
                format!("job-{round}"),
                Entry::waiting(100, now, now + 1000, now + 60_000),
            );
            backend
                .write(user, &v.queue, &v.version, now)
                .await
                .unwrap();
            let v = backend.read(user).await.unwrap();
            backend
                .write(user, &UserQueue::default(), &v.version, now)
                .await
                .unwrap();
        }
        backend.totals(now).await.unwrap();
        backend
            .put_worker(&WorkerStat {
                id: "warm".to_owned(),
                slots: 1,
                us_per_unit: 1.0,
                overhead_us: 1.0,
                lateness: 1.0,
                seen_ms: now,
            })
            .await
            .unwrap();
        backend.workers(0).await.unwrap();
        backend.due_notices(now, 10).await.unwrap();
    }
}

/// A dependency the bot calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dep {
    Firestore,
    Pubsub,
    Tasks,
    Store,
    Discord,
    /// The way from the Cloud Tasks twin to the worker (`/tasks/run`).
    Dispatch,
}

/// How jobs travel from the ingress to the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Design {
    /// Pub/Sub emulator, ordered push subscription to `/pubsub/push`.
    Pubsub,
    /// The Cloud Tasks twin, dispatching to `/tasks/run` with OIDC.
    CloudTasks,
}

#[derive(Debug, Clone)]
struct Setup {
    design: Design,
    ingresses: usize,
    render_slots: u32,
    /// The worker's MAX_DELIVERY_ATTEMPTS (and the twin's max attempts).
    attempts: u32,
    job_deadline_secs: u32,
    /// The twin's first retry delay.
    min_backoff: Duration,
    /// The worker's STALL_AFTER_SECS, if not its default.
    stall_after_secs: Option<u32>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            design: Design::Pubsub,
            ingresses: 1,
            render_slots: 2,
            attempts: 5,
            job_deadline_secs: 10,
            min_backoff: Duration::from_millis(200),
            stall_after_secs: None,
        }
    }
}

/// One scenario's bot: its processes, and a proxy in front of each
/// dependency.
struct Stage {
    name: String,
    standin: DiscordStandin,
    proxies: HashMap<Dep, Proxy>,
    /// Sick listeners traffic is diverted to; kept alive with the stage.
    sick: Vec<Listener>,
    twin: Option<CloudTasksTwin>,
    worker: ChildGuard,
    worker_url: String,
    ingresses: Vec<(ChildGuard, String)>,
    _logs: TempDir,
}

async fn start_service(
    name: &str,
    program: &str,
    env: &[(&str, String)],
    logs: &std::path::Path,
    port: u16,
) -> (ChildGuard, String) {
    let mut env = env.to_vec();
    env.push(("PORT", port.to_string()));
    env.push(("RUST_LOG", "info".to_owned()));
    let child = ChildGuard::spawn(name, program, &env, logs).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&format!("{url}/healthz"), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", child.output()));
    (child, url)
}

/// Creates the jobs topic and its ordered push subscription to the worker,
/// in the scenario's own project of the Pub/Sub emulator.
async fn push_topic(pubsub: &PubsubEmulator, project: &str, worker: &str) -> String {
    let http = reqwest::Client::new();
    let base = format!("http://{}/v1/projects/{project}", pubsub.host_port());
    let put = |url: String, body: Value| {
        let http = http.clone();
        async move {
            let r = http.put(&url).json(&body).send().await.unwrap();
            assert!(
                r.status().is_success(),
                "{url}: {}",
                r.text().await.unwrap()
            );
        }
    };
    let topic = format!("projects/{project}/topics/jobs");
    put(format!("{base}/topics/jobs"), json!({})).await;
    put(
        format!("{base}/subscriptions/jobs-push"),
        json!({
            "topic": topic,
            "pushConfig": {"pushEndpoint": format!("{worker}/pubsub/push")},
            "ackDeadlineSeconds": 30,
            "enableMessageOrdering": true,
            "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "4s"},
        }),
    )
    .await;
    topic
}

/// A spec that renders in milliseconds: one small image.
fn small(seed: u64) -> RenderSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(160),
        ..RenderSpec::default()
    }
}

/// A spec that takes a render slot a while.
fn heavy(seed: u64) -> RenderSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(2048),
        layers: Some(12),
        elements: Some(32),
        ..RenderSpec::default()
    }
}

impl Stage {
    /// Starts a scenario's bot on healthy dependencies and warms it up:
    /// one job through each ingress, to its image.
    async fn start(emu: &Emulators, name: &str, setup: &Setup) -> Stage {
        let mut logs = tempfile::Builder::new()
            .prefix(&format!("mandala-{name}-"))
            .tempdir()
            .unwrap();
        // MANDALA_KEEP_LOGS=1 keeps every process's log for a closer look.
        if std::env::var_os("MANDALA_KEEP_LOGS").is_some() {
            logs.disable_cleanup(true);
            eprintln!("{name}: logs in {}", logs.path().display());
        }
        let standin = DiscordStandin::new();
        let api = standin.serve().await.unwrap();
        let mut proxies = HashMap::new();
        proxies.insert(Dep::Discord, Proxy::to(&api).await.unwrap());
        proxies.insert(
            Dep::Firestore,
            Proxy::to(&emu.firestore.host_port()).await.unwrap(),
        );
        proxies.insert(
            Dep::Pubsub,
            Proxy::to(&emu.pubsub.host_port()).await.unwrap(),
        );
        proxies.insert(Dep::Store, Proxy::to(&emu.gcs.endpoint()).await.unwrap());
        let discord_base = format!("{}/api/v10", proxies[&Dep::Discord].url());
        let database = format!("projects/{name}/databases/(default)");
        let bucket = format!("mandala-{name}");
        emu.gcs.json().create_bucket(&bucket).await.unwrap();
        let ledger = [
            ("FIRESTORE_DATABASE", database),
            (
                "FIRESTORE_EMULATOR_HOST",
                proxies[&Dep::Firestore].host_port(),
            ),
        ];

        let port = free_port();
        let worker_url = format!("http://127.0.0.1:{port}");
        let mut worker_env: Vec<(&str, String)> = vec![
            ("BUCKET", bucket),
            ("STORAGE_EMULATOR_HOST", proxies[&Dep::Store].url()),
            ("DISCORD_API_BASE", discord_base.clone()),
            ("RENDER_CONCURRENCY", setup.render_slots.to_string()),
            ("MAX_DELIVERY_ATTEMPTS", setup.attempts.to_string()),
            ("JOB_DEADLINE_SECS", setup.job_deadline_secs.to_string()),
            ("LEDGER_TIMEOUT_MS", "1000".to_owned()),
        ];
        worker_env.extend(ledger.clone());
        if let Some(secs) = setup.stall_after_secs {
            worker_env.push(("STALL_AFTER_SECS", secs.to_string()));
        }
        let mut ingress_env: Vec<(&str, String)> = vec![
            (
                "DISCORD_PUBLIC_KEY",
                hex::encode(key().verifying_key().to_bytes()),
            ),
            ("DISCORD_APPLICATION_ID", APP.to_owned()),
            ("DISCORD_API_BASE", discord_base),
        ];
        ingress_env.extend(ledger);
        let mut twin = None;
        match setup.design {
            Design::Pubsub => {
                // The emulator's pushes carry no token (production's do).
                worker_env.push(("PUSH_AUTH", "none".to_owned()));
                let topic = push_topic(&emu.pubsub, name, &worker_url).await;
                ingress_env.push(("PUBSUB_TOPIC", topic));
                ingress_env.push(("PUBSUB_EMULATOR_HOST", proxies[&Dep::Pubsub].host_port()));
            }
            Design::CloudTasks => {
                let t = CloudTasksTwin::new(QueueConfig {
                    max_dispatches_per_second: 100.0,
                    max_concurrent_dispatches: 8,
                    max_attempts: setup.attempts,
                    min_backoff: setup.min_backoff,
                    max_backoff: setup.min_backoff.max(Duration::from_secs(1)),
                    ..QueueConfig::default()
                })
                .unwrap();
                let host = t.serve().await.unwrap();
                proxies.insert(Dep::Tasks, Proxy::to(&host).await.unwrap());
                proxies.insert(
                    Dep::Dispatch,
                    Proxy::start(([127, 0, 0, 1], port).into()).await.unwrap(),
                );
                worker_env.extend([
                    ("PUSH_AUTH", "oidc".to_owned()),
                    ("PUSH_AUDIENCE", worker_url.clone()),
                    ("PUSH_SERVICE_ACCOUNT", ACCOUNT.to_owned()),
                    ("PUSH_JWKS_URL", format!("http://{host}/certs")),
                ]);
                ingress_env.extend([
                    (
                        "CLOUD_TASKS_QUEUE",
                        format!("projects/{name}/locations/local/queues/jobs"),
                    ),
                    (
                        "CLOUD_TASKS_URL",
                        format!("{}/tasks/run", proxies[&Dep::Dispatch].url()),
                    ),
                    ("CLOUD_TASKS_SERVICE_ACCOUNT", ACCOUNT.to_owned()),
                    ("CLOUD_TASKS_AUDIENCE", worker_url.clone()),
                    (
                        "CLOUD_TASKS_EMULATOR_HOST",
                        proxies[&Dep::Tasks].host_port(),
                    ),
                ]);
                twin = Some(t);
            }
        }
        let (worker, _) = start_service(
            "worker",
            env!("CARGO_BIN_EXE_e2e-mandala-worker"),
            &worker_env,
            logs.path(),
            port,
        )
        .await;
        let mut ingresses = Vec::new();
        for i in 0..setup.ingresses {
            let (child, url) = start_service(
                &format!("ingress-{i}"),
                env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
                &ingress_env,
                logs.path(),
                free_port(),
            )
            .await;
            ingresses.push((child, format!("{url}/interactions")));
        }
        let stage = Stage {
            name: name.to_owned(),
            standin,
            proxies,
            sick: Vec::new(),
            twin,
            worker,
            worker_url,
            ingresses,
            _logs: logs,
        };
        stage.warm_up().await;
        stage
    }

    /// Jobs through each ingress, one at a time, until the ledger admits
    /// them in time (an answer with an estimate), then to their images:
    /// clients connected, the emulators' code paths warm (a cold emulator
    /// takes a second or more for its first calls of each kind, which no
    /// production store does), totals read.
    async fn warm_up(&self) {
        let mut asked = Vec::new();
        let mut rounds = 0;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
        for round in 0..40u64 {
            rounds += 1;
            let asks = self
                .ingresses
                .iter()
                .enumerate()
                .map(|(i, (_, url))| Ask {
                    url: url.clone(),
                    user: (3_000_000_000_000_000_000 + round * 10 + i as u64).to_string(),
                    spec: small(900 + round * 10 + i as u64),
                })
                .collect();
            let answers = invariants::burst(&key(), APP, asks).await;
            let warm = answers
                .iter()
                .all(|a| a.answer == Answer::Queued { estimate: true });
            asked.extend(answers);
            if warm || tokio::time::Instant::now() > give_up {
                break;
            }
            // A breaker opened by cold calls stays open 5 s: wait it out.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (_, settled) = invariants::settle(
            &self.standin,
            &asked,
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .await;
        let report = invariants::check(&asked, &self.standin);
        assert!(
            settled && report.holds() && report.summary.images == asked.len(),
            "{}: the warm-up on healthy dependencies failed: {report}\n{}",
            self.name,
            self.logs()
        );
        let estimated = asked
            .iter()
            .filter(|a| a.answer == Answer::Queued { estimate: true })
            .count();
        eprintln!(
            "{}: warmed up in {rounds} rounds ({estimated} of {} answers with an estimate)",
            self.name,
            asked.len()
        );
    }

    fn proxy(&self, dep: Dep) -> &Proxy {
        &self.proxies[&dep]
    }

    /// Every call to `dep` takes `latency` longer each way.
    fn slow(&self, dep: Dep, latency: Duration) {
        self.proxy(dep).set(Mode::Delay(latency));
    }

    /// `dep` stops answering (on open connections too), until [`Stage::heal`].
    fn hang(&self, dep: Dep) {
        self.proxy(dep).set(Mode::Hang);
    }

    /// `dep` answers every request with `with`.
    async fn failing(&mut self, dep: Dep, with: FailWith) {
        let l = faults::fail(with).await.unwrap();
        self.proxy(dep).set(Mode::Divert(l.addr()));
        self.sick.push(l);
    }

    /// `dep` is gone for good: connections are taken, nothing is answered.
    async fn gone(&mut self, dep: Dep) {
        let l = faults::hang().await.unwrap();
        self.proxy(dep).set(Mode::Divert(l.addr()));
        self.sick.push(l);
    }

    /// `dep` resets every connection as soon as something is sent.
    async fn resetting(&mut self, dep: Dep) {
        let l = faults::reset().await.unwrap();
        self.proxy(dep).set(Mode::Divert(l.addr()));
        self.sick.push(l);
    }

    fn heal(&self, dep: Dep) {
        self.proxy(dep).set(Mode::Pass);
    }

    /// A burst: one `/mandala` from each of `users` users (ids from
    /// `first_user`), at once, spread over the ingresses.
    async fn burst(&self, first_user: u64, specs: Vec<RenderSpec>) -> Vec<Asked> {
        let asks = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Ask {
                url: self.ingresses[i % self.ingresses.len()].1.clone(),
                user: (first_user + i as u64).to_string(),
                spec,
            })
            .collect();
        invariants::burst(&key(), APP, asks).await
    }

    /// The worker's counters, from its `/healthz`.
    async fn worker_stats(&self) -> Value {
        self.worker_stats_full().await["stats"].clone()
    }

    /// The worker's whole `/healthz`.
    async fn worker_stats_full(&self) -> Value {
        reqwest::get(format!("{}/healthz", self.worker_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the worker has received no push for `quiet` (at most
    /// `within`): messages that were held somewhere have arrived.
    async fn worker_quiet(&self, quiet: Duration, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = Value::Null;
        let mut since = tokio::time::Instant::now();
        while tokio::time::Instant::now() < deadline {
            let received = self.worker_stats().await["received"].clone();
            if received != last {
                last = received;
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last lines of every process's log, for a failure message.
    fn logs(&self) -> String {
        let tail = |name: &str, text: String| {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(30);
            format!(
                "--- {name} (last {} lines)\n{}\n",
                lines.len() - from,
                lines[from..].join("\n")
            )
        };
        let mut out = tail("worker", self.worker.output());
        for (child, _) in &self.ingresses {
            out.push_str(&tail(&child.name, child.output()));
        }
        out
    }
}

/// A scenario's result.
struct Outcome {
    name: String,
    report: Report,
    settled: Duration,
    logs: String,
}

impl Stage {
    /// Waits until every queued job of `asked` shows its end on Discord,
    /// nothing more arrives there for `quiet`, and the worker (and the task
    /// queue) have nothing left in flight: a send whose answer is withheld
    /// is still running, and may be followed by another write.
    async fn settle(&self, asked: &[Asked], quiet: Duration) -> Duration {
        let started = tokio::time::Instant::now();
        let deadline = started + SETTLE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            invariants::settle(&self.standin, asked, left, quiet).await;
            let idle = self.worker_stats_full().await["in_flight"] == 0
                && self.twin.as_ref().is_none_or(|t| t.pending() == 0);
            if idle || tokio::time::Instant::now() >= deadline {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Waits for the jobs of `asked` to end, checks the promises, prints the
/// scenario's line.
async fn finish(stage: &Stage, asked: &[Asked]) -> Outcome {
    let took = stage.settle(asked, QUIET).await;
    outcome(stage, asked, took).await
}

async fn outcome(stage: &Stage, asked: &[Asked], settled: Duration) -> Outcome {
    let report = invariants::check(asked, &stage.standin);
    let stats = stage.worker_stats().await;
    let unchecked: usize = stage
        .ingresses
        .iter()
        .map(|(c, _)| c.output().matches("queueing without an estimate").count())
        .sum();
    eprintln!(
        "==== dependencies/{}: {} · settled in {:.1}s · admitted without the ledger {unchecked} · worker renders {} received {} cancelled {}",
        stage.name,
        report.summary,
        settled.as_secs_f64(),
        stats["renders"],
        stats["received"],
        stats["cancelled"],
    );
    for v in &report.violations {
        eprintln!("       ✗ {v}");
    }
    Outcome {
        name: stage.name.clone(),
        logs: stage.logs(),
        report,
        settled,
    }
}

/// Fails the test with every broken promise of every scenario.
fn verdict(outcomes: &[Outcome]) {
    let mut failed = String::new();
    for o in outcomes.iter().filter(|o| !o.report.holds()) {
        let _ = writeln!(
            failed,
            "\n## {} (settled in {:.1}s)\n{}{}",
            o.name,
            o.settled.as_secs_f64(),
            o.report,
            o.logs
        );
    }
    assert!(failed.is_empty(), "broken promises:{failed}");
}

fn smalls(from: u64, n: usize) -> Vec<RenderSpec> {
    (0..n as u64).map(|i| small(from + i)).collect()
}

/// The common shape: `sicken` makes a dependency sick after the warm-up,
/// then [`USERS`] users send a small job each at once.
async fn simple(
    emu: &Emulators,
    name: &str,
    setup: &Setup,
    sicken: impl AsyncFnOnce(&mut Stage),
) -> Outcome {
    let mut stage = Stage::start(emu, name, setup).await;
    sicken(&mut stage).await;
    let asked = stage
        .burst(4_100_000_000_000_000_000, smalls(1000, USERS))
        .await;
    finish(&stage, &asked).await
}

// ---------------------------------------------------------------------
// Firestore: the queue ledger.

/// Firestore slow, failing (503, 429, resets), hanging and then back,
/// gone; and one user's burst over two instances while it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn firestore_slow_failing_and_hanging() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("firestore").await else {
        return;
    };
    let setup = Setup::default();
    let mut out = Vec::new();
    out.push(
        simple(&emu, "firestore-slow", &setup, async |s| {
            s.slow(Dep::Firestore, Duration::from_millis(300));
        })
        .await,
    );
    out.push(
        simple(&emu, "firestore-503", &setup, async |s| {
            s.failing(Dep::Firestore, FailWith::UNAVAILABLE).await;
        })
        .await,
    );
    out.push(
        simple(&emu, "firestore-429", &setup, async |s| {
            s.failing(Dep::Firestore, FailWith::too_many(1)).await;
        })
        .await,
    );
    out.push(
        simple(&emu, "firestore-reset", &setup, async |s| {
            s.resetting(Dep::Firestore).await;
        })
        .await,
    );
    out.push(firestore_hangs_then_recovers(&emu).await);
    out.push(
        simple(&emu, "firestore-gone", &setup, async |s| {
            s.gone(Dep::Firestore).await;
        })
        .await,
    );
    out.push(cap_without_the_ledger(&emu).await);
    verdict(&out);
}

/// The ledger hangs through a burst (its writes held, landing when it
/// recovers), then a second burst keeps the worker busy, so its sweeper
/// runs over whatever the late writes left: no notice may reach a
/// message that already shows its image.
async fn firestore_hangs_then_recovers(emu: &Emulators) -> Outcome {
    let stage = Stage::start(emu, "firestore-hang", &Setup::default()).await;
    stage.hang(Dep::Firestore);
    let mut asked = stage
        .burst(4_200_000_000_000_000_000, smalls(2000, USERS))
        .await;
    let first = stage.settle(&asked, QUIET).await;
    stage.heal(Dep::Firestore);
    // Heavier jobs from other users: the worker is busy for a while, and
    // sweeps for notices meanwhile.
    let second = stage
        .burst(
            4_210_000_000_000_000_000,
            (0..6).map(|i| heavy(2100 + i)).collect(),
        )
        .await;
    asked.extend(second);
    let then = stage.settle(&asked, Duration::from_secs(4)).await;
    outcome(&stage, &asked, first + then).await
}

// ---------------------------------------------------------------------
// Pub/Sub: publishing jobs.

/// Pub/Sub slow, failing, hanging and then back (what it held is
/// published late: users told to try again must not get an image, whether
/// or not the ledger is there to say their jobs were cancelled).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_slow_failing_and_hanging() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("pubsub").await else {
        return;
    };
    let setup = Setup::default();
    let mut out = Vec::new();
    out.push(
        simple(&emu, "pubsub-slow", &setup, async |s| {
            s.slow(Dep::Pubsub, Duration::from_millis(400));
        })
        .await,
    );
    out.push(
        simple(&emu, "pubsub-503", &setup, async |s| {
            s.failing(Dep::Pubsub, FailWith::UNAVAILABLE).await;
        })
        .await,
    );
    out.push(late_publishes(&emu, "pubsub-hang", Design::Pubsub, Dep::Pubsub, false).await);
    out.push(
        late_publishes(
            &emu,
            "pubsub-hang-no-ledger",
            Design::Pubsub,
            Dep::Pubsub,
            true,
        )
        .await,
    );
    verdict(&out);
}

/// `dep` (the job queue) hangs through a burst, so every publish times
/// out and its user is told to try again; then it recovers, and what it
/// held goes out late. The worker must drop those jobs: their users were
/// told nothing was queued. With `no_ledger`, Firestore is gone too, so
/// no ledger entry can say the job was cancelled: only the job itself
/// (its `publish_by_ms`) can.
async fn late_publishes(
    emu: &Emulators,
    name: &str,
    design: Design,
    dep: Dep,
    no_ledger: bool,
) -> Outcome {
    let mut stage = Stage::start(
        emu,
        name,
        &Setup {
            design,
            ..Setup::default()
        },
    )
    .await;
    if no_ledger {
        stage.gone(Dep::Firestore).await;
    }
    stage.hang(dep);
    let asked = stage
        .burst(4_300_000_000_000_000_000, smalls(3000, USERS))
        .await;
    // The ingress has given up on every publish by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stage.heal(dep);
    stage
        .worker_quiet(Duration::from_secs(3), Duration::from_secs(20))
        .await;
    finish(&stage, &asked).await
}

// ---------------------------------------------------------------------
// Cloud Tasks: creating tasks (the cloud-tasks design).

/// Creating tasks slow, failing (503, 429), hanging and then back (with
/// and without the ledger); and a task whose last attempt never reaches
/// the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cloud_tasks_slow_failing_and_hanging() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("cloud tasks").await else {
        return;
    };
    let setup = Setup {
        design: Design::CloudTasks,
        ..Setup::default()
    };
    let mut out = Vec::new();
    out.push(
        simple(&emu, "tasks-slow", &setup, async |s| {
            s.slow(Dep::Tasks, Duration::from_millis(400));
        })
        .await,
    );
    out.push(
        simple(&emu, "tasks-503", &setup, async |s| {
            s.failing(Dep::Tasks, FailWith::UNAVAILABLE).await;
        })
        .await,
    );
    out.push(
        simple(&emu, "tasks-429", &setup, async |s| {
            s.failing(Dep::Tasks, FailWith::too_many(1)).await;
        })
        .await,
    );
    out.push(late_publishes(&emu, "tasks-hang", Design::CloudTasks, Dep::Tasks, false).await);
    out.push(
        late_publishes(
            &emu,
            "tasks-hang-no-ledger",
            Design::CloudTasks,
            Dep::Tasks,
            true,
        )
        .await,
    );
    out.push(last_attempt_never_arrives(&emu).await);
    verdict(&out);
}

/// A task's first attempt fails (the store answers 503), then its last
/// one never reaches the worker (the connection is reset, as when Cloud
/// Run answers 429 or the instance dies): Cloud Tasks drops the task
/// without a word, and only the worker's stall watchdog can tell the user.
async fn last_attempt_never_arrives(emu: &Emulators) -> Outcome {
    let mut stage = Stage::start(
        emu,
        "tasks-last-attempt-lost",
        &Setup {
            design: Design::CloudTasks,
            attempts: 2,
            job_deadline_secs: 5,
            min_backoff: Duration::from_secs(2),
            stall_after_secs: Some(18),
            ..Setup::default()
        },
    )
    .await;
    stage.failing(Dep::Store, FailWith::UNAVAILABLE).await;
    let users = 5;
    let asked = stage
        .burst(4_350_000_000_000_000_000, smalls(3500, users))
        .await;
    let twin = stage.twin.as_ref().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while twin.attempts().len() < users && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Before the retries (2 s later): they will not get through.
    stage.proxy(Dep::Dispatch).set(Mode::Reset);
    stage.heal(Dep::Store);
    let mut out = finish(&stage, &asked).await;
    let t = twin.stats();
    if t.gave_up != users as u64 {
        out.report.violations.push(format!(
            "the scenario did not happen as planned: the queue gave up {} of {users} tasks ({t:?})",
            t.gave_up
        ));
    }
    out
}

// ---------------------------------------------------------------------
// Cloud Storage: the image store.

/// The image store slow, failing or hanging for a while, and failing for
/// good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn image_store_slow_failing_and_hanging() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("image store").await else {
        return;
    };
    let setup = Setup::default();
    let mut out = Vec::new();
    out.push(
        simple(&emu, "store-slow", &setup, async |s| {
            s.slow(Dep::Store, Duration::from_millis(150));
        })
        .await,
    );
    out.push(store_outage(&emu, "store-503", false).await);
    out.push(store_outage(&emu, "store-hang", true).await);
    // For good: on the cloud-tasks design, whose queue counts attempts
    // (the Pub/Sub emulator does not), the last one tells the user.
    out.push(
        simple(
            &emu,
            "store-gone",
            &Setup {
                design: Design::CloudTasks,
                attempts: 3,
                ..Setup::default()
            },
            async |s| {
                s.failing(Dep::Store, FailWith::UNAVAILABLE).await;
            },
        )
        .await,
    );
    verdict(&out);
}

/// The store fails (503) or hangs for 4 s while a burst arrives, then
/// recovers: every job is redelivered until its image is stored and sent.
async fn store_outage(emu: &Emulators, name: &str, hang: bool) -> Outcome {
    let mut stage = Stage::start(emu, name, &Setup::default()).await;
    if hang {
        stage.hang(Dep::Store);
    } else {
        stage.failing(Dep::Store, FailWith::UNAVAILABLE).await;
    }
    let asked = stage
        .burst(4_400_000_000_000_000_000, smalls(4000, USERS))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    stage.heal(Dep::Store);
    finish(&stage, &asked).await
}

// ---------------------------------------------------------------------
// Discord: where the images go.

/// Discord answering 500 and 429, not answering (with and without acting),
/// slow; and its answers lost through a job's last attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discord_failing_hanging_and_slow() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("discord").await else {
        return;
    };
    let setup = Setup::default();
    let mut out = Vec::new();
    out.push(
        simple(&emu, "discord-5xx", &setup, async |s| {
            s.standin.fail_next(20, Failure::ServerError);
        })
        .await,
    );
    out.push(
        simple(&emu, "discord-429", &setup, async |s| {
            s.standin.fail_next(
                10,
                Failure::RateLimited {
                    retry_after_secs: 1.0,
                },
            );
            // A wait no reply budget covers: retried by redelivery.
            s.standin.fail_next(
                3,
                Failure::RateLimited {
                    retry_after_secs: 1000.0,
                },
            );
        })
        .await,
    );
    out.push(
        simple(&emu, "discord-hang", &setup, async |s| {
            s.standin.fail_next(6, Failure::Hang);
        })
        .await,
    );
    out.push(
        simple(&emu, "discord-answer-lost", &setup, async |s| {
            s.standin.fail_next(10, Failure::AnswerLost);
        })
        .await,
    );
    out.push(
        simple(&emu, "discord-slow", &setup, async |s| {
            s.slow(Dep::Discord, Duration::from_millis(250));
        })
        .await,
    );
    out.push(answers_lost_to_the_last_attempt(&emu).await);
    verdict(&out);
}

/// Discord applies every edit but its answers never come, through the
/// last delivery attempt (cloud-tasks, two attempts): the worker cannot
/// know its image was delivered, and must not put "gave up" over it.
async fn answers_lost_to_the_last_attempt(emu: &Emulators) -> Outcome {
    let stage = Stage::start(
        emu,
        "discord-lost-to-the-end",
        &Setup {
            design: Design::CloudTasks,
            attempts: 2,
            job_deadline_secs: 5,
            ..Setup::default()
        },
    )
    .await;
    let users = 4;
    // Every write of the scenario: images, retries and final words.
    stage.standin.fail_next(users * 6, Failure::AnswerLost);
    let asked = stage
        .burst(4_500_000_000_000_000_000, smalls(5000, users))
        .await;
    finish(&stage, &asked).await
}

// ---------------------------------------------------------------------
// The per-user cap under its own burst, and the notice/final race.

/// One user sends 16 heavy `/mandala` at once, spread over two ingress
/// instances, on healthy (warmed) emulators: at most MAX_QUEUED_PER_USER
/// (5) are accepted, the rest are told privately that their queue is full
/// (or that their earlier mandalas are still being queued).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_users_burst_over_two_instances_is_capped() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("cap").await else {
        return;
    };
    let stage = Stage::start(
        &emu,
        "cap-burst",
        &Setup {
            ingresses: 2,
            ..Setup::default()
        },
    )
    .await;
    let mut out = one_users_burst(&stage).await;
    let s = &out.report.summary;
    if s.queued > 5 {
        out.report.violations.push(format!(
            "one user's 16 simultaneous jobs over two instances: {} accepted, the cap is 5",
            s.queued
        ));
    }
    if s.queued + s.full + s.busy != 16 {
        out.report.violations.push(format!(
            "every job beyond the cap is refused privately: {} queued, {} refused as full, {} as busy",
            s.queued, s.full, s.busy
        ));
    }
    verdict(&[out]);
}

/// [`one_users_burst`] with the ledger gone: each instance holds the user
/// to the cap by its own count, so two instances let through at most
/// twice the cap — and never an unbounded burst.
async fn cap_without_the_ledger(emu: &Emulators) -> Outcome {
    let mut stage = Stage::start(
        emu,
        "cap-burst-no-ledger",
        &Setup {
            ingresses: 2,
            ..Setup::default()
        },
    )
    .await;
    stage.gone(Dep::Firestore).await;
    let mut out = one_users_burst(&stage).await;
    let s = &out.report.summary;
    if s.queued > 10 || s.queued + s.full + s.busy != 16 {
        out.report.violations.push(format!(
            "without the ledger, two instances let through {} of one user's 16 (at most 2 × 5), refused {} as full and {} as busy",
            s.queued, s.full, s.busy
        ));
    }
    out
}

/// One user's 16 heavy jobs at once, spread over the stage's ingresses.
async fn one_users_burst(stage: &Stage) -> Outcome {
    let user = "4600000000000000001";
    let asks = (0..16u64)
        .map(|i| Ask {
            url: stage.ingresses[i as usize % stage.ingresses.len()]
                .1
                .clone(),
            user: user.to_owned(),
            spec: RenderSpec {
                size: Some(1024),
                layers: Some(8),
                elements: Some(24),
                ..heavy(6000 + i)
            },
        })
        .collect();
    let asked = invariants::burst(&key(), APP, asks).await;
    finish(stage, &asked).await
}

/// A real backlog on the Firestore emulator: four users with four jobs
/// each, which Pub/Sub's ordered delivery hands out one per user at a
/// time, so each user's later jobs wait in the queue (not started) while
/// the worker's sweeper runs; and an image store slower than the estimates
/// know, so they wait well past their promise and draw waiting notices
/// while their turn comes. Every message must end in its image: a notice
/// is never the last word, whichever of the two reaches Discord first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_never_overwrite_the_final_word() {
    let _one = SERIAL.lock().await;
    let Some(emu) = emulators("notices").await else {
        return;
    };
    let stage = Stage::start(
        &emu,
        "notice-race",
        &Setup {
            render_slots: 1,
            ..Setup::default()
        },
    )
    .await;
    // Every store call now takes 0.8 s more than when the worker measured
    // its speed (the warm-up): each job a few seconds more than promised.
    stage.slow(Dep::Store, Duration::from_millis(400));
    let asks = (0..16u64)
        .map(|i| Ask {
            url: stage.ingresses[0].1.clone(),
            user: (4_700_000_000_000_000_000 + i % 4).to_string(),
            spec: RenderSpec {
                size: Some(512),
                ..heavy(7000 + i)
            },
        })
        .collect();
    let asked = invariants::burst(&key(), APP, asks).await;
    let mut out = finish(&stage, &asked).await;
    if out.report.summary.notices == 0 {
        out.report
            .violations
            .push("no waiting notice was sent: the backlog did not exercise the race".to_owned());
    }
    verdict(&[out]);
}

// ---------------------------------------------------------------------

/// A signed 8 MiB body: the ingress answers 413, and the client reads it
/// (the connection is not reset under it while the body still arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_bodies_get_a_413_the_client_reads() {
    let logs = tempfile::tempdir().unwrap();
    let env = [
        (
            "DISCORD_PUBLIC_KEY",
            hex::encode(key().verifying_key().to_bytes()),
        ),
        ("DISCORD_APPLICATION_ID", APP.to_owned()),
        (
            "LOCAL_PUSH_URL",
            "http://127.0.0.1:9/pubsub/push".to_owned(),
        ),
        (
            "LOCAL_SPOOL_FILE",
            logs.path().join("pending.jsonl").display().to_string(),
        ),
        (
            "LOCAL_DEAD_LETTER_FILE",
            logs.path().join("dead.jsonl").display().to_string(),
        ),
    ];
    let (ingress, url) = start_service(
        "ingress",
        env!("CARGO_BIN_EXE_e2e-mandala-ingress"),
        &env,
        logs.path(),
        free_port(),
    )
    .await;
    let http = reqwest::Client::new();
    let body = {
        let mut v =
            serde_json::to_vec(&json!({"type": 1, "id": "1", "application_id": APP})).unwrap();
        v.resize(8 * 1024 * 1024, b' ');
        v
    };
    for round in 0..5 {
        let outgoing = mandala_cli::dev::client::Outgoing {
            id: "1".to_owned(),
            token: String::new(),
            body: body.clone(),
        };
        let answer = mandala_cli::dev::client::send(
            &http,
            &format!("{url}/interactions"),
            &key(),
            &outgoing,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "round {round}: the client read no answer: {e:?}\n{}",
                ingress.output()
            )
        });
        assert_eq!(answer.status, 413, "round {round}: {}", answer.text);
        assert_eq!(answer.text, "request body is larger than 65536 bytes");
    }
}
