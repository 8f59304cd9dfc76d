//! The ledger when its store misbehaves: every admission is decided by its
//! deadline, a user's burst cannot contend its way past the cap, a store
//! that keeps failing stops being called, and a write whose answer never
//! came is reported as one that may still land.
//!
//! Time is tokio's paused clock: a store that never answers costs no real
//! time, and the durations asserted are the ledger's own decisions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _};
use mandala_ledger::backend::memory::MemoryBackend;
use mandala_ledger::backend::{Version, Versioned};
use mandala_ledger::breaker::OPEN_FOR;
use mandala_ledger::{
    Admission, AdmitRequest, Backend, Ledger, LedgerError, Policy, Totals, UserQueue, WorkerStat,
    Written,
};
use tokio::time::Instant;

const T0: u64 = 1_800_000_000_000;
const TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy,
    /// Accepts the call and never answers.
    Hang,
    /// Reads answer; writes never do.
    HangWrites,
    /// Records answer; the totals never do.
    HangTotals,
    /// Answers every call with an error at once.
    Fail,
    /// Answers every call, this long after it was made.
    Slow(Duration),
}

/// The in-memory store behind a switch.
#[derive(Debug)]
struct Sick {
    inner: MemoryBackend,
    mode: Mutex<Mode>,
    calls: AtomicU32,
}

impl Sick {
    fn new(mode: Mode) -> Arc<Sick> {
        Arc::new(Sick {
            inner: MemoryBackend::new(),
            mode: Mutex::new(mode),
            calls: AtomicU32::new(0),
        })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn gate<'a, T: Send + 'a>(
        &'a self,
        write: bool,
        healthy: BoxFuture<'a, Result<T, LedgerError>>,
    ) -> BoxFuture<'a, Result<T, LedgerError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Hang => futures::future::pending().boxed(),
            Mode::HangWrites if write => futures::future::pending().boxed(),
            Mode::Fail => futures::future::ready(Err(LedgerError::Unavailable {
                backend: "sick",
                message: "503 UNAVAILABLE".into(),
            }))
            .boxed(),
            Mode::Slow(d) => async move {
                tokio::time::sleep(d).await;
                healthy.await
            }
            .boxed(),
            Mode::Healthy | Mode::HangWrites | Mode::HangTotals => healthy,
        }
    }
}

impl Backend for Sick {
    fn name(&self) -> &'static str {
        "sick"
    }

    fn read<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Versioned, LedgerError>> {
        self.gate(false, self.inner.read(user))
    }

    fn write<'a>(
        &'a self,
        user: &'a str,
        queue: &'a UserQueue,
        expected: &'a Version,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        self.gate(true, self.inner.write(user, queue, expected, now_ms))
    }

    fn totals(&self, now_ms: u64) -> BoxFuture<'_, Result<Totals, LedgerError>> {
        if *self.mode.lock().unwrap() == Mode::HangTotals {
            return futures::future::pending().boxed();
        }
        self.gate(false, self.inner.totals(now_ms))
    }

    fn workers(&self, since_ms: u64) -> BoxFuture<'_, Result<Vec<WorkerStat>, LedgerError>> {
        self.gate(false, self.inner.workers(since_ms))
    }

    fn put_worker<'a>(&'a self, stat: &'a WorkerStat) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.gate(true, self.inner.put_worker(stat))
    }

    fn due_notices(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<String>, LedgerError>> {
        self.gate(false, self.inner.due_notices(now_ms, limit))
    }
}

fn ledger(store: &Arc<Sick>) -> Ledger {
    Ledger::new(
        Arc::clone(store) as Arc<dyn Backend>,
        Policy {
            max_per_user: 5,
            max_wait: Duration::from_secs(14 * 60),
            refresh: Duration::from_secs(1),
            timeout: TIMEOUT,
            stall_after: None,
        },
    )
}

fn request(user: &str, job: u32) -> AdmitRequest {
    AdmitRequest {
        user: user.into(),
        job: format!("{user}-{job}").into(),
        cost: 1_000,
        expires_ms: T0 + 900_000,
        label: String::new(),
        locale: String::new(),
        reply: None,
        now_ms: T0,
    }
}

