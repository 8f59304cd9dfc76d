//! Google Cloud Storage as the object store.
//!
//! Writes go through the official `google-cloud-storage` client
//! (`write_object` with `if_generation_match = 0`: create-only, and a 412
//! means another delivery stored it first, which is success). The image's
//! CRC32C goes with the object's metadata, computed here: Cloud Storage
//! then refuses a corrupted upload before the object exists. Left to
//! itself, the client sends the checksum as a trailing third part of the
//! multipart upload, which fake-gcs-server (what the tests run against)
//! stores as part of the image.
//!
//! Reads (the existence check before rendering, and fetching the bytes to
//! re-send an image whose object already exists) go to the JSON API
//! directly (`GET /storage/v1/b/{bucket}/o/{object}` and `?alt=media`)
//! with the same credentials. The crate's `read_object` would do for real
//! Cloud Storage, but it requires the `x-goog-generation` response header,
//! which `gcp-storage-emulator` does not send, and the crate's metadata
//! call (`StorageControl::get_object`) is gRPC only, which no emulator here
//! speaks. The JSON API works against Cloud Storage and both emulators
//! (fake-gcs-server, gcp-storage-emulator), so tests exercise the code that
//! runs in production.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::BoxFuture;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_storage::client::Storage;
use reqwest::{StatusCode, Url};

use super::{CACHE_CONTROL, NewObject, PutOutcome, Store, StoreError, StoredObject};

const NAME: &str = "cloud storage";
const GOOGLE_ENDPOINT: &str = "https://storage.googleapis.com";

pub struct GcsStore {
    bucket: String,
    endpoint: String,
    client: Storage,
    credentials: Credentials,
    http: reqwest::Client,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl GcsStore {
    /// `emulator`: `http://host:port` of an emulator, used with anonymous
    /// credentials; otherwise Google with Application Default Credentials
    /// (the service account on Cloud Run).
    pub async fn connect(bucket: &str, emulator: Option<&str>) -> Result<Self, StoreError> {
        let (endpoint, credentials) = match emulator {
            Some(e) => (
                e.trim_end_matches('/').to_owned(),
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            ),
            None => (
                GOOGLE_ENDPOINT.to_owned(),
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| StoreError::caused(NAME, "no credentials", e))?,
            ),
        };
        let mut builder = Storage::builder().with_credentials(credentials.clone());
        if emulator.is_some() {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let client = builder
            .build()
            .await
            .map_err(|e| StoreError::caused(NAME, "cannot build the client", e))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| StoreError::caused(NAME, "cannot build an HTTP client", e))?;
        Ok(GcsStore {
            bucket: bucket.to_owned(),
            endpoint,
            client,
            credentials,
            http,
        })
    }

    fn object_url(&self, name: &str, media: bool) -> Result<Url, StoreError> {
        let mut url = Url::parse(&self.endpoint)
            .map_err(|e| StoreError::caused(NAME, format!("bad endpoint {}", self.endpoint), e))?;
        url.path_segments_mut()
            .map_err(|()| StoreError::new(NAME, "endpoint cannot have a path"))?
            .pop_if_empty()
            // `push` percent-encodes the `/` inside the object name, as the JSON API needs.
            .extend(["storage", "v1", "b", &self.bucket, "o", name]);
        if media {
            url.query_pairs_mut().append_pair("alt", "media");
        }
        Ok(url)
    }

    async fn auth_headers(&self) -> Result<http::HeaderMap, StoreError> {
        match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
            Err(e) => Err(StoreError::caused(NAME, "cannot get credentials", e)),
        }
    }

    /// GETs an object (metadata or media); `None` on 404.
    async fn fetch(
        &self,
        name: &str,
        media: bool,
    ) -> Result<Option<reqwest::Response>, StoreError> {
        let url = self.object_url(name, media)?;
        let response = self
            .http
            .get(url)
            .headers(self.auth_headers().await?)
            .send()
            .await
            .map_err(|e| StoreError::caused(NAME, format!("GET {name}"), e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(response)),
            s => {
                let body = response.text().await.unwrap_or_default();
                Err(StoreError::new(
                    NAME,
                    format!(
                        "GET {name}: {s}: {}",
                        body.chars().take(300).collect::<String>()
                    ),
                ))
            }
        }
    }
}

impl Store for GcsStore {
    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.fetch(name, false).await?.is_some()) })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>> {
        Box::pin(async move {
            // Metadata first: the emulator serves media as text/plain, and
            // the stored content type is what Discord should be told.
            let Some(meta) = self.fetch(name, false).await? else {
                return Ok(None);
            };
            let meta: serde_json::Value = meta
                .json()
                .await
                .map_err(|e| StoreError::caused(NAME, format!("metadata of {name}"), e))?;
            let content_type = meta["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let Some(media) = self.fetch(name, true).await? else {
                return Ok(None);
            };
            let bytes: Bytes = media
                .bytes()
                .await
                .map_err(|e| StoreError::caused(NAME, format!("reading {name}"), e))?;
            Ok(Some(StoredObject {
                bytes,
                content_type,
            }))
        })
    }

    fn put(&self, object: NewObject) -> BoxFuture<'_, Result<PutOutcome, StoreError>> {
        Box::pin(async move {
            let metadata: BTreeMap<String, String> = object.metadata;
            let crc32c = crc32c::crc32c(&object.bytes);
            let result = self
                .client
                .write_object(
                    format!("projects/_/buckets/{}", self.bucket),
                    object.name.clone(),
                    object.bytes,
                )
                .set_content_type(object.content_type)
                .set_cache_control(CACHE_CONTROL)
                .set_metadata(metadata)
                .set_if_generation_match(0)
                .with_known_crc32c(crc32c)
                .send_unbuffered();
            // The upload future is large (30 KB): keep it on the heap.
            let result = Box::pin(result).await;
            match result {
                Ok(_) => Ok(PutOutcome::Created),
                Err(e) if e.http_status_code() == Some(412) => Ok(PutOutcome::AlreadyExisted),
                Err(e) => Err(StoreError::caused(
                    NAME,
                    format!("upload of {}", object.name),
                    e,
                )),
            }
        })
    }

    fn location(&self, name: &str) -> String {
        format!("gs://{}/{name}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn object_urls_escape_the_slashes_in_names() {
        let s = GcsStore::connect("renders", Some("http://127.0.0.1:1/"))
            .await
            .unwrap();
        assert_eq!(
            s.object_url("renders/v1/ab.png", true).unwrap().as_str(),
            "http://127.0.0.1:1/storage/v1/b/renders/o/renders%2Fv1%2Fab.png?alt=media"
        );
        assert_eq!(
            s.location("renders/v1/ab.png"),
            "gs://renders/renders/v1/ab.png"
        );
    }
}
