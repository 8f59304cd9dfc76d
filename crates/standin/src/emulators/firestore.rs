//! The official Cloud Firestore emulator, started and stopped for tests.
//!
//! It ships with the Google Cloud SDK (`cloud-firestore-emulator`, a jar)
//! and runs on Java; [`FirestoreEmulator::start`] reports why it cannot run
//! instead of failing, for [`crate::suites::require`] to turn into a loud
//! skip. The JVM is started directly (not through gcloud's launcher, which
//! would leave it behind when killed) in Firestore native mode, and killed
//! when the value is dropped. It serves the REST API the ledger uses; every
//! project id is its own empty database, so tests isolate themselves by
//! choosing a fresh one.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, is_ready, java_runs, sdk_root};

/// How long the emulator may take to come up (usually 3–5 s).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Firestore emulator on 127.0.0.1.
#[derive(Debug)]
pub struct FirestoreEmulator {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl FirestoreEmulator {
    /// Starts the emulator on a free port and waits until it serves.
    pub fn start() -> Result<FirestoreEmulator, String> {
        if !java_runs() {
            return Err("java is not installed (the Firestore emulator runs on Java)".into());
        }
        let jar =
            sdk_root()?.join("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar");
        if !jar.exists() {
            return Err(format!(
                "the Firestore emulator is not installed ({} missing; it is the google-cloud-cli-firestore-emulator package)",
                jar.display()
            ));
        }
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::env::temp_dir().join(format!("firestore-emulator-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("java")
            .arg("-Duser.language=en")
            .arg("-cp")
            .arg(&jar)
            .arg("com.google.cloud.datastore.emulator.firestore.CloudFirestore")
            .arg("start")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--database-mode=firestore-native")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("could not start the Firestore emulator: {e}"))?;
        let mut emulator = FirestoreEmulator { child, addr, log };
        let started = Instant::now();
        loop {
            if is_ready(addr) {
                warm_up(addr);
                return Ok(emulator);
            }
            if let Some(why) = super::gave_up(
                "the Firestore emulator",
                &mut emulator.child,
                &emulator.log,
                started,
                READY_TIMEOUT,
            ) {
                return Err(why);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`, the value for `FIRESTORE_EMULATOR_HOST`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

/// Runs one aggregation query, the ledger's first call, and waits for its
/// answer however long it takes. The emulator's first query compiles its
/// query engine: on a loaded machine that took more than the ledger's 5 s
/// timeout, and the first test to ask failed for it.
fn warm_up(addr: SocketAddr) {
    let body = r#"{"structuredAggregationQuery":{"structuredQuery":{"from":[{"collectionId":"warm_up"}]},"aggregations":[{"alias":"n","count":{}}]}}"#;
    let request = format!(
        "POST /v1/projects/warm-up/databases/(default)/documents:runAggregationQuery HTTP/1.1\r\n\
         Host: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(READY_TIMEOUT));
    if std::io::Write::write_all(&mut s, request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut answer);
    }
}

impl Drop for FirestoreEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
