//! The Cloud Storage store: real uploads through `google-cloud-storage`
//! into `gcp-storage-emulator` (skipped loudly when it is not installed),
//! and the 412 path against a tiny in-test fake of the upload endpoint,
//! because the emulator ignores `ifGenerationMatch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::*;
use mandala_model::Reply;
use mandala_standin::emulators::gcs::GcsEmulator;
use mandala_standin::suites;
use mandala_worker::store::CACHE_CONTROL;

const BUCKET: &str = "mandala-worker-test";

fn gcs_config(endpoint: &str, api_base: &str) -> mandala_worker::Config {
    let mut c = mandala_worker::Config::local("", api_base);
    c.local_store_dir = None;
    c.bucket = Some(BUCKET.into());
    c.storage_emulator_host = Some(endpoint.into());
    c.render_concurrency = Some(2);
    c
}

#[tokio::test]
async fn uploads_to_the_storage_emulator_and_reads_back_on_redelivery() {
    let Some(gcs) = suites::require("gcs-emulator (worker)", GcsEmulator::start(BUCKET).await)
    else {
        return;
    };
    let d = discord().await;
    let w = start(gcs_config(&gcs.endpoint(), &d.api_base)).await;
    let resolved = spec(21).resolve().unwrap();
    let name = resolved.object_name();

    // Stored only: content type, cache headers, the spec in metadata, the content-addressed name.
    let (status, body) = w
        .push(envelope(&job(spec(21), Reply::None), "1", None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("gs://{BUCKET}/{name}")), "{body}");
    let (bytes, content_type, metadata) = gcs
        .get_object(BUCKET, &name)
        .await
        .expect("object uploaded");
    assert_eq!(content_type, "image/png");
    assert_eq!(png_size(&bytes), (256, 256));
    assert_eq!(metadata["spec"], resolved.canonical_json());
    assert_eq!(metadata["seed"], "21");
    let resource = gcs.object_resource(BUCKET, &name).await.unwrap();
    assert_eq!(resource["cacheControl"], CACHE_CONTROL);
    assert_eq!(gcs.list(BUCKET).await, vec![name.clone()]);

    // The same spec for an interaction: found by the check, read back, sent; no second render.
    let (status, body) = w
        .push(envelope(
            &job(spec(21), interaction("tok-gcs", 1000)),
            "2",
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let stats = w.worker.stats();
    assert_eq!((stats.renders, stats.replied), (1, 1));
    let m = d.standin.message_for_token("tok-gcs").unwrap();
    assert_eq!(m.attachments[0].bytes.to_vec(), bytes);
    assert_eq!(m.attachments[0].content_type, "image/png");
    assert_eq!(gcs.list(BUCKET).await.len(), 1);
}

/// Objects the fake holds, and every upload it answered.
#[derive(Default)]
struct Fake {
    objects: HashMap<String, usize>,
    uploads: Vec<(String, u16)>,
}

type Shared = Arc<Mutex<Fake>>;

/// `GET /storage/v1/b/{b}/o/{name}`: always 404, so each job renders and uploads.
async fn metadata() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": {"code": 404, "message": "No such object"}})),
    )
}

/// `POST /upload/storage/v1/b/{b}/o`: honours `ifGenerationMatch=0`.
async fn upload(
    State(fake): State<Shared>,
    Path(bucket): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    // The multipart metadata part names the object.
    let text = String::from_utf8_lossy(&body);
    let name = text
        .split("\"name\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .or(q.get("name").map(String::as_str))
        .unwrap_or_default()
        .to_owned();
    let mut fake = fake.lock().unwrap();
    let exists = fake.objects.contains_key(&name);
    if q.get("ifGenerationMatch").map(String::as_str) == Some("0") && exists {
        fake.uploads.push((name, 412));
        return (
            StatusCode::PRECONDITION_FAILED,
            axum::Json(serde_json::json!({"error": {"code": 412, "message": "At least one of the pre-conditions you specified did not hold."}})),
        )
            .into_response();
    }
    fake.objects.insert(name.clone(), body.len());
    fake.uploads.push((name.clone(), 200));
    axum::Json(serde_json::json!({
        "kind": "storage#object", "bucket": bucket, "name": name, "id": format!("{bucket}/{name}/1"),
        "generation": "1", "metageneration": "1", "contentType": "image/png", "size": body.len().to_string(),
    }))
    .into_response()
}

#[tokio::test]
async fn a_412_on_create_means_someone_stored_it_first() {
    let fake: Shared = Arc::default();
    let app = axum::Router::new()
        .route(
            "/storage/v1/b/{bucket}/o/{name}",
            axum::routing::get(metadata),
        )
        .route(
            "/upload/storage/v1/b/{bucket}/o",
            axum::routing::post(upload),
        )
        .with_state(fake.clone());
    let addr = serve(app).await;
    let d = discord().await;
    let w = start(gcs_config(&format!("http://{addr}"), &d.api_base)).await;
    for id in ["1", "2"] {
        let (status, body) = w
            .push(envelope(&job(spec(31), Reply::None), id, None))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("stored"), "{body}");
    }
    let name = spec(31).resolve().unwrap().object_name();
    let uploads = fake.lock().unwrap().uploads.clone();
    assert_eq!(uploads, vec![(name.clone(), 200), (name, 412)]);
    assert_eq!(w.worker.stats().redeliver, 0);
}

#[tokio::test]
async fn a_storage_outage_asks_for_redelivery() {
    // Nothing listens here: the check before rendering fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let d = discord().await;
    let w = start(gcs_config(&format!("http://{closed}"), &d.api_base)).await;
    let (status, body) = w
        .push(envelope(&job(spec(41), Reply::None), "1", None))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("storage"), "{body}");
}
