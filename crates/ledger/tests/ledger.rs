//! The ledger's rules, run against both backends: in memory, and in the real
//! Firestore emulator (skipped loudly where gcloud's emulator or Java is
//! missing). Two `Ledger` values over one store stand for two ingress
//! instances. Each rule takes a fresh store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::backend::memory::MemoryBackend;
use mandala_ledger::entry::{MIN_SLACK_MS, NOTICE_INTERVAL_MS, NOTICE_LEASE_MS, OUT_OF_TIME_MS};
use mandala_ledger::{
    Admission, AdmitRequest, Backend, Due, Ledger, NoticeTarget, Policy, Start, WorkerStat,
};
use mandala_model::{Cost, Recorded, Ticket};
use mandala_standin::emulators::firestore::FirestoreEmulator;
use tokio::time::Instant;

const T0: u64 = 1_800_000_000_000;
const LIFE: u64 = 15 * 60 * 1000;

fn policy() -> Policy {
    Policy {
        max_per_user: 5,
        max_wait: Duration::from_secs(14 * 60),
        // Refreshed when a rule asks (`snapshot`), in the rules' own clock.
        refresh: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
        stall_after: None,
    }
}

/// A deadline no rule here comes near.
fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// What the job's message carries when `request` was accepted.
fn ticket(user: &str, job: &str, recorded: Recorded) -> Ticket {
    Ticket {
        user: user.into(),
        job: job.into(),
        due_ms: T0,
        cost: Cost(1_000),
        expires_ms: T0 + LIFE,
        recorded,
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
        Admission::Accepted {
            estimate: Some(estimate),
            due_ms,
        } => (estimate.wait, due_ms),
        other => panic!("not accepted with an estimate: {other:?}"),
    }
}

/// One ledger over a fresh store, its totals read once.
async fn one(make: &MakeLedgers) -> Ledger {
    let ledger = make(1).remove(0);
    ledger.snapshot(T0).await.unwrap();
    ledger
}

fn unique_project() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "ledger-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// One worker with one render slot, a microsecond per work unit.
async fn one_slot_worker(ledger: &Ledger) {
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
    users_arriving_together_are_promised_the_work_of_those_before_them(name, make).await;
    a_wait_past_the_token_is_refused_before_it_is_recorded(name, make).await;
    start_marks_running_and_finds_cancelled_jobs(name, make).await;
    expired_jobs_stop_counting(name, make).await;
    overdue_jobs_are_claimed_once_and_hold_the_message_briefly(name, make).await;
    a_job_near_its_token_death_ends_with_a_final_word_and_is_not_started(name, make).await;
    a_stalled_job_is_ended_by_the_watchdog(name, make).await;
    an_unconfirmed_entry_is_written_over_so_a_late_write_cannot_land(name, make).await;
    a_record_whose_entries_all_expired_is_cleaned_by_the_sweep(name, make).await;
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
    let ledger = &one(make).await;
    for i in 0..5 {
        accepted(
            ledger
                .admit(request("alice", &format!("a{i}"), 1_000, T0), later())
                .await,
        );
    }
    let full = ledger
        .admit(request("alice", "a5", 1_000, T0), later())
        .await;
    assert_eq!(full, Admission::Full { queued: 5 }, "{name}");
    // Another user is not affected.
    accepted(ledger.admit(request("bob", "b0", 1_000, T0), later()).await);
    ledger
        .end(&ticket("alice", "a2", Recorded::Yes), T0 + 10)
        .await
        .unwrap();
    accepted(
        ledger
            .admit(request("alice", "a5", 1_000, T0 + 20), later())
            .await,
    );
    // A repeated admission of a recorded job is the same job, not a new one.
    accepted(
        ledger
            .admit(request("alice", "a5", 1_000, T0 + 30), later())
            .await,
    );
    let full = ledger
        .admit(request("alice", "a6", 1_000, T0 + 40), later())
        .await;
    assert_eq!(full, Admission::Full { queued: 5 }, "{name}");
}

