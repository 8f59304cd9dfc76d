//! Worker throughput benchmark: jobs per second per core through the whole
//! push handler, per-stage times, and the worker's peak memory.
//!
//! It runs the real `mandala-worker` binary (built next to this example) as
//! a child process with a local store and an in-process Discord stand-in,
//! pushes distinct interaction jobs through `POST /pubsub/push` with a few
//! concurrent clients, then the same jobs again (every one a cache hit, as
//! on redelivery), and reads the stage totals from `/healthz` and the peak
//! resident set (`VmHWM`) from `/proc/<pid>/status`.
//!
//! ```sh
//! cargo build --release -p mandala-single -p mandala-worker --bin mandala-worker --example throughput
//! target/release/examples/throughput --jobs 40 --size 1024 --concurrency 2
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mandala_model::clock::now_ms;
use mandala_model::discord::snowflake;
use mandala_model::job::JobKind;
use mandala_model::{InteractionReply, Job, PushEnvelope, RenderSpec, Reply};
use mandala_standin::discord::DiscordStandin;

struct Args {
    jobs: usize,
    size: u32,
    concurrency: usize,
    clients: usize,
}

fn args() -> Args {
    let mut a = Args {
        jobs: 40,
        size: 1024,
        concurrency: 2,
        clients: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--jobs" => a.jobs = value.parse().expect("--jobs N"),
            "--size" => a.size = value.parse().expect("--size PIXELS"),
            "--concurrency" => a.concurrency = value.parse().expect("--concurrency N"),
            "--clients" => a.clients = value.parse().expect("--clients N"),
            other => panic!("unknown argument {other}; use --jobs --size --concurrency --clients"),
        }
    }
    if a.clients == 0 {
        a.clients = a.concurrency * 2;
    }
    a
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The worker's `/healthz` document (its counters and per-stage times).
async fn healthz(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn run_pass(
    http: &reqwest::Client,
    url: &str,
    bodies: &[Vec<u8>],
    clients: usize,
) -> Duration {
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = std::sync::Arc::new(bodies.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, next, bodies) =
            (http.clone(), url.to_owned(), next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return };
                let r = http
                    .post(format!("{url}/pubsub/push"))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let text = r.text().await.unwrap();
                assert!(
                    status.is_success() && text.starts_with("replied"),
                    "{status}: {text}"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let a = args();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("mandala-worker");
    assert!(
        binary.exists(),
        "build the worker first: {} is missing",
        binary.display()
    );

    // The stand-in, in this process. One interaction token for every job,
    // so it keeps a single message (the latest image) instead of all of them.
    let standin = DiscordStandin::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_base = format!("http://{}/api/v10", listener.local_addr().unwrap());
    let app = axum::Router::new().nest("/api/v10", standin.router());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = std::env::temp_dir().join(format!("mandala-bench-{}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&binary)
        .env("PORT", port.to_string())
        .env("LOCAL_STORE_DIR", &store)
        .env("PUSH_AUTH", "none")
        .env("DISCORD_API_BASE", &api_base)
        .env("RENDER_CONCURRENCY", a.concurrency.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{url}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let idle_kib = peak_rss_kib(child.id());

    let bodies: Vec<Vec<u8>> = (0..a.jobs)
        .map(|i| {
            let spec = RenderSpec {
                seed: Some(1000 + i as u64),
                size: Some(a.size),
                ..Default::default()
            };
            let reply = Reply::Interaction(InteractionReply {
                application_id: "1100000000000000001".into(),
                interaction_id: snowflake::from_timestamp_ms(now_ms(), i as u64).into(),
                token: "bench-token".into(),
            });
            let job = Job::new(spec, reply, JobKind::Command);
            serde_json::to_vec(&PushEnvelope::wrap(
                &job,
                format!("{i}"),
                "projects/p/subscriptions/s",
                "2026-11-24T10:00:00Z",
                BTreeMap::new(),
                None,
            ))
            .unwrap()
        })
        .collect();

    let cold = run_pass(&http, &url, &bodies, a.clients).await;
    let health = healthz(&http, &url).await;
    let warm = run_pass(&http, &url, &bodies, a.clients).await;
    let health_after = healthz(&http, &url).await;
    let peak_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&store);

    let s = &health["stats"]["stages"];
    let n = a.jobs as f64;
    let avg = |key: &str, count: &str| {
        s[key].as_f64().unwrap_or(0.0) / s[count].as_f64().unwrap_or(1.0).max(1.0) / 1000.0
    };
    let renders = health["stats"]["renders"].as_f64().unwrap_or(0.0).max(1.0);
    let per_render = |key: &str| s[key].as_f64().unwrap_or(0.0) / renders / 1000.0;
    println!(
        "worker throughput: {} jobs of {}², RENDER_CONCURRENCY={}, {} clients, {} cores",
        a.jobs, a.size, a.concurrency, a.clients, cores
    );
    println!(
        "  renders (cache misses): {:.2} jobs/s = {:.2} jobs/s/core  ({:.1} s)",
        n / cold.as_secs_f64(),
        n / cold.as_secs_f64() / cores as f64,
        cold.as_secs_f64()
    );
    println!(
        "  redeliveries (cache hits): {:.1} jobs/s = {:.1} jobs/s/core",
        n / warm.as_secs_f64(),
        n / warm.as_secs_f64() / cores as f64
    );
    println!(
        "  per job, misses (ms): decode {:.3} · queue {:.1} · render {:.1} · encode {:.1} · store {:.2} · reply {:.1}",
        avg("decode_us", "decoded"),
        per_render("queue_us"),
        per_render("render_us"),
        per_render("encode_us"),
        avg("store_us", "stored"),
        avg("reply_us", "replies"),
    );
    let s2 = &health_after["stats"]["stages"];
    let delta =
        |key: &str| (s2[key].as_f64().unwrap_or(0.0) - s[key].as_f64().unwrap_or(0.0)) / n / 1000.0;
    println!(
        "  per job, hits (ms): decode {:.3} · store (check + read) {:.2} · reply {:.1}",
        delta("decode_us"),
        delta("store_us"),
        delta("reply_us")
    );
    println!(
        "  worker peak RSS: {:.1} MiB (idle {:.1} MiB)",
        peak_kib as f64 / 1024.0,
        idle_kib as f64 / 1024.0
    );
    let edits = standin
        .message_for_token("bench-token")
        .map_or(0, |m| m.edits);
    assert_eq!(edits as usize, 2 * a.jobs, "every job edited the message");
}