/// Sends `n` admissions of one user at once; their outcomes in order.
async fn burst(ledger: &Ledger, user: &str, n: u32, deadline: Instant) -> Vec<Admission> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let ledger = ledger.clone();
            let request = request(user, i);
            tokio::spawn(async move { ledger.admit(request, deadline).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(outcomes: &[Admission], f: impl Fn(&Admission) -> bool) -> usize {
    outcomes.iter().filter(|a| f(a)).count()
}

#[tokio::test(start_paused = true)]
async fn a_hanging_store_costs_an_admission_its_timeout_and_no_more() {
    let store = Sick::new(Mode::Hang);
    let ledger = ledger(&store);
    let started = Instant::now();
    let a = ledger
        .admit(request("u", 0), started + Duration::from_secs(2))
        .await;
    assert!(
        matches!(
            a,
            Admission::Unchecked {
                written: Written::No,
                ..
            }
        ),
        "{a:?}"
    );
    assert_eq!(started.elapsed(), TIMEOUT);
    // A nearer deadline is kept too.
    let started = Instant::now();
    let a = ledger
        .admit(request("v", 0), started + Duration::from_millis(300))
        .await;
    assert!(matches!(a, Admission::Unchecked { .. }), "{a:?}");
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_one_user_against_a_hanging_store_gets_the_cap_and_no_more() {
    let store = Sick::new(Mode::Hang);
    let ledger = ledger(&store);
    let started = Instant::now();
    let outcomes = burst(&ledger, "burst", 16, started + Duration::from_secs(2)).await;
    // The first waits for the store until its timeout and goes through
    // unchecked; the rest, whose turns did not come in that time, are
    // refused rather than let past the cap.
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Unchecked { .. })),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Busy)),
        15,
        "{outcomes:?}"
    );
    // All decided within one timeout, not one timeout after another.
    assert_eq!(started.elapsed(), TIMEOUT);
    // The store keeps hanging: after three timeouts in a row nobody waits
    // for it, and a burst gets the cap's number unchecked, then refusals.
    for i in 0..2 {
        let a = ledger
            .admit(
                request(&format!("probe{i}"), 0),
                Instant::now() + Duration::from_secs(2),
            )
            .await;
        assert!(matches!(a, Admission::Unchecked { .. }), "{a:?}");
    }
    let started = Instant::now();
    let outcomes = burst(&ledger, "burst", 16, started + Duration::from_secs(2)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Unchecked { .. })),
        4,
        "one went through before: {outcomes:?}"
    );
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Full { queued: 5 })),
        12,
        "{outcomes:?}"
    );
    // Another instance has its own allowance (the cap is per instance
    // while the ledger is out), and another user is not affected.
    let other = self::ledger(&store);
    for i in 0..3 {
        other
            .admit(
                request(&format!("probe{i}"), 1),
                Instant::now() + Duration::from_secs(2),
            )
            .await;
    }
    let outcomes = burst(&other, "burst", 8, Instant::now() + Duration::from_secs(2)).await;
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Unchecked { .. })),
        5,
        "{outcomes:?}"
    );
    let a = ledger
        .admit(
            request("someone", 0),
            Instant::now() + Duration::from_secs(2),
        )
        .await;
    assert!(matches!(a, Admission::Unchecked { .. }), "{a:?}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_one_user_against_a_healthy_store_is_capped_by_the_record() {
    let store = Sick::new(Mode::Healthy);
    let ledgers = [ledger(&store), ledger(&store)];
    let deadline = Instant::now() + Duration::from_secs(2);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let ledger = ledgers[i % 2].clone();
            tokio::spawn(async move { ledger.admit(request("burst", i as u32), deadline).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Accepted { .. })),
        5,
        "{outcomes:?}"
    );
    assert_eq!(
        count(&outcomes, |a| matches!(a, Admission::Full { .. })),
        11,
        "{outcomes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_over_two_instances_on_a_slow_store_gets_the_cap_at_most() {
    for slow_ms in [50, 130, 210, 390] {
        let store = Sick::new(Mode::Slow(Duration::from_millis(slow_ms)));
        let ledgers = [ledger(&store), ledger(&store)];
        let deadline = Instant::now() + Duration::from_millis(1_500);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let ledger = ledgers[i % 2].clone();
                tokio::spawn(
                    async move { ledger.admit(request("burst", i as u32), deadline).await },
                )
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let through = count(&outcomes, |a| {
            matches!(a, Admission::Accepted { .. } | Admission::Unchecked { .. })
        });
        assert!(
            (1..=5).contains(&through),
            "{slow_ms} ms per call: {through} let through: {outcomes:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_is_left_alone_for_a_while_then_tried_again() {
    let store = Sick::new(Mode::Fail);
    let ledger = ledger(&store);
    let deadline = || Instant::now() + Duration::from_secs(2);
    for i in 0..3 {
        let a = ledger.admit(request(&format!("u{i}"), 0), deadline()).await;
        assert!(matches!(a, Admission::Unchecked { .. }), "{a:?}");
    }
    // Failures within a moment of each other leave it closed...
    assert!(store.calls() >= 3);
    let a = ledger.admit(request("still", 0), deadline()).await;
    let Admission::Unchecked { error, .. } = a else {
        panic!("{a:?}")
    };
    assert!(
        matches!(error, LedgerError::Unavailable { .. }),
        "{error:?}"
    );
    // ...and failures that keep coming a moment later open it.
    tokio::time::advance(mandala_ledger::breaker::MIN_STREAK).await;
    let a = ledger.admit(request("later", 0), deadline()).await;
    assert!(matches!(a, Admission::Unchecked { .. }), "{a:?}");
    let calls = store.calls();
    // Open: admissions go on without calling the store at all.
    for i in 3..10 {
        let started = Instant::now();
        let a = ledger.admit(request(&format!("u{i}"), 0), deadline()).await;
        let Admission::Unchecked { error, .. } = a else {
            panic!("{a:?}")
        };
        assert!(matches!(error, LedgerError::Paused { .. }), "{error:?}");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
    assert_eq!(
        store.calls(),
        calls,
        "the open breaker still called the store"
    );
    // After the pause one call goes through; the store is back.
    store.set(Mode::Healthy);
    tokio::time::advance(OPEN_FOR).await;
    let a = ledger.admit(request("back", 0), deadline()).await;
    assert!(matches!(a, Admission::Accepted { .. }), "{a:?}");
    assert!(store.calls() > calls);
}

#[tokio::test(start_paused = true)]
async fn a_write_that_never_answered_is_reported_as_maybe_written() {
    let store = Sick::new(Mode::HangWrites);
    let ledger = ledger(&store);
    let a = ledger
        .admit(request("u", 0), Instant::now() + Duration::from_secs(2))
        .await;
    assert!(
        matches!(
            a,
            Admission::Unchecked {
                written: Written::Maybe,
                ..
            }
        ),
        "{a:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn totals_are_never_awaited_by_an_admission() {
    let store = Sick::new(Mode::HangTotals);
    let ledger = ledger(&store);
    // The totals never come: admissions are recorded at once, promising
    // from an empty queue (a cold start's assumption).
    for i in 0..3 {
        let started = Instant::now();
        let a = ledger
            .admit(request("u", i), Instant::now() + Duration::from_secs(2))
            .await;
        assert!(
            matches!(
                a,
                Admission::Accepted {
                    estimate: Some(_),
                    ..
                }
            ),
            "{a:?}"
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
    // Totals that were read once but have not been refreshed for a long
    // while promise nothing.
    store.set(Mode::Healthy);
    ledger.snapshot(T0).await.unwrap();
    let mut stale = request("u", 9);
    stale.now_ms = T0 + 120_000;
    let a = ledger
        .admit(stale, Instant::now() + Duration::from_secs(2))
        .await;
    assert!(
        matches!(a, Admission::Accepted { estimate: None, .. }),
        "{a:?}"
    );
}
