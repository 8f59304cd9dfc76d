//! What the worker does when Discord says no: the schedule of issue 5,
//! item 5, against the stand-in told to answer 429, 500 or 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use mandala_standin::discord::Failure;

fn statuses(d: &Discord) -> Vec<u16> {
    d.standin.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_the_budget() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    d.standin.fail_next(
        2,
        Failure::RateLimited {
            retry_after_secs: 0.3,
        },
    );
    let started = Instant::now();
    let (status, body) = w
        .push(envelope(
            &job(spec(1), interaction("tok-429", 1000)),
            "1",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "retry_after was honoured"
    );
    assert_eq!(statuses(&d), vec![429, 429, 200]);
    assert_eq!(d.standin.message_for_token("tok-429").unwrap().edits, 1);
}

#[tokio::test]
async fn a_rate_limit_beyond_the_budget_is_left_to_pubsub_and_the_redelivery_skips_the_render() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.job_deadline_secs = 5;
    let w = start(c).await;
    d.standin.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 30.0,
        },
    );
    let job = job(spec(2), interaction("tok-slow", 1000));
    let started = Instant::now();
    let (status, body) = w.push(envelope(&job, "2", Some(1))).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at once instead of sleeping 30 s"
    );
    // Pub/Sub redelivers later: the image is already stored.
    let (status, body) = w.push(envelope(&job, "2", Some(2))).await;
    assert_eq!(status, 200, "{body}");
    let stats = w.worker.stats();
    assert_eq!((stats.renders, stats.redeliver, stats.replied), (1, 1, 1));
    assert_eq!(statuses(&d), vec![429, 200]);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    d.standin.fail_next(3, Failure::ServerError);
    let (status, body) = w
        .push(envelope(
            &job(spec(3), interaction("tok-500", 1000)),
            "3",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(statuses(&d), vec![500, 500, 500, 200]);
}

#[tokio::test]
async fn persistent_server_errors_end_in_redelivery() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.job_deadline_secs = 5;
    let w = start(c).await;
    d.standin.fail_next(1000, Failure::ServerError);
    let started = Instant::now();
    let (status, body) = w
        .push(envelope(
            &job(spec(4), interaction("tok-down", 1000)),
            "4",
            None,
        ))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(6));
    let tries = statuses(&d);
    assert!(
        tries.len() >= 3 && tries.iter().all(|s| *s == 500),
        "{tries:?}"
    );
}

#[tokio::test]
async fn unknown_webhook_right_after_the_interaction_is_retried() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    d.standin.fail_next(2, Failure::UnknownWebhook);
    let (status, body) = w
        .push(envelope(
            &job(spec(5), interaction("tok-race", 500)),
            "5",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    assert_eq!(statuses(&d), vec![404, 404, 200]);
}

#[tokio::test]
async fn unknown_webhook_later_is_acknowledged_not_retried() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    d.standin.fail_next(5, Failure::UnknownWebhook);
    let (status, body) = w
        .push(envelope(
            &job(spec(6), interaction("tok-gone", 60_000)),
            "6",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_dropped"), "{body}");
    assert_eq!(statuses(&d), vec![404]);
    assert_eq!(w.worker.stats().reply_dropped, 1);
}

#[tokio::test]
async fn a_webhook_the_stand_in_rejects_is_acknowledged() {
    // A channel webhook whose id is not a snowflake: Discord answers 404, and
    // no retry can change that.
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let hook = format!("{}/webhooks/not-an-id/t", d.api_base);
    let (status, body) = w
        .push(envelope(
            &job(spec(7), mandala_model::Reply::WebhookUrl(hook)),
            "7",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_dropped"), "{body}");
}
