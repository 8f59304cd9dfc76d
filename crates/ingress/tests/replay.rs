//! Replay protection at a rate that fills its memory, against the real
//! server on 127.0.0.1: a replay inside the window is refused however many
//! interactions came in between.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

fn autocomplete(id: &str) -> Value {
    json!({
        "id": id, "application_id": APP_ID, "type": 4, "token": format!("tok-{id}"),
        "data": {"name": "mandala", "type": 1, "options": [
            {"name": "palette", "type": 3, "value": "oc", "focused": true}
        ]}
    })
}

#[tokio::test]
async fn a_replay_is_refused_after_the_memory_filled_up() {
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = key(1);
    let mut c = config(&key, &receiver.url, dir.path());
    c.replay_memory_ids = 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/interactions", listener.local_addr().unwrap());
    tokio::spawn(mandala_ingress::serve(c, listener, std::future::pending()));
    let http = reqwest::Client::new();
    let send = |ts: String, body: String| {
        let sig = mandala_ingress::signing::sign(&key, &ts, body.as_bytes());
        let request = http
            .post(&url)
            .header("x-signature-ed25519", sig)
            .header("x-signature-timestamp", ts)
            .body(body);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The first interaction, captured by someone.
    let ts = now_secs().to_string();
    let captured = autocomplete(&snowflake()).to_string();
    let (status, v) = send(ts.clone(), captured.clone()).await;
    assert_eq!((status, v["type"].as_u64()), (200, Some(8)));
    // More than the memory holds, all inside the window.
    let mut answers = Vec::new();
    for chunk in (0..1100).collect::<Vec<_>>().chunks(50) {
        let batch = chunk.iter().map(|_| {
            send(
                now_secs().to_string(),
                autocomplete(&snowflake()).to_string(),
            )
        });
        answers.extend(futures::future::join_all(batch).await);
    }
    let served = answers.iter().filter(|(_, v)| v["type"] == 8).count();
    assert_eq!(served, 1023, "the memory holds 1024 ids");
    for (status, v) in answers.iter().filter(|(_, v)| v["type"] != 8) {
        assert_eq!(*status, 200);
        assert_eq!(
            v["data"]["content"],
            mandala_model::i18n::strings(None).try_again,
            "{v}"
        );
    }
    // The replay, still inside its window, is refused.
    let (status, _) = send(ts, captured).await;
    assert_eq!(status, 401, "a replay inside the window was accepted");
}