async fn the_cap_holds_across_instances_admitting_at_once(name: &str, make: &MakeLedgers) {
    let ledgers = make(2);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let ledger = ledgers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .admit(request("carol", &format!("c{i}"), 1_000, T0), later())
                .await
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Admission::Accepted { .. } => admitted += 1,
            Admission::Full { .. } => {}
            other => panic!("{name}: the ledger gave way under the burst: {other:?}"),
        }
    }
    assert_eq!(
        admitted, 5,
        "{name}: both instances together admit exactly the cap"
    );
}

async fn estimates_grow_with_the_work_ahead_and_users_take_turns(name: &str, make: &MakeLedgers) {
    let ledger = &one(make).await;
    one_slot_worker(ledger).await;
    // One user's burst of five 2-second jobs: each later one waits longer.
    let mut last = Duration::ZERO;
    for i in 0..5 {
        let (wait, _) = accepted(
            ledger
                .admit(request("burst", &format!("h{i}"), 2_000_000, T0), later())
                .await,
        );
        assert!(wait > last, "{name}: {wait:?} after {last:?}");
        last = wait;
    }
    assert!(last >= Duration::from_secs(10), "{name}: {last:?}");
    // A light user coming after it waits for one of theirs, not all five.
    let (light, _) = accepted(
        ledger
            .admit(request("light", "l0", 20_000, T0 + 300), later())
            .await,
    );
    assert!(light < Duration::from_secs(3), "{name}: {light:?}");
}

async fn users_arriving_together_are_promised_the_work_of_those_before_them(
    name: &str,
    make: &MakeLedgers,
) {
    let ledger = &one(make).await;
    one_slot_worker(ledger).await;
    // Sixteen users, one 1-second job each, all at once: every admission
    // is decided before the first write is answered (with a store a round
    // trip away), and each must still count the ones decided before it.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                ledger
                    .admit(
                        request(&format!("u{i}"), &format!("t{i}"), 1_000_000, T0),
                        later(),
                    )
                    .await
            })
        })
        .collect();
    let mut waits = Vec::new();
    for t in tasks {
        waits.push(accepted(t.await.unwrap()).0);
    }
    waits.sort();
    assert!(
        waits
            .windows(2)
            .all(|w| w[1] >= w[0] + Duration::from_millis(900)),
        "{name}: each later user waits for the jobs before theirs: {waits:?}"
    );
    assert!(waits[15] >= Duration::from_secs(15), "{name}: {waits:?}");
}

async fn a_wait_past_the_token_is_refused_before_it_is_recorded(name: &str, make: &MakeLedgers) {
    let ledger = &one(make).await;
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
        .admit(request("dave", "d0", 2_000_000, T0), later())
        .await;
    assert!(matches!(a, Admission::TooLong { .. }), "{name}: {a:?}");
    assert_eq!(
        ledger.snapshot(T0 + 60_001).await.unwrap().totals.jobs,
        0,
        "{name}"
    );
}

