//! Delivered stays delivered: no final word is ever sent over an image that
//! may have reached the user. A send whose answer never came (the stand-in
//! applies the edit and withholds the answer, or hangs) is redelivered
//! while attempts remain and let go without a word on the last one; before
//! any final word the worker looks at the message. Through the worker's
//! real listener, against the Discord stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_standin::discord::Failure;

/// A worker whose job deadline is short, so a withheld answer costs
/// seconds, not a minute.
async fn quick(d: &Discord, dir: &std::path::Path) -> Running {
    let mut c = config(dir, &d.api_base);
    c.job_deadline_secs = 5;
    start(c).await
}

fn methods(d: &Discord) -> Vec<String> {
    d.standin
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.status))
        .collect()
}

fn shows_image(d: &Discord, token: &str) -> bool {
    d.standin
        .message_for_token(token)
        .is_some_and(|m| !m.attachments.is_empty())
}

#[tokio::test]
async fn an_edit_whose_answer_was_lost_is_sent_again_on_redelivery_not_followed_by_a_word() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(1), interaction("tok-lost", 1_000));
    d.standin.fail_next(1, Failure::AnswerLost);
    let (status, body) = w.push(envelope(&j, "1", Some(1))).await;
    assert_eq!(status, 503, "asks again while attempts remain: {body}");
    assert!(shows_image(&d, "tok-lost"), "the edit was applied");
    // The redelivery edits again (idempotent) and learns it arrived.
    let (status, body) = w.push(envelope(&j, "1", Some(2))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    assert!(shows_image(&d, "tok-lost"));
    assert_eq!(methods(&d), ["PATCH 200", "PATCH 200"]);
    assert_eq!(w.worker.stats().told, 0);
}

#[tokio::test]
async fn a_lost_answer_on_the_last_attempt_is_let_go_without_a_word() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(2), interaction("tok-last", 1_000));
    d.standin.fail_next(1, Failure::AnswerLost);
    let (status, body) = w.push(envelope(&j, "2", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_unknown"), "{body}");
    assert!(shows_image(&d, "tok-last"), "the image stays");
    assert_eq!(methods(&d), ["PATCH 200"], "no final word, no second edit");
    let stats = w.worker.stats();
    assert_eq!((stats.reply_unknown, stats.told, stats.gave_up), (1, 0, 0));
}

#[tokio::test]
async fn a_hanging_discord_on_the_last_attempt_ends_unknown_not_in_gave_up() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(3), interaction("tok-hang", 1_000));
    d.standin.fail_next(1, Failure::Hang);
    let (status, body) = w.push(envelope(&j, "3", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reply_unknown"), "{body}");
    // The sender cannot know the request was never applied: no word.
    assert_eq!(methods(&d), ["PATCH 0"]);
    assert_eq!(w.worker.stats().told, 0);
}

#[tokio::test]
async fn no_final_word_goes_over_an_image_an_earlier_delivery_left() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(4), interaction("tok-earlier", 1_000));
    // Attempt 4: the edit lands, its answer is lost.
    d.standin.fail_next(1, Failure::AnswerLost);
    let (status, _) = w.push(envelope(&j, "4", Some(4))).await;
    assert_eq!(status, 503);
    // Attempt 5: Discord refuses for sure now (rate-limited past the
    // deadline); the job gives up — but the image from attempt 4 is
    // there, so nothing is said over it.
    d.standin.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 60.0,
        },
    );
    let (status, body) = w.push(envelope(&j, "4", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("gave_up"), "{body}");
    assert!(body.contains("already shown"), "{body}");
    assert!(shows_image(&d, "tok-earlier"));
    let m = d.standin.message_for_token("tok-earlier").unwrap();
    assert_eq!(m.edits, 1, "the image's edit only");
    assert!(
        d.standin.requests().iter().any(|r| r.method == "GET"),
        "the worker looked before its final word"
    );
    assert_eq!(w.worker.stats().told, 0);
}

#[tokio::test]
async fn a_definite_failure_on_the_last_attempt_is_still_told() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(5), interaction("tok-told", 1_000));
    // Rate-limited beyond the job's deadline: not applied, for sure.
    d.standin.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 60.0,
        },
    );
    let (status, body) = w.push(envelope(&j, "5", Some(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("gave_up"), "{body}");
    let m = d.standin.message_for_token("tok-told").unwrap();
    assert!(
        m.payload
            .content
            .unwrap_or_default()
            .contains("could not be finished after 5 attempts")
    );
    assert!(m.attachments.is_empty());
    assert_eq!(w.worker.stats().told, 1);
}

#[tokio::test]
async fn a_dead_letter_whose_user_could_not_be_told_is_tried_again_while_the_token_lives() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let dead = |token: &str, age_ms: u64| {
        let j = job(spec(6), interaction(token, age_ms));
        envelope_of(&j.to_json(), token, None, now_ms())
    };
    d.standin.fail_next(1000, Failure::ServerError);
    let (status, body) = w
        .post("/pubsub/dead-letter", dead("tok-alive", 1_000), &[])
        .await;
    assert_eq!(
        status, 503,
        "the dead-letter subscription redelivers: {body}"
    );
    // Once Discord takes it, the word goes out.
    let d2 = discord().await;
    let w2 = quick(&d2, dir.path()).await;
    let (status, body) = w2
        .post("/pubsub/dead-letter", dead("tok-alive", 1_000), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("dead_letter_told"), "{body}");
    // A dead token: nobody can be told, so it is let go.
    let (status, body) = w
        .post("/pubsub/dead-letter", dead("tok-gone", 16 * 60 * 1000), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("expired"), "{body}");
}

#[tokio::test]
async fn a_dead_letter_over_a_delivered_image_says_nothing() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = quick(&d, dir.path()).await;
    let j = job(spec(7), interaction("tok-had-it", 1_000));
    let (status, _) = w.push(envelope(&j, "7", Some(1))).await;
    assert_eq!(status, 200);
    // Pub/Sub never got that answer (the worker died first): dead letter.
    let (status, body) = w
        .post(
            "/pubsub/dead-letter",
            envelope_of(&j.to_json(), "7", None, now_ms()),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("already shows the image"), "{body}");
    assert!(shows_image(&d, "tok-had-it"));
    assert_eq!(d.standin.message_for_token("tok-had-it").unwrap().edits, 1);
}
