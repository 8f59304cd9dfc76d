//! Channel webhooks (manual jobs, the daily mandala): one message per job
//! however often Pub/Sub delivers it, and no buttons a webhook cannot
//! carry. Against the Discord stand-in, through the worker's listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_model::Reply;

#[tokio::test]
async fn a_redelivered_webhook_job_edits_its_message_instead_of_posting_again() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let hook = format!("{}/webhooks/1234567890123456789/hook-token", d.api_base);
    let the_job = job(spec(21), Reply::WebhookUrl(hook));
    for attempt in 1..=3 {
        // Pub/Sub keeps the message id across redeliveries.
        let (status, body) = w.push(envelope(&the_job, "wh-1", Some(attempt))).await;
        assert_eq!(status, 200, "{body}");
    }
    let messages = d.standin.messages();
    assert_eq!(messages.len(), 1, "one message in the channel");
    assert_eq!(messages[0].edits, 2, "the redeliveries edited it");
    assert_eq!(messages[0].attachments.len(), 1);
    let methods: Vec<String> = d
        .standin
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH"]);
    // Another job through the same webhook is a message of its own.
    let other = job(spec(22), the_job.reply.clone());
    let (status, _) = w.push(envelope(&other, "wh-2", Some(1))).await;
    assert_eq!(status, 200);
    assert_eq!(d.standin.messages().len(), 2);
}

#[tokio::test]
async fn webhook_posts_carry_no_buttons() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let hook = format!("{}/webhooks/1234567890123456789/hook-token", d.api_base);
    let (status, body) = w
        .push(envelope(
            &job(spec(23), Reply::WebhookUrl(hook)),
            "wh-3",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let m = d.standin.messages().remove(0);
    assert!(
        m.payload.components.as_ref().is_none_or(Vec::is_empty),
        "a webhook not owned by the application cannot carry buttons: {:?}",
        m.payload.components
    );
    assert_eq!(m.attachments.len(), 1);
}
