//! A job its user was told to retry is not rendered: the ingress gave up
//! publishing it at `publish_by_ms` (and said "try again"), and the queue
//! took it later anyway. Through the worker's real listener, against the
//! Discord stand-in, with the queue ledger in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn a_job_the_queue_took_after_the_ingress_gave_up_is_dropped_and_leaves_the_ledger() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = memory_ledger();
    let w = start_with(config(dir.path(), &d.api_base), Some(ledger.clone())).await;
    let mut late = job(spec(1), interaction("tok-late", 2_000));
    let ticket = admit(Some(&ledger), &mut late).await;
    let gave_up_at = now_ms() - 1_000;
    late.publish_by_ms = Some(gave_up_at);
    assert!(entries(&ledger).await.contains_key(ticket.job.as_str()));

    // Published two seconds after the ingress gave up.
    let body = envelope_of(&late.to_json(), "late-1", Some(1), gave_up_at + 2_000);
    let (status, body) = w.push(body).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("abandoned"), "{body}");
    assert!(
        d.standin.requests().is_empty(),
        "its user was told to try again: nothing more is said"
    );
    assert!(stored_images(dir.path()).is_empty(), "nothing rendered");
    assert!(
        !entries(&ledger).await.contains_key(ticket.job.as_str()),
        "its entry left the ledger"
    );
    let stats = w.worker.stats();
    assert_eq!((stats.abandoned, stats.renders, stats.told), (1, 0, 0));
}

#[tokio::test]
async fn a_job_the_queue_took_in_time_or_at_an_unknown_time_is_rendered() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let by = now_ms();
    for (n, published) in [(2, Some(by - 400)), (3, Some(by + 100)), (4, None)] {
        let mut j = job(spec(n), interaction(&format!("tok-{n}"), 2_000));
        j.publish_by_ms = Some(by);
        let body = match published {
            Some(at) => envelope_of(&j.to_json(), &n.to_string(), Some(1), at),
            None => {
                // No publishTime at all: nothing to compare, so go on.
                let mut env: serde_json::Value =
                    serde_json::from_slice(&envelope(&j, &n.to_string(), Some(1))).unwrap();
                env["message"]
                    .as_object_mut()
                    .unwrap()
                    .remove("publishTime");
                serde_json::to_vec(&env).unwrap()
            }
        };
        let (status, body) = w.push(body).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.starts_with("replied"),
            "published {published:?}: {body}"
        );
    }
    assert_eq!(w.worker.stats().abandoned, 0);
}

#[tokio::test]
async fn a_task_is_judged_by_its_first_attempts_eta_only() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let by = now_ms() - 5_000;
    let mut late = job(spec(5), interaction("tok-task-late", 2_000));
    late.publish_by_ms = Some(by);
    // First attempt: the ETA is when the task was created, after the give-up.
    let (status, body) = w.dispatch(&late, "task-late", 0, by + 3_000).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("abandoned"), "{body}");
    assert!(d.standin.requests().is_empty());

    // A retry's ETA is the retry's own schedule: it says nothing of when
    // the task was created, so the job goes on.
    let mut retried = job(spec(6), interaction("tok-task-retry", 2_000));
    retried.publish_by_ms = Some(by);
    let (status, body) = w.dispatch(&retried, "task-retry", 1, now_ms()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
}

#[tokio::test]
async fn a_dead_letter_is_published_later_by_design_and_still_told() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let mut j = job(spec(7), interaction("tok-dead", 2_000));
    j.publish_by_ms = Some(now_ms() - 60_000);
    let body = envelope_of(&j.to_json(), "dead-1", None, now_ms());
    let (status, body) = w.post("/pubsub/dead-letter", body, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("dead_letter_told"), "{body}");
    let m = d.standin.message_for_token("tok-dead").unwrap();
    assert!(
        m.payload
            .content
            .unwrap_or_default()
            .contains("could not be finished")
    );
}
