//! A job cannot aim the worker's reply anywhere but its own interaction:
//! tokens that are path steps are refused before any request is made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn tokens_that_are_path_steps_are_refused_before_discord_is_called() {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(config(dir.path(), &d.api_base)).await;
    for (n, token) in [".", "..", "-", ".hidden"].into_iter().enumerate() {
        let job = job(spec(50 + n as u64), interaction(token, 1000));
        let (status, body) = w.push(envelope(&job, &format!("77{n}"), Some(1))).await;
        // Acknowledged as poison: redelivery cannot make it valid.
        assert_eq!(status, 200, "{token:?}: {body}");
        assert!(body.starts_with("rejected"), "{token:?}: {body}");
        assert!(body.contains("not a Discord token"), "{token:?}: {body}");
    }
    assert!(
        d.standin.requests().is_empty(),
        "the worker called Discord: {:?}",
        d.standin
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert_eq!(w.worker.stats().rejected, 4);
}
