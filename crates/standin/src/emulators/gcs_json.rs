//! What tests read back from a Cloud Storage emulator, over the JSON API:
//! an object's bytes and resource, the names in a bucket; and bucket
//! creation. Every emulator harness here speaks this API, so tests check
//! stored objects the same way whichever emulator stored them.

use std::fmt::Write as _;

use serde_json::Value;

/// An object read back: bytes, content type, custom metadata.
pub type StoredObject = (Vec<u8>, String, serde_json::Map<String, Value>);

/// JSON-API calls against one emulator endpoint.
#[derive(Debug, Clone)]
pub struct JsonApi {
    http: reqwest::Client,
    endpoint: String,
}

/// Percent-encodes an object name as one path segment (`/` included).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl JsonApi {
    /// `endpoint`: `http://host:port`, no trailing slash.
    pub fn new(endpoint: String) -> JsonApi {
        JsonApi {
            http: reqwest::Client::new(),
            endpoint,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn get_json(&self, url: &str) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// Creates `bucket` (in project `test`). `Err` with the emulator's answer.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        let url = format!("{}/storage/v1/b?project=test", self.endpoint);
        let r = self
            .http
            .post(&url)
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        if r.status().is_success() {
            Ok(())
        } else {
            let status = r.status();
            Err(format!(
                "POST {url}: {status}: {}",
                r.text().await.unwrap_or_default()
            ))
        }
    }

    /// An object's bytes, content type and custom metadata, if it exists.
    pub async fn get_object(&self, bucket: &str, name: &str) -> Option<StoredObject> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint,
            encode_segment(name)
        );
        let meta = self.get_json(&url).await?;
        let media = self
            .http
            .get(format!("{url}?alt=media"))
            .send()
            .await
            .ok()?;
        if !media.status().is_success() {
            return None;
        }
        let bytes = media.bytes().await.ok()?.to_vec();
        Some((
            bytes,
            meta["contentType"].as_str().unwrap_or_default().to_owned(),
            meta["metadata"].as_object().cloned().unwrap_or_default(),
        ))
    }

    /// An object's JSON-API resource (cacheControl, size, generation, metadata, ...).
    pub async fn object_resource(&self, bucket: &str, name: &str) -> Option<Value> {
        self.get_json(&format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint,
            encode_segment(name)
        ))
        .await
    }

    /// The names of every object in `bucket`.
    pub async fn list(&self, bucket: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = format!("{}/storage/v1/b/{bucket}/o", self.endpoint);
            if let Some(token) = &page {
                let _ = write!(url, "?pageToken={}", encode_segment(token));
            }
            let Some(listing) = self.get_json(&url).await else {
                return names;
            };
            names.extend(
                listing["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["name"].as_str().map(str::to_owned)),
            );
            match listing["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = Some(t.to_owned()),
                _ => return names,
            }
        }
    }
}
