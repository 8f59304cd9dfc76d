//! How the queue ledger's costs grow with live users and ingress
//! instances, against the real Firestore emulator (docs/SCALE.md).
//!
//! For each number of live users it fills a fresh database with that many
//! users, one waiting job each (admitted through the ledger, as the
//! ingress does), then measures what every ingress instance pays at each
//! refresh (the totals' aggregation over every live record, and the
//! sweeper's query for due notices), and what one admission costs when
//! `--instances` ledgers admit new users at once.
//!
//! ```sh
//! cargo run --release -p mandala-ledger --example scale -- --users 100,1000,5000 --instances 4
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool

use std::sync::Arc;
use std::time::{Duration, Instant};

use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::{Admission, AdmitRequest, Backend, Ledger, Policy, WorkerStat};
use mandala_standin::emulators::firestore::FirestoreEmulator;

const LIFE_MS: u64 = 15 * 60 * 1000;
/// Admissions in flight while filling the database.
const FILL_CONCURRENCY: usize = 32;

fn policy() -> Policy {
    Policy {
        max_per_user: 5,
        max_wait: Duration::from_secs(14 * 60),
        refresh: Duration::from_secs(1),
        timeout: Duration::from_secs(30),
        stall_after: None,
    }
}

fn request(user: &str, now: u64) -> AdmitRequest {
    AdmitRequest {
        user: user.into(),
        job: format!("job-{user}").into(),
        cost: 1_000,
        expires_ms: now + LIFE_MS,
        label: "bench".into(),
        locale: String::new(),
        reply: None,
        now_ms: now,
    }
}

fn now_ms() -> u64 {
    mandala_model::clock::now_ms()
}

/// Admits `users` (named `{prefix}{i}`) through `ledgers` in turn,
/// `concurrency` at a time; the time each admission took.
async fn admit_all(ledgers: &[Ledger], prefix: &str, users: usize, concurrency: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(users);
    let mut next = 0;
    while next < users {
        let batch: Vec<_> = (next..users.min(next + concurrency))
            .map(|i| {
                let ledger = ledgers[i % ledgers.len()].clone();
                let user = format!("{prefix}{i}");
                tokio::spawn(async move {
                    let t = Instant::now();
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                    let a = ledger.admit(request(&user, now_ms()), deadline).await;
                    assert!(matches!(a, Admission::Accepted { .. }), "{a:?}");
                    t.elapsed().as_secs_f64() * 1000.0
                })
            })
            .collect();
        next += batch.len();
        for t in batch {
            times.push(t.await.unwrap());
        }
    }
    times
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Median ms of `n` runs of `f`.
async fn median_ms<F, Fut>(n: usize, f: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    percentile(v, 0.5)
}

async fn one_size(host: &str, live: usize, instances: usize) {
    let database = format!(
        "projects/scale-{live}-{}/databases/(default)",
        std::process::id()
    );
    let backend = || Arc::new(FirestoreBackend::connect(&database, Some(host)).unwrap());
    let ledgers: Vec<Ledger> = (0..instances)
        .map(|_| Ledger::new(backend(), policy()))
        .collect();
    let store = backend();
    ledgers[0]
        .report_worker(WorkerStat {
            id: "w".into(),
            slots: 1000,
            us_per_unit: 1.0,
            overhead_us: 0.0,
            lateness: 1.0,
            seen_ms: now_ms(),
        })
        .await
        .unwrap();
    let fill = Instant::now();
    admit_all(&ledgers, "live", live, FILL_CONCURRENCY).await;
    let fill_s = fill.elapsed().as_secs_f64();
    let totals = median_ms(5, || async {
        store.totals(now_ms()).await.map(drop).unwrap();
    })
    .await;
    let due = median_ms(5, || async {
        store.due_notices(now_ms(), 50).await.map(drop).unwrap();
    })
    .await;
    let admits = admit_all(&ledgers, "new", 200, 16).await;
    println!(
        "| {live} | {:.0} | {totals:.1} | {} | {due:.1} | {:.1} | {:.1} |",
        live as f64 / fill_s,
        live.div_ceil(1000),
        percentile(admits.clone(), 0.5),
        percentile(admits, 0.99),
    );
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = arg("--users", "100,1000,5000")
        .split(',')
        .map(|s| s.parse().expect("--users: numbers separated by commas"))
        .collect();
    let instances: usize = arg("--instances", "4")
        .parse()
        .expect("--instances: a number");
    let emulator = FirestoreEmulator::start().expect("the Firestore emulator");
    println!(
        "{instances} ledger instances; emulator at {}",
        emulator.host_port()
    );
    println!(
        "| live users | fill (admissions/s) | totals aggregation, median ms | billed reads per aggregation | due-notice query, median ms | admission p50 ms | admission p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for live in sizes {
        one_size(&emulator.host_port(), live, instances).await;
    }
}
