//! The Cloud Storage store against fake-gcs-server, which honours
//! preconditions: real uploads through `google-cloud-storage`, the
//! create-only write's 412 seen for real, and two workers racing to store
//! the same image. The round trip also runs against gcp-storage-emulator, a
//! second implementation `mandala dev --gcs-emulator` users may run, and
//! the one that keeps an object's content type as Cloud Storage does (see
//! [`StoresContentType`]). Each suite skips loudly when its emulator is not
//! installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::*;
use mandala_model::Reply;
use mandala_standin::emulators::fake_gcs::FakeGcs;
use mandala_standin::emulators::gcs::GcsEmulator;
use mandala_standin::emulators::gcs_json::JsonApi;
use mandala_standin::suites;
use mandala_worker::store::gcs::GcsStore;
use mandala_worker::store::{CACHE_CONTROL, NewObject, PutOutcome, Store};

const BUCKET: &str = "mandala-worker-test";

fn gcs_config(endpoint: &str, api_base: &str) -> mandala_worker::Config {
    let mut c = mandala_worker::Config::local("", api_base);
    c.local_store_dir = None;
    c.bucket = Some(BUCKET.into());
    c.storage_emulator_host = Some(endpoint.into());
    c.render_concurrency = Some(2);
    c
}

/// Whether the emulator keeps the content type the upload's metadata
/// names. Cloud Storage and gcp-storage-emulator do; fake-gcs-server takes
/// it from the media part's own `Content-Type` header instead, which
/// `google-cloud-storage` does not send (the metadata carries it), so it
/// stores none and serves the object as `application/octet-stream`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoresContentType {
    Yes,
    FromMediaPartOnly,
}

/// One job stored, then the same spec for an interaction: found, read
/// back and sent, not rendered again.
async fn stores_and_reads_back_on_redelivery(
    endpoint: &str,
    gcs: &JsonApi,
    content_type: StoresContentType,
) {
    let d = discord().await;
    let w = start(gcs_config(endpoint, &d.api_base)).await;
    let resolved = spec(21).resolve().unwrap();
    let name = resolved.object_name();

    // Stored only: content type, cache headers, the spec in metadata, the content-addressed name.
    let (status, body) = w
        .push(envelope(&job(spec(21), Reply::None), "1", None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("gs://{BUCKET}/{name}")), "{body}");
    let (bytes, stored_type, metadata) = gcs
        .get_object(BUCKET, &name)
        .await
        .expect("object uploaded");
    let webp = |t: &str| match content_type {
        StoresContentType::Yes => assert_eq!(t, "image/webp"),
        StoresContentType::FromMediaPartOnly => {
            assert!(["", "application/octet-stream"].contains(&t), "{t}");
        }
    };
    webp(&stored_type);
    assert_eq!(image_size(&bytes), (256, 256));
    assert_eq!(metadata["spec"], resolved.canonical_json());
    assert_eq!(metadata["seed"], "21");
    let resource = gcs.object_resource(BUCKET, &name).await.unwrap();
    assert_eq!(resource["cacheControl"], CACHE_CONTROL);
    assert_eq!(gcs.list(BUCKET).await, vec![name.clone()]);

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
    webp(&m.attachments[0].content_type);
    assert_eq!(gcs.list(BUCKET).await.len(), 1);
}

#[tokio::test]
async fn uploads_to_fake_gcs_server_and_reads_back_on_redelivery() {
    let Some(gcs) = suites::require("fake-gcs-server (worker)", FakeGcs::start(BUCKET).await)
    else {
        return;
    };
    stores_and_reads_back_on_redelivery(
        &gcs.endpoint(),
        gcs.json(),
        StoresContentType::FromMediaPartOnly,
    )
    .await;
}

#[tokio::test]
async fn uploads_to_gcp_storage_emulator_and_reads_back_on_redelivery() {
    let Some(gcs) = suites::require("gcs-emulator (worker)", GcsEmulator::start(BUCKET).await)
    else {
        return;
    };
    stores_and_reads_back_on_redelivery(&gcs.endpoint(), gcs.json(), StoresContentType::Yes).await;
}

fn object(name: &str, bytes: &'static [u8], seed: &str) -> NewObject {
    NewObject {
        name: name.to_owned(),
        bytes: Bytes::from_static(bytes),
        content_type: "image/png".to_owned(),
        metadata: BTreeMap::from([("seed".to_owned(), seed.to_owned())]),
    }
}

