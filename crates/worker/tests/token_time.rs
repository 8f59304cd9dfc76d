//! A job whose interaction token would die before its image could be sent
//! is not started: its user gets "could not finish in time" instead of
//! silence. Through the worker's real listener, against the Discord stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mandala_model::{Drawing, RenderSpec};

/// What the user sees in place of "Rendering…".
fn shown(d: &Discord, token: &str) -> String {
    d.standin
        .message_for_token(token)
        .and_then(|m| m.payload.content)
        .unwrap_or_default()
}

const OUT_OF_TIME: &str = "could not be finished in time";

#[tokio::test]
async fn a_job_whose_token_dies_within_the_reply_margin_is_not_started_and_its_user_is_told() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = memory_ledger();
    let w = start_with(config(dir.path(), &d.api_base), Some(ledger.clone())).await;
    let mut j = job(spec(1), interaction("tok-late", 2_000));
    let ticket = admit(Some(&ledger), &mut j).await;
    // The ledger's record of the token: ten seconds left.
    j.ticket.as_mut().unwrap().expires_ms = now_ms() + 10_000;
    let (status, body) = w.push(envelope(&j, "1", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("out_of_time"), "{body}");
    assert!(
        shown(&d, "tok-late").contains(OUT_OF_TIME),
        "{}",
        shown(&d, "tok-late")
    );
    assert!(stored_images(dir.path()).is_empty(), "nothing was rendered");
    assert!(!entries(&ledger).await.contains_key(ticket.job.as_str()));
    let stats = w.worker.stats();
    assert_eq!((stats.out_of_time, stats.told, stats.renders), (1, 1, 0));
}

#[tokio::test]
async fn a_render_expected_to_outlast_the_token_is_not_started() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let heavy = RenderSpec {
        seed: Some(2),
        size: Some(4096),
        layers: Some(12),
        elements: Some(32),
        symmetry: Some(64),
        style: Some(mandala_model::StyleChoice::Spline),
        ..Default::default()
    };
    // A fresh worker takes a work unit for a microsecond.
    let expected_ms = Drawing::resolve(&heavy, None).unwrap().cost().0 / 1000;
    assert!(expected_ms >= 2_000, "not heavy enough: {expected_ms} ms");
    let mut j = job(heavy, interaction("tok-heavy", 2_000));
    admit(None, &mut j).await;
    // Time for the reply margin and half the render.
    j.ticket.as_mut().unwrap().expires_ms = now_ms() + 15_000 + expected_ms / 2;
    let (status, body) = w.push(envelope(&j, "2", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("out_of_time"), "{body}");
    // Refused for the render it would take, not for the margin alone.
    assert!(!body.contains("about 0.0 s of work"), "{body}");
    assert!(shown(&d, "tok-heavy").contains(OUT_OF_TIME));
    assert_eq!(w.worker.stats().renders, 0);
}

#[tokio::test]
async fn a_job_with_time_enough_goes_on_and_a_stored_image_needs_only_the_reply_margin() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    let mut first = job(spec(3), interaction("tok-first", 2_000));
    admit(None, &mut first).await;
    first.ticket.as_mut().unwrap().expires_ms = now_ms() + 60_000;
    let (status, body) = w.push(envelope(&first, "3", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");

    // The same image for another interaction, whose token has a little
    // more than the reply margin left: no render is needed, so it goes.
    let mut again = job(spec(3), interaction("tok-again", 2_000));
    admit(None, &mut again).await;
    again.ticket.as_mut().unwrap().expires_ms = now_ms() + 17_000;
    let (status, body) = w.push(envelope(&again, "4", Some(1))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("replied"), "{body}");
    assert_eq!(w.worker.stats().renders, 1);
}
