//! Signing the interactions up front, and sending them with a number of
//! workers over kept-alive connections.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use ed25519_dalek::SigningKey;

use super::{Kind, Outcome};
use crate::dev::client;

/// What one request came back with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub latency_us: u32,
    /// HTTP status, or 0 for a transport error.
    pub status: u16,
    pub outcome: Outcome,
}

/// One pre-signed request.
pub(super) struct Prepared {
    body: reqwest::Body,
    signature: reqwest::header::HeaderValue,
    timestamp: reqwest::header::HeaderValue,
}

pub(super) fn prepare(
    key: &SigningKey,
    application_id: &str,
    kind: Kind,
    n: usize,
    users: usize,
) -> anyhow::Result<Vec<Prepared>> {
    (0..n)
        .map(|i| {
            let user = format!("{}", 2_000_000_000_000_000_000u64 + (i % users) as u64);
            let outgoing = client::command_from(application_id, &user, &[]);
            let body = match kind {
                Kind::Command => outgoing.body,
                Kind::Ping => serde_json::json!({"id": outgoing.id, "application_id": application_id, "type": 1, "token": outgoing.token, "version": 1})
                    .to_string()
                    .into_bytes(),
            };
            let (signature, timestamp) = client::sign(key, &body);
            Ok(Prepared {
                body: reqwest::Body::from(body),
                signature: signature.parse().context("signature header")?,
                timestamp: timestamp.parse().context("timestamp header")?,
            })
        })
        .collect()
}

async fn send(http: &reqwest::Client, url: &str, p: Prepared) -> Sample {
    let started = Instant::now();
    let result = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", p.signature)
        .header("x-signature-timestamp", p.timestamp)
        .body(p.body)
        .send()
        .await;
    let (status, outcome) = match result {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => (status, Outcome::of_answer(status, &b)),
                Err(_) => (0, Outcome::TransportError),
            }
        }
        Err(_) => (0, Outcome::TransportError),
    };
    Sample {
        latency_us: u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
        status,
        outcome,
    }
}

/// Sends every prepared request with `concurrency` workers.
pub(super) async fn run_batch(
    http: &reqwest::Client,
    url: &str,
    batch: Vec<Prepared>,
    concurrency: usize,
) -> Vec<Sample> {
    let total = batch.len();
    let queue = Arc::new(std::sync::Mutex::new(batch.into_iter()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let queue = Arc::clone(&queue);
        let http = http.clone();
        let url = url.to_owned();
        workers.spawn(async move {
            let mut samples = Vec::with_capacity(total / concurrency + 1);
            loop {
                let item = queue.lock().ok().and_then(|mut q| q.next());
                let Some(p) = item else { break };
                samples.push(send(&http, &url, p).await);
            }
            samples
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(r) = workers.join_next().await {
        if let Ok(samples) = r {
            all.extend(samples);
        }
    }
    all
}
