//! The ledger's rules, run against both backends: in memory, and in the real
//! Firestore emulator (skipped loudly where gcloud's emulator or Java is
//! missing). Two `Ledger` values over one store stand for two ingress
//! instances. Each rule takes a fresh store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::backend::memory::MemoryBackend;
use mandala_ledger::entry::{MIN_SLACK_MS, NOTICE_INTERVAL_MS};
use mandala_ledger::{
    Admission, AdmitRequest, Backend, Ledger, NoticeTarget, Policy, Start, WorkerStat,
};
use mandala_standin::emulators::firestore::FirestoreEmulator;

const T0: u64 = 1_800_000_000_000;
const LIFE: u64 = 15 * 60 * 1000;

fn policy() -> Policy {
    Policy {
        max_per_user: 5,
        max_wait: Duration::from_secs(14 * 60),
        // Always fresh, so each assertion sees the writes before it.
        refresh: Duration::ZERO,
        timeout: Duration::from_secs(10),
    }
}

fn request(user: &str, job: &str, cost: u64, now: u64) -> AdmitRequest {
    AdmitRequest {
        user: user.into(),
        job: job.into(),
        cost,
        expires_ms: now + LIFE,
        label: format!("job {job}"),
        locale: "pt-BR".into(),
        reply: Some(NoticeTarget {
            application_id: "1".into(),
            token: format!("token-{job}"),
        }),
        now_ms: now,
    }
}

fn accepted(a: Admission) -> (Duration, u64) {
    match a {
        Admission::Accepted { estimate, due_ms } => (estimate.wait, due_ms),
        other => panic!("not accepted: {other:?}"),
    }
}

fn unique_project() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "ledger-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Makes `n` ledgers over one fresh shared store.
type MakeLedgers = Box<dyn Fn(usize) -> Vec<Ledger>>;

fn memory() -> MakeLedgers {
    Box::new(|n| {
        let shared: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        (0..n)
            .map(|_| Ledger::new(Arc::clone(&shared), policy()))
            .collect()
    })
}

/// Ledgers over a fresh database (project) of the emulator at `host`.
fn firestore(host: String) -> MakeLedgers {
    Box::new(move |n| {
        let database = format!("projects/{}/databases/(default)", unique_project());
        (0..n)
            .map(|_| {
                let backend = match FirestoreBackend::connect(&database, Some(&host)) {
                    Ok(b) => b,
                    Err(e) => panic!("cannot reach the Firestore emulator: {e}"),
                };
                Ledger::new(Arc::new(backend), policy())
            })
            .collect()
    })
}

/// Every rule, against one backend.
async fn every_rule(name: &str, make: &MakeLedgers) {
    a_user_has_at_most_five_jobs_and_gets_room_back_when_one_ends(name, make).await;
    the_cap_holds_across_instances_admitting_at_once(name, make).await;
    estimates_grow_with_the_work_ahead_and_users_take_turns(name, make).await;
    a_wait_past_the_token_is_refused_before_it_is_recorded(name, make).await;
    start_marks_running_and_finds_cancelled_jobs(name, make).await;
    expired_jobs_stop_counting(name, make).await;
    overdue_jobs_are_claimed_once_and_hold_the_message_briefly(name, make).await;
}

#[tokio::test]
async fn every_rule_holds_in_memory() {
    every_rule("memory", &memory()).await;
}

/// One emulator for all the rules, dropped (and so stopped) at the end.
#[tokio::test]
async fn every_rule_holds_in_firestore() {
    let Some(emulator) =
        mandala_standin::suites::require("ledger-firestore", FirestoreEmulator::start())
    else {
        return;
    };
    every_rule("firestore", &firestore(emulator.host_port())).await;
}

async fn a_user_has_at_most_five_jobs_and_gets_room_back_when_one_ends(
    name: &str,
    make: &MakeLedgers,
) {
    {
        let ledger = &make(1)[0];
        for i in 0..5 {
            accepted(
                ledger
                    .admit(request("alice", &format!("a{i}"), 1_000, T0))
                    .await
                    .unwrap(),
            );
        }
        let full = ledger
            .admit(request("alice", "a5", 1_000, T0))
            .await
            .unwrap();
        assert_eq!(full, Admission::Full { queued: 5 }, "{name}");
        // Another user is not affected.
        accepted(ledger.admit(request("bob", "b0", 1_000, T0)).await.unwrap());
        ledger.finish("alice", "a2", T0 + 10).await.unwrap();
        accepted(
            ledger
                .admit(request("alice", "a5", 1_000, T0 + 20))
                .await
                .unwrap(),
        );
        // A repeated admission of a recorded job is the same job, not a new one.
        accepted(
            ledger
                .admit(request("alice", "a5", 1_000, T0 + 30))
                .await
                .unwrap(),
        );
        let full = ledger
            .admit(request("alice", "a6", 1_000, T0 + 40))
            .await
            .unwrap();
        assert_eq!(full, Admission::Full { queued: 5 }, "{name}");
    }
}

async fn the_cap_holds_across_instances_admitting_at_once(name: &str, make: &MakeLedgers) {
    {
        let ledgers = make(2);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let ledger = ledgers[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                ledger
                    .admit(request("carol", &format!("c{i}"), 1_000, T0))
                    .await
            }));
        }
        let mut admitted = 0;
        for t in tasks {
            if let Admission::Accepted { .. } = t.await.unwrap().unwrap() {
                admitted += 1;
            }
        }
        assert_eq!(
            admitted, 5,
            "{name}: both instances together admit exactly the cap"
        );
    }
}

