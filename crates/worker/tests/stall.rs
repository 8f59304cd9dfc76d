//! Cloud Tasks has no dead-letter route: a job it delivers is marked for
//! the ledger's stall watchdog (`STALL_AFTER_SECS`), so a job whose last
//! attempt never reaches a worker still gets its final word. Pushes keep
//! their dead-letter route and are not watched. Through the worker's real
//! listener, with the queue ledger in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_ledger::Due;
use mandala_standin::discord::Failure;

#[tokio::test]
async fn a_job_cloud_tasks_delivers_is_watched_for_stalls_and_a_pushed_one_is_not() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = memory_ledger();
    let c = config(dir.path(), &d.api_base);
    let stall_ms = c.stall_after_secs * 1000;
    let w = start_with(c, Some(ledger.clone())).await;
    let mut tasked = job(spec(1), interaction("tok-task", 1_000));
    let tasked_id = admit(Some(&ledger), &mut tasked).await.job;
    let mut pushed = job(spec(2), interaction("tok-push", 1_500));
    let pushed_id = admit(Some(&ledger), &mut pushed).await.job;
    // Both attempts fail for now (Discord rate-limits past the deadline):
    // the jobs stay started in the ledger, waiting for their next attempt.
    let busy = Failure::RateLimited {
        retry_after_secs: 120.0,
    };
    d.standin.fail_next(2, busy);
    let (status, body) = w.dispatch(&tasked, "task-1", 0, now_ms()).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = w.push(envelope(&pushed, "push-1", Some(1))).await;
    assert_eq!(status, 503, "{body}");

    let all = entries(&ledger).await;
    let (task, push) = (&all[tasked_id.as_str()], &all[pushed_id.as_str()]);
    assert!(task.started_ms > 0 && push.started_ms > 0);
    assert_eq!(task.stall_after_ms, stall_ms);
    assert_eq!(
        push.stall_after_ms, 0,
        "the dead-letter route tells pushed jobs"
    );
    // If no attempt follows, the sweeper owes the task's user the final word.
    let later = task.started_ms + stall_ms;
    assert_eq!(task.due(later - 1), None);
    assert_eq!(task.due(later), Some(Due::Stalled));
    assert_eq!(push.due(later), None);
}
