//! `gcp-storage-emulator` (PyPI), started and stopped for tests.
//!
//! The emulator is a small Python server speaking Cloud Storage's JSON API
//! (no gRPC). `.ci/run` installs it into the workspace's `.venv/`; when it
//! is not there (nor on `PATH`), [`GcsEmulator::start`] says so, for
//! [`crate::suites::require`] to turn into a loud skip.
//!
//! It does not enforce preconditions (`ifGenerationMatch=0` overwrites) and
//! its media downloads lack the headers `google-cloud-storage`'s
//! `read_object` requires, so the helpers here read back with plain JSON-API
//! requests. The process is killed when the value is dropped.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the emulator may take to come up (usually well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running emulator on 127.0.0.1 with one bucket.
#[derive(Debug)]
pub struct GcsEmulator {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    log: PathBuf,
}

/// An object read back: bytes, content type, custom metadata.
pub type StoredObject = (Vec<u8>, String, serde_json::Map<String, Value>);

fn binary() -> Result<PathBuf, String> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = workspace.join(".venv/bin/gcp-storage-emulator");
    if venv.exists() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("gcp-storage-emulator"))
            .find(|p| p.exists())
    });
    on_path.ok_or_else(|| {
        format!(
            "gcp-storage-emulator is not installed (neither {} nor on PATH; `.ci/run` installs tests/requirements.txt into .venv)",
            venv.display()
        )
    })
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Percent-encodes an object name as one path segment (`/` included).
fn encode_segment(s: &str) -> String {
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

impl GcsEmulator {
    /// Starts the emulator on a free port with `bucket` created, and waits
    /// until it serves. `Err` says why it cannot run here.
    pub async fn start(bucket: &str) -> Result<GcsEmulator, String> {
        let bin = binary()?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::env::temp_dir().join(format!("gcs-emulator-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["start", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--in-memory", "--default-bucket", bucket])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
        let mut emulator = GcsEmulator {
            child,
            addr,
            http: reqwest::Client::new(),
            log,
        };
        let started = Instant::now();
        loop {
            let probe = emulator
                .http
                .get(format!("{}/storage/v1/b/{bucket}", emulator.endpoint()))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(emulator);
            }
            if let Some(why) = super::gave_up(
                "gcp-storage-emulator",
                &mut emulator.child,
                &emulator.log,
                started,
                READY_TIMEOUT,
            ) {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn get_json(&self, url: &str) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// An object's bytes, content type and custom metadata, if it exists.
    pub async fn get_object(&self, bucket: &str, name: &str) -> Option<StoredObject> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint(),
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

    /// An object's JSON-API resource (cacheControl, size, metadata, ...).
    pub async fn object_resource(&self, bucket: &str, name: &str) -> Option<Value> {
        self.get_json(&format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint(),
            encode_segment(name)
        ))
        .await
    }

    /// The names of every object in `bucket`.
    pub async fn list(&self, bucket: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = format!("{}/storage/v1/b/{bucket}/o", self.endpoint());
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

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
