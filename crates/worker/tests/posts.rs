//! A channel webhook's message is posted exactly once, however its
//! deliveries overlap: a post is claimed in the store before it is made,
//! and a post whose outcome is unknown is never made again. Through the
//! worker's real listener, against the Discord stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_model::Reply;
use mandala_standin::discord::Failure;

fn hook(d: &Discord) -> Reply {
    Reply::WebhookUrl(format!(
        "{}/webhooks/1234567890123456789/hook-token",
        d.api_base
    ))
}

fn posts(d: &Discord) -> usize {
    d.standin
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
}

#[tokio::test]
async fn two_deliveries_of_one_message_at_once_post_once() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let the_job = job(spec(31), hook(&d));
    let body = envelope(&the_job, "twice", Some(1));
    let (a, b) = tokio::join!(w.push(body.clone()), w.push(body.clone()));
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&200), "one of them posted: {a:?} {b:?}");
    assert_eq!(posts(&d), 1, "exactly one channel post");
    assert_eq!(d.standin.messages().len(), 1);
    // A later redelivery of either finds the post recorded and edits it.
    let (status, body) = w.push(envelope(&the_job, "twice", Some(2))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(posts(&d), 1);
    assert_eq!(d.standin.messages().len(), 1);
    // The second of the pair either edited too (the post was recorded by
    // then) or was asked to come back later (it was still being made).
    let requests = d.standin.requests();
    assert_eq!(requests.last().unwrap().method, "PATCH");
    let patches = requests.iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(d.standin.messages()[0].edits as usize, patches);
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_never_made_again() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.job_deadline_secs = 5;
    let w = start(c).await;
    let the_job = job(spec(32), hook(&d));
    d.standin.fail_next(1, Failure::AnswerLost);
    let (status, body) = w.push(envelope(&the_job, "lost", Some(1))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(d.standin.messages().len(), 1, "the post was made");
    // The claim is young: another delivery may be posting. Ask again later.
    let (status, body) = w.push(envelope(&the_job, "lost", Some(2))).await;
    assert_eq!(status, 503, "{body}");
    // The last attempt lets go without posting.
    let (status, body) = w.push(envelope(&the_job, "lost", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_unknown"), "{body}");
    assert_eq!(posts(&d), 1, "one POST, never repeated");
    assert_eq!(d.standin.messages().len(), 1);
}

#[tokio::test]
async fn a_claim_older_than_any_delivery_lasts_is_let_go_without_posting() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    // A delivery claimed the post an hour ago and was never heard of again.
    let posts_dir = dir.path().join("posts");
    std::fs::create_dir_all(&posts_dir).unwrap();
    std::fs::write(
        posts_dir.join("old.posting-0.json"),
        serde_json::json!({"owner": "gone", "at_ms": now_ms() - 3_600_000}).to_string(),
    )
    .unwrap();
    let (status, body) = w
        .push(envelope(&job(spec(33), hook(&d)), "old", Some(1)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_unknown"), "{body}");
    assert_eq!(posts(&d), 0);
}

#[tokio::test]
async fn a_post_that_surely_failed_frees_the_next_delivery_to_post() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.job_deadline_secs = 5;
    let w = start(c).await;
    let the_job = job(spec(34), hook(&d));
    // Rate-limited past the deadline: Discord made nothing.
    d.standin.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 60.0,
        },
    );
    let (status, body) = w.push(envelope(&the_job, "failed", Some(1))).await;
    assert_eq!(status, 503, "{body}");
    assert!(d.standin.messages().is_empty());
    let (status, body) = w.push(envelope(&the_job, "failed", Some(2))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    assert_eq!(d.standin.messages().len(), 1);
    assert_eq!(posts(&d), 2, "the refused POST and the one that posted");
}
