//! The playground's round trip in headless Chromium: the page signs nothing
//! itself, so this proves the page, its API, the ingress, the local push
//! delivery, the worker and the stand-in work together from a browser.
//!
//! Needs Debian's `chromium`, Node.js and `tests/browser/node_modules`
//! (`npm ci --prefix tests/browser`, done by `.ci/run`); skips loudly without.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::Path;
use std::time::Duration;

use mandala_cli::dev::{DevOptions, DevStack, Topology};
use mandala_e2e::workspace_root;
use mandala_standin::suites;

fn tools() -> Result<(), String> {
    if !Path::new("/usr/bin/chromium").exists() {
        return Err("no /usr/bin/chromium (apt-get install chromium)".into());
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("no node".into());
    }
    if !workspace_root()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Err("tests/browser/node_modules missing (npm ci --prefix tests/browser)".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn playground_round_trip_in_chromium() {
    round_trip(Topology::Pubsub, "playground-roundtrip.png").await;
}

/// The single design answers the playground's small jobs inline (Discord's
/// 202 with the image sent through the callback): the page must show them
/// as it shows edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn playground_round_trip_in_chromium_with_the_single_design() {
    round_trip(Topology::Single, "playground-roundtrip-single.png").await;
}

async fn round_trip(topology: Topology, screenshot: &str) {
    if suites::require("browser (playground in chromium)", tools()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = DevOptions {
        topology,
        ..DevOptions::ephemeral(dir.path().join(".mandala"))
    };
    let stack = DevStack::start(options).await.unwrap();
    let screenshot = workspace_root().join("target").join(screenshot);
    let script = workspace_root().join("tests/browser/roundtrip.mjs");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(format!("{}/", stack.base_url))
        .arg(&screenshot)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("browser test timed out")
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "browser round trip failed (screenshot: {}):\n{log}",
        screenshot.display()
    );
    let standin = stack.standin.clone().unwrap();
    assert!(
        standin.messages().len() >= 4,
        "the command, U2, the remix and the user menu all replied"
    );
    stack.shutdown().await;
}
