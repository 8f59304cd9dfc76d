//! `mandala dev` stopped with Ctrl-C while it is busy (issue #24), through
//! the real binary: it exits cleanly within seconds, not after the job
//! deadline, and the jobs it had not delivered are kept for the next start,
//! which delivers them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mandala_cli::dev::{DEV_APPLICATION_ID, DevOptions, DevStack, keys};
use mandala_e2e::{free_port, send_commands, wait_healthy};
use mandala_model::RenderSpec;

/// Long enough for a stop that lets the running renders end; far shorter
/// than the job deadline (50 s) the replies used to retry until.
const STOPS_WITHIN: Duration = Duration::from_secs(20);

/// Jobs sent, each heavy enough (a 2048-pixel edge, 12 layers of 32
/// elements) that one render slot is still busy with them at the signal.
const JOBS: u64 = 12;

/// `mandala dev` in a process of its own, killed if the test fails.
struct Dev {
    child: Child,
    log: std::path::PathBuf,
}

impl Dev {
    fn start(state: &Path, port: u16, worker_port: u16) -> Dev {
        let log = state.with_file_name("dev.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_e2e-mandala"))
            .arg("dev")
            .args(["--port", &port.to_string()])
            .args(["--worker-port", &worker_port.to_string()])
            .args(["--render-concurrency", "1"])
            .arg("--dir")
            .arg(state)
            .env_remove("DISCORD_PUBLIC_KEY")
            .env_remove("DISCORD_APPLICATION_ID")
            .env_remove("DISCORD_API_BASE")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Dev { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C, as a terminal sends it.
    fn interrupt(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -INT failed");
    }

    /// How the process ended, if it did by `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn heavy(seed: u64) -> RenderSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(2048),
        layers: Some(12),
        elements: Some(32),
        ..RenderSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_under_load_stops_within_seconds_and_keeps_what_was_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".mandala");
    std::fs::create_dir_all(&state).unwrap();
    let key = keys::load_or_create(&state).unwrap();
    let (port, worker_port) = (free_port(), free_port());
    let mut dev = Dev::start(&state, port, worker_port);
    let base = format!("http://127.0.0.1:{port}");
    if let Err(e) = wait_healthy(&format!("{base}/"), Duration::from_secs(60)).await {
        panic!("{e}\n{}", dev.output());
    }

    let specs = (0..JOBS).map(|i| heavy(7_000 + i)).collect();
    let sent = send_commands(
        &format!("{base}/interactions"),
        &key,
        DEV_APPLICATION_ID,
        specs,
        8,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", dev.output()));
    // The worker is busy with them: the first image is stored.
    let store = state.join("store");
    let busy = Instant::now() + Duration::from_secs(60);
    while mandala_e2e::stored_objects(&store).is_empty() && Instant::now() < busy {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !mandala_e2e::stored_objects(&store).is_empty(),
        "{}",
        dev.output()
    );

    dev.interrupt();
    let status = dev.wait_exit(STOPS_WITHIN);
    let output = dev.output();
    let status =
        status.unwrap_or_else(|| panic!("still running {STOPS_WITHIN:?} after Ctrl-C:\n{output}"));
    assert!(status.success(), "{status}:\n{output}");
    assert!(output.contains("stopped cleanly"), "{output}");

    let spool = std::fs::read_to_string(state.join("pending.jsonl")).unwrap_or_default();
    let kept = spool.lines().count();
    assert!(
        kept > 0,
        "with one render slot, {JOBS} heavy jobs cannot all be done at the signal:\n{output}"
    );
    let dead = std::fs::read_to_string(state.join("dead-letter.jsonl")).unwrap_or_default();
    assert!(dead.trim().is_empty(), "nothing was dead-lettered: {dead}");

    // The next start delivers what was kept.
    let second = DevStack::start(DevOptions::ephemeral(state.clone()))
        .await
        .unwrap();
    let standin = second.standin.clone().unwrap();
    let images = standin
        .wait_for_images(kept, Duration::from_secs(120))
        .await;
    assert!(
        images.len() >= kept,
        "{} of the {kept} kept jobs were delivered after the restart",
        images.len()
    );
    let tokens: std::collections::HashSet<_> = sent.iter().map(|s| s.token.clone()).collect();
    for m in &images {
        assert!(tokens.contains(m.token.as_deref().unwrap_or_default()));
    }
    second.shutdown().await;
}