#[tokio::test]
async fn a_second_create_only_write_gets_a_real_412_and_changes_nothing() {
    let Some(gcs) = suites::require("fake-gcs-server (worker)", FakeGcs::start(BUCKET).await)
    else {
        return;
    };
    let store = GcsStore::connect(BUCKET, Some(&gcs.endpoint()))
        .await
        .unwrap();
    let name = "renders/v1/race.png";
    assert_eq!(
        store.put(object(name, b"first", "1")).await.unwrap(),
        PutOutcome::Created
    );
    let generation = gcs.json().object_resource(BUCKET, name).await.unwrap()["generation"].clone();
    // Cloud Storage answers 412 to `ifGenerationMatch=0` on an existing
    // object; the store reports it as stored by someone else.
    assert_eq!(
        store.put(object(name, b"second", "2")).await.unwrap(),
        PutOutcome::AlreadyExisted
    );
    let (bytes, _, metadata) = gcs.json().get_object(BUCKET, name).await.unwrap();
    assert_eq!(
        (bytes.as_slice(), metadata["seed"].as_str()),
        (&b"first"[..], Some("1"))
    );
    assert_eq!(
        gcs.json().object_resource(BUCKET, name).await.unwrap()["generation"],
        generation,
        "the first object was not replaced"
    );
    // And reads go through the JSON API the same way.
    let read = store.get(name).await.unwrap().unwrap();
    assert_eq!(&read.bytes[..], b"first");
    assert!(store.exists(name).await.unwrap());
    assert!(!store.exists("renders/v1/nothing.png").await.unwrap());
}

/// A pass-through to fake-gcs-server that holds the first `hold` object
/// lookups until all have arrived (so racing workers both miss and both
/// render), and records the status of every upload.
#[derive(Clone)]
struct Gate {
    upstream: String,
    http: reqwest::Client,
    lookups: Arc<AtomicUsize>,
    hold: usize,
    all_looked: Arc<tokio::sync::Barrier>,
    uploads: Arc<std::sync::Mutex<Vec<u16>>>,
}

async fn forward(State(gate): State<Gate>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let lookup = parts.method == axum::http::Method::GET
        && path.contains("/o/")
        && !path.contains("alt=media");
    if lookup && gate.lookups.fetch_add(1, Ordering::SeqCst) < gate.hold {
        // Bounded: a worker that never looks fails the test, not hangs it.
        let _ = tokio::time::timeout(SHORT, gate.all_looked.wait()).await;
    }
    let mut upstream = gate
        .http
        .request(parts.method.clone(), format!("{}{path}", gate.upstream))
        .body(body);
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST {
            upstream = upstream.header(k, v);
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = answer.status();
    if path.starts_with("/upload/") {
        gate.uploads.lock().unwrap().push(status.as_u16());
    }
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    for (k, v) in &headers {
        if k != axum::http::header::CONTENT_LENGTH && k != axum::http::header::TRANSFER_ENCODING {
            response.headers_mut().insert(k, v.clone());
        }
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_racing_on_one_spec_store_one_object_and_both_reply() {
    let Some(gcs) = suites::require("fake-gcs-server (worker)", FakeGcs::start(BUCKET).await)
    else {
        return;
    };
    let gate = Gate {
        upstream: gcs.endpoint(),
        http: reqwest::Client::new(),
        lookups: Arc::default(),
        hold: 2,
        all_looked: Arc::new(tokio::sync::Barrier::new(2)),
        uploads: Arc::default(),
    };
    let proxy = serve(
        axum::Router::new()
            .fallback(forward)
            .with_state(gate.clone()),
    )
    .await;
    let d = discord().await;
    // Two instances: separate processes' worth of state, one bucket.
    let a = start(gcs_config(&format!("http://{proxy}"), &d.api_base)).await;
    let b = start(gcs_config(&format!("http://{proxy}"), &d.api_base)).await;

    // The same spec, to both at once (two interactions asking for it).
    let (ra, rb) = tokio::join!(
        a.push(envelope(
            &job(spec(51), interaction("tok-a", 500)),
            "a",
            None
        )),
        b.push(envelope(
            &job(spec(51), interaction("tok-b", 500)),
            "b",
            None
        )),
    );
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");

    // Both looked before either stored, so both rendered and both wrote
    // create-only: Cloud Storage took one and refused the other with 412,
    // which the loser treated as stored.
    let (sa, sb) = (a.worker.stats(), b.worker.stats());
    assert_eq!((sa.renders, sb.renders), (1, 1));
    let mut uploads = gate.uploads.lock().unwrap().clone();
    uploads.sort_unstable();
    assert_eq!(uploads, vec![200, 412]);
    assert_eq!((sa.redeliver, sb.redeliver), (0, 0));

    // One object; both interactions got that image.
    let name = spec(51).resolve().unwrap().object_name();
    assert_eq!(gcs.json().list(BUCKET).await, vec![name.clone()]);
    let (stored, _, _) = gcs.json().get_object(BUCKET, &name).await.unwrap();
    for token in ["tok-a", "tok-b"] {
        let m = d.standin.message_for_token(token).unwrap();
        assert_eq!(m.attachments[0].bytes.to_vec(), stored, "{token}");
    }
    assert_eq!((sa.replied, sb.replied), (1, 1));
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
