//! `mandala load`: load-test an interactions endpoint with signed requests.
//!
//! All N `/mandala` interactions (each with a fresh snowflake id, so none is
//! a replay) are built and signed before the clock starts; then C workers
//! send them over kept-alive connections and the command prints throughput,
//! latency percentiles and the status-code histogram. Signing is done up
//! front so the measurement is of the endpoint, not of the client's
//! Ed25519; the timestamps are still fresh for any run shorter than the
//! endpoint's signature window (60 s by default).
//!
//! `--sink-port P` also serves a push sink on 127.0.0.1:P that acknowledges
//! every POST with 204 — somewhere cheap for an ingress's local push
//! delivery (`LOCAL_PUSH_URL=http://127.0.0.1:P/push`) to send the jobs —
//! and reports how many deliveries it received.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ed25519_dalek::SigningKey;

use crate::UsageError;
use crate::dev::{DEV_APPLICATION_ID, client, keys};

/// Flags of `mandala load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The interactions endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/interactions")]
    pub url: String,
    /// Sign with this Ed25519 seed (64 hex digits) instead of the key file.
    #[arg(long, value_name = "HEX")]
    pub key_seed: Option<String>,
    /// A file holding the Ed25519 seed as 64 hex digits (`mandala dev` writes it).
    #[arg(long, value_name = "PATH", default_value = ".mandala/dev-key.hex")]
    pub key_file: PathBuf,
    /// How many interactions to send (all distinct, all signed before the clock starts).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub requests: usize,
    /// How many requests are in flight at once (one connection each).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// The application id the interactions claim to be for.
    #[arg(long, default_value = DEV_APPLICATION_ID)]
    pub application_id: String,
    /// Requests sent before the clock starts, to open the connections (not counted).
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Give up on one request after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// Also serve a push sink on 127.0.0.1:PORT that acknowledges every POST (204).
    #[arg(long, value_name = "PORT")]
    pub sink_port: Option<u16>,
    /// What to send: `/mandala` commands (each queues a job) or PINGs (verification only).
    #[arg(long, value_enum, default_value_t = Kind::Command)]
    pub kind: Kind,
    /// How many users the commands come from, in turn: each user may have only a few jobs
    /// queued at once (the ingress's MAX_QUEUED_PER_USER), so a throughput test needs many.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Exit with status 1 when more than this share of the requests failed (transport errors,
    /// non-2xx answers, and users told to try again), from 0 to 1.
    #[arg(long, default_value_t = 0.01, value_parser = share)]
    pub max_failed: f64,
}

fn share(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a share between 0 and 1"))
    }
}

/// How one request ended, as its user would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The visible acknowledgement of a queued job (🌀).
    Queued,
    /// PONG.
    Pong,
    /// Refused privately: the user's queue is full, or still being queued.
    RefusedAtCap,
    /// Refused privately: the wait would outlive the token.
    TooLong,
    /// Told privately to try again (the queue did not take the job).
    TryAgain,
    /// Any other answer with a 2xx.
    OtherAnswer,
    /// A non-2xx status.
    Rejected(u16),
    /// No answer at all.
    TransportError,
}

impl Outcome {
    /// Whether this request failed, as the exit status counts.
    pub fn failed(self) -> bool {
        matches!(
            self,
            Outcome::TryAgain | Outcome::Rejected(_) | Outcome::TransportError
        )
    }

