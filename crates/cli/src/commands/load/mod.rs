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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ed25519_dalek::SigningKey;

use crate::UsageError;
use crate::dev::{DEV_APPLICATION_ID, keys};

pub use outcome::{Kind, Outcome};
pub use report::Report;
use send::{prepare, run_batch};
use sink::{Sink, settle, start_sink};

mod outcome;
mod report;
mod send;
mod sink;

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
    let signed = |n| prepare(&key, &args.application_id, args.kind, n, args.users);
    let warmup = signed(args.warmup)?;
    let batch = signed(args.requests)?;

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
    let mut report = Report::of(args.url.clone(), args.concurrency, elapsed, &samples);
    if let Some(sink) = &sink {
        (report.sink_delivered, report.sink_last_after) =
            sink_seen(sink, sink_before, started).await;
    }
    Ok(report)
}

/// What the sink received of the timed run, once it has settled: how
/// many deliveries, and when the last arrived after `started`.
async fn sink_seen(sink: &Sink, before: u64, started: Instant) -> (Option<u64>, Option<Duration>) {
    let count = settle(sink).await;
    (
        Some(count - before),
        Some(sink.last_at().saturating_duration_since(started)),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::report::percentile;
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