async fn estimates_grow_with_the_work_ahead_and_users_take_turns(name: &str, make: &MakeLedgers) {
    {
        let ledger = &make(1)[0];
        ledger
            .report_worker(WorkerStat {
                id: "w1".into(),
                slots: 1,
                us_per_unit: 1.0,
                overhead_us: 0.0,
                lateness: 1.0,
                seen_ms: T0,
            })
            .await
            .unwrap();
        // One user's burst of five 2-second jobs: each later one waits longer.
        let mut last = Duration::ZERO;
        for i in 0..5 {
            let (wait, _) = accepted(
                ledger
                    .admit(request("burst", &format!("h{i}"), 2_000_000, T0))
                    .await
                    .unwrap(),
            );
            assert!(wait > last, "{name}: {wait:?} after {last:?}");
            last = wait;
        }
        assert!(last >= Duration::from_secs(10), "{name}: {last:?}");
        // A light user coming after it waits for one of theirs, not all five.
        let (light, _) = accepted(
            ledger
                .admit(request("light", "l0", 20_000, T0 + 300))
                .await
                .unwrap(),
        );
        assert!(light < Duration::from_secs(3), "{name}: {light:?}");
    }
}

async fn a_wait_past_the_token_is_refused_before_it_is_recorded(name: &str, make: &MakeLedgers) {
    {
        let ledger = &make(1)[0];
        ledger
            .report_worker(WorkerStat {
                id: "slow".into(),
                slots: 1,
                us_per_unit: 1_000.0,
                overhead_us: 0.0,
                lateness: 1.0,
                seen_ms: T0,
            })
            .await
            .unwrap();
        let a = ledger
            .admit(request("dave", "d0", 2_000_000, T0))
            .await
            .unwrap();
        assert!(matches!(a, Admission::TooLong { .. }), "{name}: {a:?}");
        assert_eq!(
            ledger.snapshot(T0 + 1).await.unwrap().totals.jobs,
            0,
            "{name}"
        );
    }
}

async fn start_marks_running_and_finds_cancelled_jobs(name: &str, make: &MakeLedgers) {
    {
        let ledger = &make(1)[0];
        accepted(
            ledger
                .admit(request("erin", "e0", 1_000, T0))
                .await
                .unwrap(),
        );
        assert!(
            matches!(
                ledger.start("erin", "e0", T0 + 5).await.unwrap(),
                Start::Running { .. }
            ),
            "{name}"
        );
        let totals = ledger.snapshot(T0 + 6).await.unwrap().totals;
        assert_eq!(
            (totals.jobs, totals.waiting_units, totals.running_units),
            (1, 0, 1_000),
            "{name}"
        );
        ledger.finish("erin", "e0", T0 + 7).await.unwrap();
        // Gone: a redelivery of it, or a job whose publish was cancelled.
        assert_eq!(
            ledger.start("erin", "e0", T0 + 8).await.unwrap(),
            Start::Missing,
            "{name}"
        );
        assert_eq!(
            ledger.snapshot(T0 + 9).await.unwrap().totals.jobs,
            0,
            "{name}"
        );
    }
}

async fn expired_jobs_stop_counting(name: &str, make: &MakeLedgers) {
    {
        let ledger = &make(1)[0];
        for i in 0..5 {
            accepted(
                ledger
                    .admit(request("frank", &format!("f{i}"), 1_000, T0))
                    .await
                    .unwrap(),
            );
        }
        let later = T0 + LIFE + 1;
        assert_eq!(
            ledger.snapshot(later).await.unwrap().totals.jobs,
            0,
            "{name}"
        );
        accepted(
            ledger
                .admit(request("frank", "f5", 1_000, later))
                .await
                .unwrap(),
        );
    }
}

async fn overdue_jobs_are_claimed_once_and_hold_the_message_briefly(
    name: &str,
    make: &MakeLedgers,
) {
    {
        let ledgers = make(2);
        let (_, due) = accepted(
            ledgers[0]
                .admit(request("gina", "g0", 1_000, T0))
                .await
                .unwrap(),
        );
        assert!(
            ledgers[0].claim_notices(due, 10).await.unwrap().is_empty(),
            "{name}: not yet"
        );
        let late = due + MIN_SLACK_MS;
        let first = ledgers[0].claim_notices(late, 10).await.unwrap();
        let second = ledgers[1].claim_notices(late, 10).await.unwrap();
        assert_eq!(
            first.len() + second.len(),
            1,
            "{name}: exactly one sweeper claims it"
        );
        let notice = first.into_iter().chain(second).next().unwrap();
        assert_eq!(
            (notice.job.as_str(), notice.target.token.as_str()),
            ("g0", "token-g0")
        );
        // The notice is worded in the user's language.
        let text = mandala_ledger::notice::notice_text(&notice);
        let pt = mandala_model::i18n::strings(Some("pt-BR"));
        assert!(text.starts_with("job g0\n"), "{text}");
        assert!(text.contains(pt.ready_in), "{name}: {text}");
        // The final edit must wait for the lease.
        let Start::Running { lease_until_ms } =
            ledgers[1].start("gina", "g0", late + 1).await.unwrap()
        else {
            panic!("{name}: not running");
        };
        assert!(lease_until_ms > late, "{name}");
        ledgers[0]
            .notice_sent("gina", "g0", late + 2)
            .await
            .unwrap();
        // Running jobs get no more notices.
        assert!(
            ledgers[0]
                .claim_notices(late + NOTICE_INTERVAL_MS * 10, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}