async fn start_marks_running_and_finds_cancelled_jobs(name: &str, make: &MakeLedgers) {
    let ledger = &one(make).await;
    accepted(
        ledger
            .admit(request("erin", "e0", 1_000, T0), later())
            .await,
    );
    let erin = ticket("erin", "e0", Recorded::Yes);
    assert!(
        matches!(
            ledger.start(&erin, T0 + 5).await.unwrap(),
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
    ledger.end(&erin, T0 + 7).await.unwrap();
    // Gone: a redelivery of it, or a job whose publish was cancelled.
    assert_eq!(
        ledger.start(&erin, T0 + 8).await.unwrap(),
        Start::Missing,
        "{name}"
    );
    assert_eq!(
        ledger.snapshot(T0 + 60_009).await.unwrap().totals.jobs,
        0,
        "{name}"
    );
}

async fn expired_jobs_stop_counting(name: &str, make: &MakeLedgers) {
    let ledger = &one(make).await;
    for i in 0..5 {
        accepted(
            ledger
                .admit(request("frank", &format!("f{i}"), 1_000, T0), later())
                .await,
        );
    }
    let after = T0 + LIFE + 1;
    assert_eq!(
        ledger.snapshot(after).await.unwrap().totals.jobs,
        0,
        "{name}"
    );
    accepted(
        ledger
            .admit(request("frank", "f5", 1_000, after), later())
            .await,
    );
}

async fn overdue_jobs_are_claimed_once_and_hold_the_message_briefly(
    name: &str,
    make: &MakeLedgers,
) {
    let ledgers = make(2);
    for l in &ledgers {
        l.snapshot(T0).await.unwrap();
    }
    let (_, due) = accepted(
        ledgers[0]
            .admit(request("gina", "g0", 1_000, T0), later())
            .await,
    );
    assert!(
        ledgers[0].claim("gina", due).await.unwrap().is_empty(),
        "{name}: not yet"
    );
    let late = due + MIN_SLACK_MS;
    let users = ledgers[0].due_users(late, 10).await.unwrap();
    assert_eq!(users, vec!["gina".to_owned()], "{name}");
    let first = ledgers[0].claim("gina", late).await.unwrap();
    let second = ledgers[1].claim("gina", late).await.unwrap();
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
    assert_eq!(notice.due, Due::Notice, "{name}");
    // The lease starts when it is claimed and outlasts the send.
    assert_eq!(notice.lease_until_ms, late + NOTICE_LEASE_MS, "{name}");
    // The notice is worded in the user's language.
    let text = mandala_ledger::notice::claimed_text(&notice);
    let pt = mandala_model::i18n::strings(Some("pt-BR"));
    assert!(text.starts_with("job g0\n"), "{text}");
    assert!(text.contains(pt.ready_in), "{name}: {text}");
    // The final edit must wait for the lease.
    let Start::Running { lease_until_ms } = ledgers[1]
        .start(&ticket("gina", "g0", Recorded::Yes), late + 1)
        .await
        .unwrap()
    else {
        panic!("{name}: not running");
    };
    assert_eq!(lease_until_ms, notice.lease_until_ms, "{name}");
    ledgers[0]
        .notice_sent("gina", "g0", late + 2)
        .await
        .unwrap();
    // Running jobs get no more notices.
    assert!(
        ledgers[0]
            .claim("gina", late + NOTICE_INTERVAL_MS * 10)
            .await
            .unwrap()
            .is_empty(),
        "{name}"
    );
}

async fn a_job_near_its_token_death_ends_with_a_final_word_and_is_not_started(
    name: &str,
    make: &MakeLedgers,
) {
    let ledger = &one(make).await;
    accepted(
        ledger
            .admit(request("hana", "h0", 1_000, T0), later())
            .await,
    );
    let last_call = T0 + LIFE - OUT_OF_TIME_MS;
    // Overdue notices came and went; a minute before the token dies, the end.
    let claimed = ledger.claim("hana", last_call).await.unwrap();
    assert_eq!(claimed.len(), 1, "{name}");
    assert_eq!(claimed[0].due, Due::OutOfTime, "{name}");
    let text = mandala_ledger::notice::claimed_text(&claimed[0]);
    let pt = mandala_model::i18n::strings(Some("pt-BR"));
    assert_eq!(text, pt.last_out_of_time, "{name}");
    // A worker that gets the job now must not render it.
    assert_eq!(
        ledger
            .start(&ticket("hana", "h0", Recorded::Yes), last_call + 1)
            .await
            .unwrap(),
        Start::Missing,
        "{name}"
    );
    // And it no longer counts against its user.
    assert_eq!(
        ledger
            .snapshot(last_call + 60_001)
            .await
            .unwrap()
            .totals
            .jobs,
        0,
        "{name}"
    );
}

async fn a_stalled_job_is_ended_by_the_watchdog(name: &str, make: &MakeLedgers) {
    let stall = Duration::from_secs(120);
    let ledger = make(1).remove(0);
    let watched = Ledger::new(
        ledger_backend(&ledger),
        Policy {
            stall_after: Some(stall),
            ..policy()
        },
    );
    watched.snapshot(T0).await.unwrap();
    accepted(
        watched
            .admit(request("ivan", "i0", 1_000, T0), later())
            .await,
    );
    let ivan = ticket("ivan", "i0", Recorded::Yes);
    watched.start(&ivan, T0 + 10).await.unwrap();
    let stalled = T0 + 10 + stall.as_millis() as u64;
    assert!(watched.claim("ivan", stalled - 1).await.unwrap().is_empty());
    // A redelivery is progress: the watch starts again.
    watched.start(&ivan, T0 + 20).await.unwrap();
    assert!(watched.claim("ivan", stalled).await.unwrap().is_empty());
    let claimed = watched.claim("ivan", stalled + 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{name}");
    assert_eq!(claimed[0].due, Due::Stalled, "{name}");
    assert_eq!(
        watched.start(&ivan, stalled + 11).await.unwrap(),
        Start::Missing,
        "{name}"
    );
}

async fn an_unconfirmed_entry_is_written_over_so_a_late_write_cannot_land(
    name: &str,
    make: &MakeLedgers,
) {
    let ledger = &one(make).await;
    let backend = ledger_backend(ledger);
    let unknown = ticket("jo", "j0", Recorded::Unknown);
    // The admission's write was sent and not answered; the worker starts
    // the job anyway: it gets an entry, running.
    let before = backend.read("jo").await.unwrap();
    assert!(matches!(
        ledger.start(&unknown, T0 + 5).await.unwrap(),
        Start::Running { .. }
    ));
    // The admission's write lands now: its precondition fails.
    let mut late = before.queue.clone();
    late.jobs.insert(
        "j0".into(),
        mandala_ledger::Entry::waiting(1_000, T0, T0, T0 + LIFE),
    );
    assert!(
        !backend
            .write("jo", &late, &before.version, T0 + 6)
            .await
            .unwrap(),
        "{name}: a late admission write landed over a started job"
    );
    // The job ends: the entry stays ended until the token dies, so a late
    // write still cannot land, and nothing counts against the user.
    let before = backend.read("jo").await.unwrap();
    ledger.end(&unknown, T0 + 7).await.unwrap();
    assert!(
        !backend
            .write("jo", &late, &before.version, T0 + 8)
            .await
            .unwrap(),
        "{name}"
    );
    let record = backend.read("jo").await.unwrap().queue;
    assert_eq!(record.sums(T0 + 8).jobs, 0, "{name}");
    // Ended without ever starting (a cancel after a publish failure), with
    // no entry written: the record changes all the same.
    let other = ticket("jo", "j1", Recorded::Unknown);
    let before = backend.read("jo").await.unwrap();
    ledger.end(&other, T0 + 9).await.unwrap();
    assert_ne!(
        backend.read("jo").await.unwrap().version,
        before.version,
        "{name}"
    );
    assert_eq!(
        ledger.start(&other, T0 + 10).await.unwrap(),
        Start::Missing,
        "{name}: an ended job started again"
    );
}

async fn a_record_whose_entries_all_expired_is_cleaned_by_the_sweep(
    name: &str,
    make: &MakeLedgers,
) {
    let ledger = &one(make).await;
    let backend = ledger_backend(ledger);
    accepted(ledger.admit(request("kai", "k0", 1_000, T0), later()).await);
    let after = T0 + LIFE + 1;
    // Nobody ended it and no sweeper ran before its token died.
    assert!(ledger.claim("kai", after).await.unwrap().is_empty());
    assert!(
        backend.read("kai").await.unwrap().queue.jobs.is_empty(),
        "{name}: the dead record was left for every later sweep to find"
    );
    assert!(
        ledger.due_users(after, 10).await.unwrap().is_empty(),
        "{name}"
    );
    // A dead record nobody swept while it could be found stays out of the
    // sweeper's way: it is not among the records a sweep looks at.
    accepted(ledger.admit(request("lee", "l0", 1_000, T0), later()).await);
    let dead = T0 + mandala_ledger::backend::DEAD_AFTER_MS + 60_000;
    assert_eq!(
        ledger.due_users(T0 + LIFE - 1, 10).await.unwrap(),
        vec!["lee".to_owned()],
        "{name}: a live record is found"
    );
    assert!(
        ledger.due_users(dead, 10).await.unwrap().is_empty(),
        "{name}: a record dead for sure crowds the live ones"
    );
    assert!(!backend.read("lee").await.unwrap().queue.jobs.is_empty());
}

/// The store a ledger works on.
fn ledger_backend(ledger: &Ledger) -> Arc<dyn Backend> {
    ledger.backend()
}
