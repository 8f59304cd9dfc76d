//! `gcp-storage-emulator` (PyPI), started and stopped for tests.
//!
//! A small Python server speaking Cloud Storage's JSON API (no gRPC).
//! [`super::fake_gcs`] is the emulator the storage suites run against; this
//! one stays for what it adds: a second, quirkier implementation that
//! `mandala dev --gcs-emulator` users may run, so the worker's adapter is
//! checked against both. It does not enforce preconditions
//! (`ifGenerationMatch=0` overwrites) and its media downloads are
//! `text/plain` and lack the headers `google-cloud-storage`'s `read_object`
//! requires.
//!
//! `.ci/run` installs it into the workspace's `.venv/`; when it is not
//! there (nor on `PATH`), [`GcsEmulator::start`] says so, for
//! [`crate::suites::require`] to turn into a loud skip. The process is
//! killed when the value is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gcs_json::JsonApi;

/// How long the emulator may take to come up (usually well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running emulator on 127.0.0.1 with one bucket.
#[derive(Debug)]
pub struct GcsEmulator {
    child: Child,
    json: JsonApi,
    log: PathBuf,
}

fn binary() -> Result<PathBuf, String> {
    let venv = super::workspace_root().join(".venv/bin/gcp-storage-emulator");
    if venv.exists() {
        return Ok(venv);
    }
    super::on_path("gcp-storage-emulator").ok_or_else(|| {
        format!(
            "gcp-storage-emulator is not installed (neither {} nor on PATH; `.ci/run` installs tests/requirements.txt into .venv)",
            venv.display()
        )
    })
}

impl GcsEmulator {
    /// Starts the emulator on a free port with `bucket` created, and waits
    /// until it serves. `Err` says why it cannot run here.
    pub async fn start(bucket: &str) -> Result<GcsEmulator, String> {
        let bin = binary()?;
        let port = super::free_port()?;
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
            json: JsonApi::new(format!("http://127.0.0.1:{port}")),
            log,
        };
        let started = Instant::now();
        loop {
            let probe = emulator
                .json
                .http()
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
        self.json.endpoint().to_owned()
    }

    /// Reads back what was stored.
    pub fn json(&self) -> &JsonApi {
        &self.json
    }
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
