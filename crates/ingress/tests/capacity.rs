//! At capacity, in the local default (the ingress's local push delivery
//! keeps the queue ledger in memory): the answer says when to expect the
//! image, one user cannot crowd out the others, a wait past the token's
//! life is refused at once, a job waiting much longer than promised gets a
//! notice, and a job that exhausted its attempts reaches the worker's
//! dead-letter route. Against a scripted worker on a real listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use mandala_ingress::Ingress;
use mandala_model::{ButtonAction, ButtonState, PushEnvelope, RenderSpec};
use mandala_standin::discord::DiscordStandin;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// A worker that holds every push until the test lets it go, then answers
/// with `status` and its speed report (`slots`, µs per work unit).
#[derive(Clone)]
struct Worker {
    url: String,
    got: Arc<Mutex<Vec<PushEnvelope>>>,
    dead: Arc<Mutex<Vec<PushEnvelope>>>,
    gate: Arc<Semaphore>,
}

#[derive(Clone)]
struct WorkerState {
    got: Arc<Mutex<Vec<PushEnvelope>>>,
    dead: Arc<Mutex<Vec<PushEnvelope>>>,
    gate: Arc<Semaphore>,
    status: u16,
    report: HeaderMap,
}

async fn push(State(s): State<WorkerState>, body: axum::body::Bytes) -> (StatusCode, HeaderMap) {
    s.got
        .lock()
        .unwrap()
        .push(PushEnvelope::from_slice(&body).unwrap());
    s.gate.acquire().await.unwrap().forget();
    (StatusCode::from_u16(s.status).unwrap(), s.report.clone())
}

async fn dead_letter(State(s): State<WorkerState>, body: axum::body::Bytes) -> StatusCode {
    s.dead
        .lock()
        .unwrap()
        .push(PushEnvelope::from_slice(&body).unwrap());
    StatusCode::OK
}

impl Worker {
    async fn start(slots: u32, us_per_unit: f64, status: u16) -> Worker {
        let mut report = HeaderMap::new();
        for (k, v) in (mandala_ledger::WorkerStat {
            id: "test-worker".into(),
            slots,
            us_per_unit,
            overhead_us: 1_000.0,
            lateness: 1.0,
            seen_ms: 0,
        })
        .to_headers()
        {
            report.insert(k, v);
        }
        let state = WorkerState {
            got: Arc::default(),
            dead: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            status,
            report,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let worker = Worker {
            url: format!("http://{addr}/pubsub/push"),
            got: Arc::clone(&state.got),
            dead: Arc::clone(&state.dead),
            gate: Arc::clone(&state.gate),
        };
        let app = axum::Router::new()
            .route("/pubsub/push", post(push))
            .route("/pubsub/dead-letter", post(dead_letter))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        worker
    }

    fn users_received(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.decode_job().unwrap().user().unwrap().to_owned())
            .collect()
    }

    async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.got.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "expected {n} pushes");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

struct Bot {
    ingress: Ingress,
    key: ed25519_dalek::SigningKey,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start(
        worker: &Worker,
        tweak: impl FnOnce(&mut mandala_ingress::config::Config),
    ) -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let key = key(7);
        let mut c = config(&key, &worker.url, dir.path());
        c.local_push_min_backoff_ms = 10;
        c.local_push_max_backoff_ms = 50;
        tweak(&mut c);
        Bot {
            ingress: Ingress::start(c).await.unwrap(),
            key,
            _dir: dir,
        }
    }

    async fn send(&self, body: &Value) -> Value {
        answer(&self.ingress, &self.key, body).await
    }

    async fn command(&self, user: &str, options: Value) -> Value {
        self.send(&command_from(&snowflake(), user, options)).await
    }
}

/// The answer's text, and whether only its user sees it.
fn said(answer: &Value) -> (String, bool) {
    let flags = answer["data"]["flags"].as_u64().unwrap_or(0);
    (
        answer["data"]["content"].as_str().unwrap().to_owned(),
        flags & 64 != 0,
    )
}

fn heavy() -> Value {
    json!([{"name": "size", "type": 4, "value": 2048}, {"name": "layers", "type": 4, "value": 12}, {"name": "elements", "type": 4, "value": 32}])
}

