//! Channel webhooks kept in Secret Manager (the daily mandala): a job names
//! the secret version, the worker reads the URL from Secret Manager's
//! `…:access` endpoint (here a stand-in), posts there, and treats the URL
//! exactly like one given in a job. Against the Discord stand-in, through
//! the worker's listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use common::*;
use mandala_model::Reply;
use serde_json::json;

const SECRET: &str = "projects/mandala-test/secrets/mandala-daily-mandala-webhook/versions/latest";

/// A stand-in for `GET /v1/{name}:access`: the values it holds, what it
/// answers instead (a status), and how often it was asked.
#[derive(Clone, Default)]
struct SecretManager {
    values: Arc<Mutex<HashMap<String, String>>>,
    failing: Arc<Mutex<Option<StatusCode>>>,
    reads: Arc<AtomicUsize>,
}

impl SecretManager {
    fn set(&self, name: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    async fn serve(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let me = me.clone();
            async move { me.answer(&uri) }
        });
        format!("http://{}", serve(app).await)
    }

    fn answer(&self, uri: &Uri) -> axum::response::Response {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(status) = *self.failing.lock().unwrap() {
            let body = json!({"error": {"code": status.as_u16(), "message": "injected", "status": "UNAVAILABLE"}});
            return (status, axum::Json(body)).into_response();
        }
        let name = uri
            .path()
            .strip_prefix("/v1/")
            .and_then(|p| p.strip_suffix(":access"))
            .unwrap_or_default();
        match self.values.lock().unwrap().get(name) {
            Some(v) => axum::Json(json!({
                "name": name,
                "payload": {
                    "data": base64::engine::general_purpose::STANDARD.encode(v),
                    "dataCrc32c": crc32c::crc32c(v.as_bytes()).to_string(),
                }
            }))
            .into_response(),
            None => {
                let body = json!({"error": {"code": 404, "message": format!("Secret [{name}] not found or has no versions."), "status": "NOT_FOUND"}});
                (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
            }
        }
    }
}

/// A worker reading secrets from `secrets`, replying to a Discord stand-in.
async fn worker(secrets: &SecretManager) -> (Running, Discord, tempfile::TempDir) {
    let d = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &d.api_base);
    c.secret_manager_endpoint = Some(secrets.serve().await);
    (start(c).await, d, dir)
}

fn daily(seed: u64) -> mandala_model::Job {
    let mut j = job(spec(seed), Reply::WebhookSecret(SECRET.into()));
    j.kind = mandala_model::job::JobKind::Schedule;
    j.requested_by = None;
    j
}

#[tokio::test]
async fn a_job_naming_a_secret_posts_to_the_webhook_it_holds() {
    let secrets = SecretManager::default();
    let (w, d, _dir) = worker(&secrets).await;
    secrets.set(
        SECRET,
        &format!("{}/webhooks/1234567890123456789/hook-token\n", d.api_base),
    );
    for (seed, id) in [(31, "day-1"), (32, "day-2")] {
        let (status, body) = w.push(envelope(&daily(seed), id, Some(1))).await;
        assert_eq!(status, 200, "{body}");
    }
    let messages = d.standin.messages();
    assert_eq!(messages.len(), 2, "both posted to the channel");
    assert!(
        messages
            .iter()
            .all(|m| m.webhook_id == "1234567890123456789"
                && m.token.as_deref() == Some("hook-token")
                && m.attachments.len() == 1)
    );
    assert!(
        messages
            .iter()
            .all(|m| m.payload.components.as_ref().is_none_or(Vec::is_empty)),
        "no buttons on a channel webhook"
    );
    assert_eq!(
        secrets.reads.load(Ordering::SeqCst),
        1,
        "the value is kept for a while, not read for every job"
    );
    assert_eq!(w.worker.stats().replied, 2);
}

#[tokio::test]
async fn a_url_in_a_secret_passes_the_same_allow_list() {
    let secrets = SecretManager::default();
    let (w, d, _dir) = worker(&secrets).await;
    secrets.set(SECRET, "http://169.254.169.254/computeMetadata/v1/");
    let (status, body) = w.push(envelope(&daily(33), "day-3", Some(1))).await;
    assert_eq!(
        status, 200,
        "a refused target is poison, not retried: {body}"
    );
    let stats = w.worker.stats();
    assert_eq!((stats.rejected, stats.renders), (1, 0), "{stats:?}");
    assert!(d.standin.requests().is_empty());
}

#[tokio::test]
async fn a_missing_secret_is_refused_and_an_unavailable_one_retried() {
    let secrets = SecretManager::default();
    let (w, d, _dir) = worker(&secrets).await;
    // No such secret: nothing will change that by redelivering.
    let (status, _) = w.push(envelope(&daily(34), "day-4", Some(1))).await;
    assert_eq!(status, 200);
    assert_eq!(w.worker.stats().rejected, 1);
    // Secret Manager down (or a grant not yet in effect): try again later.
    *secrets.failing.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = w.push(envelope(&daily(35), "day-5", Some(1))).await;
    assert!(status >= 500, "redelivered, got {status}");
    *secrets.failing.lock().unwrap() = Some(StatusCode::FORBIDDEN);
    let (status, _) = w.push(envelope(&daily(35), "day-5", Some(2))).await;
    assert!(status >= 500, "redelivered, got {status}");
    // Back, and holding the URL: the redelivery posts.
    *secrets.failing.lock().unwrap() = None;
    secrets.set(
        SECRET,
        &format!("{}/webhooks/1234567890123456789/hook-token", d.api_base),
    );
    let (status, body) = w.push(envelope(&daily(35), "day-5", Some(3))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.standin.messages().len(), 1);
}

#[tokio::test]
async fn a_name_that_is_not_a_secret_version_is_never_asked_for() {
    let secrets = SecretManager::default();
    let (w, _d, _dir) = worker(&secrets).await;
    let mut j = daily(36);
    j.reply = Reply::WebhookSecret("projects/p/secrets/../../v1/other".into());
    let (status, _) = w.push(envelope(&j, "day-6", Some(1))).await;
    assert_eq!(status, 200);
    assert_eq!(w.worker.stats().rejected, 1);
    assert_eq!(secrets.reads.load(Ordering::SeqCst), 0);
}
