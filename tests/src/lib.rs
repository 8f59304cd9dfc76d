//! End-to-end tests of Mandala Bot: several components started together and
//! driven over real HTTP, the way Discord and Pub/Sub drive them.
//!
//! The tests live in `tests/tests/`:
//! - `embedded.rs`: `mandala dev`'s in-process stack, 200 interactions.
//! - `faults.rs`: worker restarts, Discord 429/500s and store outages; nothing lost or doubled.
//! - `dependencies.rs`: the real binaries on the emulators with each
//!   dependency in turn slow, failing and hanging; the promises of issue #20
//!   checked on what Discord received ([`invariants`]).
//! - `emulators.rs`: the real binaries as separate processes through the official
//!   Pub/Sub emulator and gcp-storage-emulator, plus a `gcloud pubsub topics publish` job.
//! - `browser.rs`: the playground's round trip in headless Chromium.
//! - `contracts.rs`: every payload the bot sends Discord, against Discord's
//!   OpenAPI description and documented limits ([`contract`]).
//! - `docs.rs`: the commands of README.md and docs/*.md marked for it, run
//!   as written against `mandala dev` in each design.
//!
//! This library holds what those tests share: sending batches of signed
//! interactions, checking replied images, child processes that die with
//! the test, the contract checker for Discord's API, and the checker of
//! the bot's promises to users ([`invariants`]).

pub mod contract;
pub mod invariants;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandala_cli::dev::client;
use mandala_model::discord::{InteractionResponse, ResponseType, flags};
use mandala_model::{RenderSpec, ResolvedSpec};

/// The repository root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One interaction sent: its token (which names its reply) and what it asked for.
#[derive(Debug, Clone)]
pub struct Sent {
    pub token: String,
    pub interaction_id: String,
    pub spec: RenderSpec,
}

/// Signs and sends one `/mandala` per spec, `concurrency` at a time, and
/// checks each was acknowledged with a visible (non-ephemeral) message.
pub async fn send_commands(
    url: &str,
    key: &SigningKey,
    application_id: &str,
    specs: Vec<RenderSpec>,
    concurrency: usize,
) -> Result<Vec<Sent>, String> {
    let sent = send_commands_answered(url, key, application_id, specs, concurrency).await?;
    Ok(sent.into_iter().map(|(s, _)| s).collect())
}

/// [`send_commands`] that also accepts the single design's inline answer
/// (202 with no body: the image went through the interaction callback);
/// each [`Sent`] comes with whether it was answered inline.
pub async fn send_commands_answered(
    url: &str,
    key: &SigningKey,
    application_id: &str,
    specs: Vec<RenderSpec>,
    concurrency: usize,
) -> Result<Vec<(Sent, bool)>, String> {
    let http = reqwest::Client::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let (http, key, gate, url, app) = (
            http.clone(),
            key.clone(),
            gate.clone(),
            url.to_owned(),
            application_id.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            // Each from a user of its own: these tests are about delivery,
            // not about one user's queue limit.
            let user = (4_000_000_000_000_000_000u64 + i as u64).to_string();
            let outgoing = client::command_as(&app, &user, &spec);
            let answer = client::send(&http, &url, &key, &outgoing)
                .await
                .map_err(|e| e.to_string())?;
            let inline = answer.status == 202 && answer.text.is_empty();
            if !inline {
                check_acknowledged(answer.status, answer.response.as_ref(), &answer.text)?;
            }
            Ok::<_, String>((
                Sent {
                    token: outgoing.token,
                    interaction_id: outgoing.id,
                    spec,
                },
                inline,
            ))
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(sent)
}

/// One spec per seed, at a small size so that many renders stay quick.
pub fn seeded_specs(seeds: std::ops::Range<u64>, size: u32) -> Vec<RenderSpec> {
    seeds
        .map(|seed| RenderSpec {
            seed: Some(seed),
            size: Some(size),
            ..RenderSpec::default()
        })
        .collect()
}

/// The ingress must answer 200 with a visible channel message.
pub fn check_acknowledged(
    status: u16,
    response: Option<&InteractionResponse>,
    text: &str,
) -> Result<(), String> {
    let response =
        response.ok_or_else(|| format!("status {status}, not an interaction response: {text}"))?;
    if status != 200 || response.kind != ResponseType::ChannelMessageWithSource {
        return Err(format!("status {status}: {text}"));
    }
    let data = response
        .data
        .as_ref()
        .ok_or("acknowledgement without data")?;
    if data
        .message
        .flags
        .is_some_and(|f| f & flags::EPHEMERAL != 0)
    {
        return Err(format!("ephemeral refusal: {text}"));
    }
    Ok(())
}

/// Decodes a replied image and returns the spec embedded in it.
pub fn check_image(bytes: &[u8]) -> Result<ResolvedSpec, String> {
    let img = image::load_from_memory(bytes).map_err(|e| format!("not a decodable image: {e}"))?;
    if img.width() == 0 || img.height() == 0 {
        return Err("empty image".into());
    }
    let spec =
        mandala_render::spec_from_image(bytes).map_err(|e| format!("no embedded spec: {e}"))?;
    if (img.width(), img.height()) != (spec.size, spec.size) {
        return Err(format!(
            "image is {}x{}, spec says {}",
            img.width(),
            img.height(),
            spec.size
        ));
    }
    Ok(spec)
}

/// Images (PNG, WebP) under a local store's render directory.
pub fn stored_objects(store: &Path) -> Vec<PathBuf> {
    let dir = store
        .join("renders")
        .join(format!("v{}", mandala_model::RENDER_VERSION));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "webp"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Indexes sent interactions by token.
pub fn by_token(sent: &[Sent]) -> HashMap<String, Sent> {
    sent.iter().map(|s| (s.token.clone(), s.clone())).collect()
}

/// A child process that is killed when the test ends, pass or fail.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl ChildGuard {
    /// Starts `program` with exactly `env` added; stdout and stderr go to a log file.
    pub fn spawn(
        name: &str,
        program: &str,
        env: &[(&str, String)],
        log_dir: &Path,
    ) -> std::io::Result<ChildGuard> {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(ChildGuard {
            child: cmd.spawn()?,
            name: name.to_owned(),
            log,
        })
    }

    /// The process's output so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `GET url` until it answers 2xx.
pub async fn wait_healthy(url: &str, timeout: Duration) -> Result<(), String> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{url} not healthy after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}