    /// Reads what a 2xx answer said (the interactions are in English).
    fn of_answer(status: u16, body: &[u8]) -> Outcome {
        if !(200..300).contains(&status) {
            return Outcome::Rejected(status);
        }
        let Ok(response) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Outcome::OtherAnswer;
        };
        if response["type"] == 1 {
            return Outcome::Pong;
        }
        let text = response["data"]["content"].as_str().unwrap_or_default();
        let s = mandala_model::i18n::strings(None);
        let before = |template: &str| template.split('{').next().unwrap_or(template).to_owned();
        if text.starts_with("🌀") {
            Outcome::Queued
        } else if text == s.try_again {
            Outcome::TryAgain
        } else if text == s.queue_busy || text.starts_with(&before(s.queue_full)) {
            Outcome::RefusedAtCap
        } else if text.starts_with(&before(s.too_long)) {
            Outcome::TooLong
        } else {
            Outcome::OtherAnswer
        }
    }

    fn label(self) -> String {
        match self {
            Outcome::Queued => "queued".into(),
            Outcome::Pong => "pong".into(),
            Outcome::RefusedAtCap => "refused at the per-user cap".into(),
            Outcome::TooLong => "refused: wait too long".into(),
            Outcome::TryAgain => "told to try again".into(),
            Outcome::OtherAnswer => "other answer".into(),
            Outcome::Rejected(s) => format!("rejected {s}"),
            Outcome::TransportError => "transport error".into(),
        }
    }
}

/// The interaction a load test sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Command,
    Ping,
}

/// What one request came back with.
#[derive(Debug, Clone, Copy)]
struct Sample {
    latency_us: u32,
    /// HTTP status, or 0 for a transport error.
    status: u16,
    outcome: Outcome,
}

fn load_key(args: &Args) -> anyhow::Result<SigningKey> {
    if let Some(seed) = &args.key_seed {
        return Ok(keys::parse_seed(seed).map_err(|e| UsageError(format!("--key-seed: {e}")))?);
    }
    let text = std::fs::read_to_string(&args.key_file).map_err(|e| {
        UsageError(format!(
            "--key-file {}: {e} (start `mandala dev` once to create it, or pass --key-seed HEX)",
            args.key_file.display()
        ))
    })?;
    Ok(keys::parse_seed(&text)
        .map_err(|e| UsageError(format!("--key-file {}: {e}", args.key_file.display())))?)
}

fn check(args: &Args) -> Result<(), UsageError> {
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(UsageError(format!(
            "--url {:?} is not an http:// or https:// URL",
            args.url
        )));
    }
    if args.requests == 0 {
        return Err(UsageError("--requests must be at least 1".into()));
    }
    if !(1..=4096).contains(&args.concurrency) {
        return Err(UsageError(format!(
            "--concurrency must be in 1..=4096 (got {})",
            args.concurrency
        )));
    }
    if args.timeout_secs == 0 {
        return Err(UsageError("--timeout-secs must be at least 1".into()));
    }
    if args.users == 0 {
        return Err(UsageError("--users must be at least 1".into()));
    }
    Ok(())
}

/// One pre-signed request.
struct Prepared {
    body: reqwest::Body,
    signature: reqwest::header::HeaderValue,
    timestamp: reqwest::header::HeaderValue,
}

fn prepare(
    key: &SigningKey,
    application_id: &str,
    kind: Kind,
    n: usize,
    users: usize,
) -> anyhow::Result<Vec<Prepared>> {
    (0..n)
        .map(|i| {
            let user = format!("{}", 2_000_000_000_000_000_000u64 + (i % users) as u64);
            let outgoing = client::command_from(application_id, &user, &[]);
            let body = match kind {
                Kind::Command => outgoing.body,
                Kind::Ping => serde_json::json!({"id": outgoing.id, "application_id": application_id, "type": 1, "token": outgoing.token, "version": 1})
                    .to_string()
                    .into_bytes(),
            };
            let (signature, timestamp) = client::sign(key, &body);
            Ok(Prepared {
                body: reqwest::Body::from(body),
                signature: signature.parse().context("signature header")?,
                timestamp: timestamp.parse().context("timestamp header")?,
            })
        })
        .collect()
}

