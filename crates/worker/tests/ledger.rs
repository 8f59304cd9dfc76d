//! The worker keeping the shared queue ledger in the real Firestore
//! emulator: cancelled jobs are not rendered, ended jobs leave the ledger,
//! the worker's measured speed reaches it, and while busy the worker tells
//! users whose job waits much longer than promised. Skips loudly without
//! gcloud's Firestore emulator or Java.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::{Admission, AdmitRequest, Ledger, NoticeTarget, Policy};
use mandala_model::{Cost, Reply, Ticket};
use mandala_standin::emulators::firestore::FirestoreEmulator;

const USER: &str = "80351110224678912";

struct Setup {
    _emulator: FirestoreEmulator,
    ledger: Ledger,
    config: mandala_worker::Config,
}

fn setup(name: &str, dir: &std::path::Path, api_base: &str) -> Option<Setup> {
    let emulator = mandala_standin::suites::require(name, FirestoreEmulator::start())?;
    let database = format!("projects/{}/databases/(default)", name.replace(' ', "-"));
    let backend = FirestoreBackend::connect(&database, Some(&emulator.host_port())).unwrap();
    let ledger = Ledger::new(
        Arc::new(backend),
        Policy {
            max_per_user: 5,
            max_wait: Duration::from_secs(840),
            refresh: Duration::ZERO,
            timeout: Duration::from_secs(10),
            stall_after: None,
        },
    );
    let mut config = config(dir, api_base);
    config.render_concurrency = Some(1);
    config.firestore_database = Some(database);
    config.firestore_emulator_host = Some(emulator.host_port());
    // A loaded CI machine must not make the worker go on without the ledger.
    config.ledger_timeout_ms = 20_000;
    Some(Setup {
        _emulator: emulator,
        ledger,
        config,
    })
}

/// A job for `token`, admitted into the ledger `accepted_ago_ms` ago (or,
/// with `admit` false, carrying a ticket the ledger never recorded).
async fn ticketed(
    ledger: &Ledger,
    token: &str,
    accepted_ago_ms: u64,
    admit: bool,
) -> mandala_model::Job {
    let mut j = job(spec(9), interaction(token, 500));
    let Reply::Interaction(reply) = &j.reply else {
        unreachable!()
    };
    let job_id = reply.interaction_id.clone();
    let mut due_ms = now_ms();
    if admit {
        let a = ledger
            .admit(
                AdmitRequest {
                    user: USER.into(),
                    job: job_id.clone(),
                    cost: 1_000,
                    expires_ms: now_ms() + 10 * 60 * 1000,
                    label: format!("🌀 Rendering mandala for {token}"),
                    locale: String::new(),
                    reply: Some(NoticeTarget {
                        application_id: APP_ID.into(),
                        token: token.into(),
                    }),
                    now_ms: now_ms() - accepted_ago_ms,
                },
                tokio::time::Instant::now() + Duration::from_secs(10),
            )
            .await;
        let Admission::Accepted { due_ms: d, .. } = a else {
            panic!("{a:?}")
        };
        due_ms = d;
    }
    j.ticket = Some(Ticket {
        user: USER.into(),
        job: job_id,
        due_ms,
        cost: Cost(1_000),
        expires_ms: 0,
        recorded: mandala_model::Recorded::Yes,
    });
    j
}

#[tokio::test]
async fn a_cancelled_job_is_not_rendered_and_an_ended_one_leaves_the_ledger() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = setup("worker-ledger cancel", dir.path(), &d.api_base) else {
        return;
    };
    let w = start(s.config).await;

    let cancelled = ticketed(&s.ledger, "tok-cancelled", 0, false).await;
    let (status, body) = w.push(envelope(&cancelled, "1", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("cancelled"), "{body}");
    assert_eq!(w.worker.stats().renders, 0);
    assert!(
        d.standin.requests().is_empty(),
        "its user was already told to try again"
    );

    let admitted = ticketed(&s.ledger, "tok-admitted", 0, true).await;
    assert_eq!(s.ledger.snapshot(now_ms()).await.unwrap().totals.jobs, 1);
    let (status, body) = w.push(envelope(&admitted, "2", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    let snapshot = s.ledger.snapshot(now_ms()).await.unwrap();
    assert_eq!(snapshot.totals.jobs, 0, "the ended job left the ledger");
    // The render was measured and reported for the ingress's estimates.
    for _ in 0..50 {
        if !s
            .ledger
            .snapshot(now_ms())
            .await
            .unwrap()
            .workers
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workers = s.ledger.snapshot(now_ms()).await.unwrap().workers;
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].slots, 1, "RENDER_CONCURRENCY");
    assert!(workers[0].us_per_unit > 0.0);
}

#[tokio::test]
async fn a_busy_worker_tells_users_waiting_much_longer_than_promised() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = setup("worker-ledger notice", dir.path(), &d.api_base) else {
        return;
    };
    let w = start(s.config).await;
    // Waiting for a minute on a promise of about a second.
    let overdue = ticketed(&s.ledger, "tok-waiting", 60_000, true).await;
    drop(overdue);
    // Keep the worker busy with large renders that nobody waits for.
    let mut busy = Vec::new();
    for seed in 0..8 {
        let heavy = mandala_model::RenderSpec {
            seed: Some(100 + seed),
            size: Some(2048),
            layers: Some(12),
            elements: Some(32),
            ..Default::default()
        };
        let body = envelope(&job(heavy, Reply::None), &format!("busy-{seed}"), Some(1));
        let (http, url) = (w.http.clone(), w.url.clone());
        busy.push(tokio::spawn(async move {
            http.post(format!("{url}/pubsub/push"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut notice = None;
    for _ in 0..100 {
        notice = d.standin.message_for_token("tok-waiting");
        if notice.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for b in busy {
        assert_eq!(b.await.unwrap(), 200);
    }
    let notice = notice.expect("the waiting user was told while the worker was busy");
    let content = notice.payload.content.unwrap();
    assert!(
        content.starts_with("🌀 Rendering mandala for tok-waiting")
            && content.contains("Still in the queue")
            && content.contains("ready in ~"),
        "{content}"
    );
    assert_eq!(notice.edits, 1, "one notice, not one per sweep");
}