#[tokio::test]
async fn a_user_with_five_queued_jobs_is_told_privately_and_others_are_not() {
    let worker = Worker::start(1, 1.0, 204).await;
    let bot = Bot::start(&worker, |_| {}).await;
    for _ in 0..5 {
        let (text, private) = said(&bot.command("ann", json!([])).await);
        assert!(!private && text.contains("⏱️ ready in ~"), "{text}");
    }
    let (text, private) = said(&bot.command("ann", json!([])).await);
    assert!(private, "{text}");
    assert!(
        text.contains("You already have 5 mandalas in the queue"),
        "{text}"
    );
    // Buttons count too.
    let custom_id = ButtonState {
        action: ButtonAction::Reroll,
        spec: RenderSpec {
            seed: Some(1),
            ..Default::default()
        },
    }
    .encode()
    .unwrap();
    let mut click_body = click(&snowflake(), &custom_id);
    click_body["user"]["id"] = json!("ann");
    let (text, private) = said(&bot.send(&click_body).await);
    assert!(private && text.contains("5 mandalas"), "{text}");
    // Someone else is not limited by Ann's queue.
    let (text, private) = said(&bot.command("bob", json!([])).await);
    assert!(!private, "{text}");
    // Once Ann's jobs are done she has room again.
    worker.release(100);
    worker.wait_for(6).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (text, private) = said(&bot.command("ann", json!([])).await);
        if !private {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_users_jobs_go_out_one_at_a_time_while_others_go_beside_them() {
    let worker = Worker::start(8, 1.0, 204).await;
    let bot = Bot::start(&worker, |_| {}).await;
    for _ in 0..3 {
        bot.command("ann", json!([])).await;
    }
    bot.command("bob", json!([])).await;
    bot.command("cyd", json!([])).await;
    worker.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut first = worker.users_received();
    first.sort();
    assert_eq!(
        first,
        ["ann", "bob", "cyd"],
        "one of Ann's, and the others' beside it"
    );
    worker.release(100);
    worker.wait_for(5).await;
    assert_eq!(
        worker
            .users_received()
            .iter()
            .filter(|u| *u == "ann")
            .count(),
        3
    );
}

#[tokio::test]
async fn estimates_grow_with_the_work_ahead() {
    // One render slot, 20 µs per work unit: a heavy job takes seconds.
    let worker = Worker::start(1, 20.0, 204).await;
    let bot = Bot::start(&worker, |_| {}).await;
    // A first job, answered, so the ingress learns the worker's speed.
    bot.command("warm", json!([])).await;
    worker.release(1);
    worker.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waits = Vec::new();
    for user in ["u1", "u2", "u3", "u4"] {
        let (text, _) = said(&bot.command(user, heavy()).await);
        waits.push(mandala_model::wait::parse_approx(&text).unwrap());
    }
    assert!(
        waits.windows(2).all(|w| w[1] > w[0]),
        "each later job has more work ahead of it: {waits:?}"
    );
    // Equal jobs add equal work: each step is a heavy job's time, within
    // the rounding of the words. Compared by steps, not by ratio to the
    // first, because the first may still count the warm-up job's end if
    // the ledger has not heard of it yet (a busy machine).
    let steps: Vec<Duration> = waits
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    let (least, most) = (steps.iter().min().unwrap(), steps.iter().max().unwrap());
    assert!(
        waits[0] >= Duration::from_secs(1)
            && *least >= Duration::from_secs(1)
            && *most <= *least * 2,
        "four heavy jobs on one slot: {waits:?}"
    );
    worker.release(100);
}

#[tokio::test]
async fn a_wait_past_the_token_is_refused_at_once() {
    // A worker so slow that a heavy job would take hours.
    let worker = Worker::start(1, 100_000.0, 204).await;
    let bot = Bot::start(&worker, |_| {}).await;
    bot.command("warm", json!([])).await;
    worker.release(1);
    worker.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (text, private) = said(&bot.command("ann", heavy()).await);
    assert!(private, "{text}");
    assert!(
        text.contains("too long") && text.contains("15 min"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(worker.got.lock().unwrap().len(), 1, "nothing was queued");
}

#[tokio::test]
async fn a_job_waiting_much_longer_than_promised_gets_a_new_estimate() {
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();
    let worker = Worker::start(1, 1.0, 204).await;
    let bot = Bot::start(&worker, |c| c.discord.api_base = api_base.clone()).await;
    // The ingress learns there is one slot, then the worker gets stuck on a job.
    bot.command("warm", json!([])).await;
    worker.release(1);
    worker.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot.command("stuck", json!([])).await;
    worker.wait_for(2).await;
    let id = snowflake();
    let (text, _) = said(&bot.send(&command_from(&id, "late", json!([]))).await);
    let promised = mandala_model::wait::parse_approx(&text).unwrap();
    assert!(promised <= Duration::from_secs(3), "{text}");
    // Over five seconds later than promised, the user hears about it once.
    let token = format!("tok-{id}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let notice = loop {
        if let Some(m) = standin.message_for_token(&token) {
            break m;
        }
        assert!(Instant::now() < deadline, "no notice came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let content = notice.payload.content.unwrap();
    assert!(
        content.starts_with("🌀 Rendering four mandalas · seeds ")
            && content.contains("Still in the queue")
            && content.contains("ready in ~"),
        "{content}"
    );
    assert_eq!(notice.edits, 1);
    assert_eq!(
        worker.got.lock().unwrap().len(),
        2,
        "it has not gone out yet"
    );
    worker.release(100);
    worker.wait_for(3).await;
}

#[tokio::test]
async fn a_job_that_exhausts_its_attempts_goes_to_the_dead_letter_route() {
    let worker = Worker::start(1, 1.0, 500).await;
    worker.release(1000);
    let bot = Bot::start(&worker, |c| {
        c.local_push_max_attempts = 3;
        c.max_queued_per_user = 1;
    })
    .await;
    let (text, private) = said(&bot.command("ann", json!([])).await);
    assert!(!private, "{text}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.dead.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing was dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = worker.dead.lock().unwrap()[0].clone();
    assert_eq!(dead.delivery_attempt, Some(3));
    assert_eq!(dead.decode_job().unwrap().user(), Some("ann"));
    assert_eq!(worker.got.lock().unwrap().len(), 3);
    // The job has ended: Ann's one slot is free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (text, private) = said(&bot.command("ann", json!([])).await);
        if !private {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