async fn send(http: &reqwest::Client, url: &str, p: Prepared) -> Sample {
    let started = Instant::now();
    let result = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", p.signature)
        .header("x-signature-timestamp", p.timestamp)
        .body(p.body)
        .send()
        .await;
    let (status, outcome) = match result {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => (status, Outcome::of_answer(status, &b)),
                Err(_) => (0, Outcome::TransportError),
            }
        }
        Err(_) => (0, Outcome::TransportError),
    };
    Sample {
        latency_us: u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
        status,
        outcome,
    }
}

/// Sends every prepared request with `concurrency` workers.
async fn run_batch(
    http: &reqwest::Client,
    url: &str,
    batch: Vec<Prepared>,
    concurrency: usize,
) -> Vec<Sample> {
    let total = batch.len();
    let queue = Arc::new(std::sync::Mutex::new(batch.into_iter()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let queue = Arc::clone(&queue);
        let http = http.clone();
        let url = url.to_owned();
        workers.spawn(async move {
            let mut samples = Vec::with_capacity(total / concurrency + 1);
            loop {
                let item = queue.lock().ok().and_then(|mut q| q.next());
                let Some(p) = item else { break };
                samples.push(send(&http, &url, p).await);
            }
            samples
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(r) = workers.join_next().await {
        if let Ok(samples) = r {
            all.extend(samples);
        }
    }
    all
}

/// What the push sink has seen: how many POSTs, and when the last arrived.
#[derive(Debug)]
struct Sink {
    count: AtomicU64,
    base: Instant,
    last_ns: AtomicU64,
}

impl Sink {
    fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    fn last_at(&self) -> Instant {
        self.base + Duration::from_nanos(self.last_ns.load(Ordering::Acquire))
    }
}

/// A push endpoint that acknowledges everything and counts.
async fn start_sink(port: u16) -> anyhow::Result<Arc<Sink>> {
    let sink = Arc::new(Sink {
        count: AtomicU64::new(0),
        base: Instant::now(),
        last_ns: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("--sink-port {port}: cannot listen"))?;
    let seen = Arc::clone(&sink);
    let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            let ns = u64::try_from(seen.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
            seen.last_ns.fetch_max(ns, Ordering::AcqRel);
            seen.count.fetch_add(1, Ordering::AcqRel);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(sink)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    pub url: String,
    pub concurrency: usize,
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
    /// Status code (0 = transport error) → count.
    pub statuses: BTreeMap<u16, usize>,
    /// How the requests ended → count.
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Push deliveries the sink received (warm-up excluded), when it ran.
    pub sink_delivered: Option<u64>,
    /// When the last of those arrived, from the start of the timed run.
    pub sink_last_after: Option<Duration>,
}

impl Report {
    /// 200s that acknowledged a queued job.
    pub fn queued(&self) -> usize {
        self.outcomes.get(&Outcome::Queued).copied().unwrap_or(0)
    }

    /// The share of requests that failed ([`Outcome::failed`]).
    pub fn failed_share(&self) -> f64 {
        let failed: usize = self
            .outcomes
            .iter()
            .filter(|(o, _)| o.failed())
            .map(|(_, n)| n)
            .sum();
        failed as f64 / self.latencies_us.len().max(1) as f64
    }

    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at percentile `p` (nearest rank), in milliseconds.
    pub fn latency_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} requests to {}, {} concurrent",
            self.latencies_us.len(),
            self.url,
            self.concurrency
        )?;
        writeln!(f, "  duration    {:.3} s", self.elapsed.as_secs_f64())?;
        writeln!(f, "  throughput  {:.0} requests/s", self.throughput())?;
        writeln!(
            f,
            "  latency     p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            self.latency_ms(50.0),
            self.latency_ms(90.0),
            self.latency_ms(99.0),
            self.latency_ms(100.0)
        )?;
        let histogram = self
            .statuses
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("transport error × {n}")
                } else {
                    format!("{s} × {n}")
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
        writeln!(f, "  statuses    {histogram}")?;
        let outcomes = self
            .outcomes
            .iter()
            .map(|(o, n)| format!("{} × {n}", o.label()))
            .collect::<Vec<_>>()
            .join(" · ");
        write!(f, "  outcomes    {outcomes}")?;
        if let Some(n) = self.sink_delivered {
            write!(
                f,
                "\n  sink        {n} push deliveries received (warm-up excluded)"
            )?;
            if let Some(last) = self.sink_last_after.filter(|_| n > 0) {
                write!(
                    f,
                    ", the last {:.3} s after the start: {:.0} jobs/s acknowledged and delivered",
                    last.as_secs_f64(),
                    n as f64 / last.as_secs_f64()
                )?;
            }
        }
        Ok(())
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    crate::say!("{report}");
    let failed = report.failed_share();
    if failed > args.max_failed {
        anyhow::bail!(
            "{:.1}% of the requests failed (more than --max-failed {:.1}%): see the outcomes above",
            failed * 100.0,
            args.max_failed * 100.0
        );
    }
    Ok(())
}

/// Signs, sends and measures.
pub async fn measure(args: &Args) -> anyhow::Result<Report> {
    check(args)?;
    let key = load_key(args)?;
    let sink = match args.sink_port {
        Some(port) => Some(start_sink(port).await?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .context("building the HTTP client")?;

    eprintln!(
        "signing {} interactions (+{} warm-up) for application {}…",
        args.requests, args.warmup, args.application_id
    );
    let warmup = prepare(
        &key,
        &args.application_id,
        args.kind,
        args.warmup,
        args.users,
    )?;
    let batch = prepare(
        &key,
        &args.application_id,
        args.kind,
        args.requests,
        args.users,
    )?;

    if !warmup.is_empty() {
        let w = run_batch(&http, &args.url, warmup, args.concurrency).await;
        if w.iter().all(|s| s.status == 0) {
            anyhow::bail!(
                "could not reach {} (every warm-up request failed)",
                args.url
            );
        }
    }
    // Let warm-up deliveries land before counting.
    if let Some(sink) = &sink {
        settle(sink).await;
    }
    let sink_before = sink.as_ref().map_or(0, |s| s.count());

    let started = Instant::now();
    let samples = run_batch(&http, &args.url, batch, args.concurrency).await;
    let elapsed = started.elapsed();

    let mut latencies_us: Vec<u32> = samples.iter().map(|s| s.latency_us).collect();
    latencies_us.sort_unstable();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_default() += 1;
    }
    let (sink_delivered, sink_last_after) = match &sink {
        Some(sink) => {
            let count = settle(sink).await;
            (
                Some(count - sink_before),
                Some(sink.last_at().saturating_duration_since(started)),
            )
        }
        None => (None, None),
    };
    Ok(Report {
        url: args.url.clone(),
        concurrency: args.concurrency,
        elapsed,
        latencies_us,
        statuses,
        outcomes: samples.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.outcome).or_default() += 1;
            m
        }),
        sink_delivered,
        sink_last_after,
    })
}

/// Waits until the sink's count has been still for a second (60 s at most).
async fn settle(sink: &Sink) -> u64 {
    let mut last = sink.count();
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && still_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sink.count();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: Args,
        }
        let mut all = vec!["t"];
        all.extend_from_slice(extra);
        <T as clap::Parser>::try_parse_from(all).unwrap().a
    }

    #[test]
    fn answers_are_read_as_their_users_would_read_them() {
        let s = mandala_model::i18n::strings(None);
        let reply = |text: &str, flags: u32| {
            serde_json::json!({"type": 4, "data": {"content": text, "flags": flags}}).to_string()
        };
        let of = |status: u16, body: &str| Outcome::of_answer(status, body.as_bytes());
        assert_eq!(
            of(200, &reply("🌀 Rendering mandala · seed 1", 0)),
            Outcome::Queued
        );
        assert_eq!(of(200, r#"{"type":1}"#), Outcome::Pong);
        assert_eq!(of(200, &reply(s.try_again, 64)), Outcome::TryAgain);
        let full = mandala_model::i18n::fill(s.queue_full, &[("n", "5")]);
        assert_eq!(of(200, &reply(&full, 64)), Outcome::RefusedAtCap);
        assert_eq!(of(200, &reply(s.queue_busy, 64)), Outcome::RefusedAtCap);
        let long = mandala_model::i18n::fill(s.too_long, &[("wait", "~20 min")]);
        assert_eq!(of(200, &reply(&long, 64)), Outcome::TooLong);
        assert_eq!(of(401, "invalid request signature"), Outcome::Rejected(401));
        assert!(Outcome::TryAgain.failed() && Outcome::TransportError.failed());
        assert!(!Outcome::RefusedAtCap.failed() && !Outcome::Queued.failed());
        assert!(share("1.5").is_err() && share("x").is_err());
        assert!((args(&["--max-failed", "0.25"]).max_failed - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(
            check(&args(&["--url", "localhost:8080"]))
                .unwrap_err()
                .0
                .contains("--url")
        );
        assert!(
            check(&args(&["--requests", "0"]))
                .unwrap_err()
                .0
                .contains("--requests")
        );
        assert!(
            check(&args(&["--concurrency", "0"]))
                .unwrap_err()
                .0
                .contains("--concurrency")
        );
        let e = load_key(&args(&["--key-seed", "abc"])).unwrap_err();
        assert!(
            e.is::<UsageError>() && e.to_string().contains("--key-seed"),
            "{e}"
        );
        let e = load_key(&args(&["--key-file", "/nonexistent/key.hex"])).unwrap_err();
        assert!(
            e.is::<UsageError>() && e.to_string().contains("--key-file"),
            "{e}"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert!((percentile(&v, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&v, 99.0) - 99.0).abs() < 1e-9);
        assert!((percentile(&v, 100.0) - 100.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn loads_a_real_ingress_and_its_jobs_reach_the_sink() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[5; 32]);
        let sink_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = <mandala_ingress::config::Config as clap::Parser>::try_parse_from([
            "mandala-ingress",
            "--discord-public-key",
            &hex::encode(key.verifying_key().to_bytes()),
            "--discord-application-id",
            DEV_APPLICATION_ID,
            "--local-push-url",
            &format!("http://127.0.0.1:{sink_port}/push"),
            "--local-spool-file",
            dir.path().join("pending.jsonl").to_str().unwrap(),
            "--local-dead-letter-file",
            dir.path().join("dead.jsonl").to_str().unwrap(),
        ])
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/interactions", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(mandala_ingress::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        let a = args(&[
            "--url",
            &url,
            "--key-seed",
            &hex::encode([5u8; 32]),
            "--requests",
            "50",
            "--concurrency",
            "4",
            "--warmup",
            "4",
            "--sink-port",
            &sink_port.to_string(),
        ]);
        let report = measure(&a).await.unwrap();
        assert_eq!(report.statuses, BTreeMap::from([(200, 50)]), "{report}");
        assert_eq!(report.queued(), 50, "{report}");
        assert!(report.failed_share() < f64::EPSILON, "{report}");
        assert_eq!(report.sink_delivered, Some(50), "{report}");
        assert!(report.throughput() > 0.0 && report.latency_ms(99.0) >= report.latency_ms(50.0));
        // Signed with a key the ingress does not know: every request is
        // rejected, and the command says so with its exit status.
        let wrong = args(&[
            "--url",
            &url,
            "--key-seed",
            &hex::encode([6u8; 32]),
            "--requests",
            "20",
            "--warmup",
            "0",
        ]);
        let e = run(wrong).await.unwrap_err();
        assert!(
            e.to_string().contains("100.0% of the requests failed"),
            "{e}"
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(!dir.path().join("dead.jsonl").exists());
        assert!(
            !dir.path().join("pending.jsonl").exists(),
            "every job reached the sink"
        );
    }
}
