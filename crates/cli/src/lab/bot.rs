//! The bot the lab loads: the real ingress and worker binaries, wired in
//! one of the two ways the issue asks to measure, against a Discord
//! stand-in served by the lab itself.
//!
//! - [`Mode::Local`]: the local default. The ingress delivers to the
//!   worker with its local push delivery and keeps the queue ledger in
//!   memory; nothing else is configured.
//! - [`Mode::Emulators`]: production's adapters. The official Pub/Sub
//!   emulator's ordered push subscription between them, and the queue
//!   ledger in the official Firestore emulator, shared by both.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use mandala_standin::discord::DiscordStandin;
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;

use super::processes::Service;
use crate::dev::emulators;

/// How the two services are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Local push delivery and the in-memory ledger (the default with no settings).
    Local,
    /// The Pub/Sub and Firestore emulators (production's adapters).
    Emulators,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Local => "local default",
            Mode::Emulators => "Pub/Sub + Firestore emulators",
        }
    }
}

/// The application id the lab's interactions are for.
pub const APPLICATION_ID: &str = "1100000000000000042";

/// Where the binaries and the state go.
#[derive(Debug, Clone)]
pub struct BotSetup {
    pub mode: Mode,
    pub ingress_bin: PathBuf,
    pub worker_bin: PathBuf,
    /// The worker's render slots (`RENDER_CONCURRENCY`): the cap under test.
    pub render_slots: u32,
    /// Logs, the image store, spool and dead letters.
    pub dir: PathBuf,
}

/// A running bot: keep it alive while the scenario runs.
pub struct Bot {
    pub interactions_url: String,
    pub key: SigningKey,
    pub standin: DiscordStandin,
    pub ingress: Service,
    pub worker: Service,
    _pubsub: Option<PubsubEmulator>,
    _firestore: Option<FirestoreEmulator>,
}

impl Bot {
    pub async fn start(setup: &BotSetup) -> anyhow::Result<Bot> {
        std::fs::create_dir_all(&setup.dir)?;
        let standin = DiscordStandin::new();
        let api_base = standin.serve().await?;
        let key = SigningKey::from_bytes(&[0x1a; 32]);
        let dir = |p: &str| setup.dir.join(p).display().to_string();

        let (pubsub, firestore) = match setup.mode {
            Mode::Local => (None, None),
            Mode::Emulators => (
                Some(PubsubEmulator::start().map_err(anyhow::Error::msg)?),
                Some(FirestoreEmulator::start().map_err(anyhow::Error::msg)?),
            ),
        };
        let ledger_env = |env: &mut Vec<(&str, String)>| {
            if let Some(f) = &firestore {
                env.push((
                    "FIRESTORE_DATABASE",
                    emulators::FIRESTORE_DATABASE.to_owned(),
                ));
                env.push(("FIRESTORE_EMULATOR_HOST", f.host_port()));
            }
        };

        let mut worker_env = vec![
            ("LOCAL_STORE_DIR", dir("store")),
            ("PUSH_AUTH", "none".to_owned()),
            ("DISCORD_API_BASE", api_base.clone()),
            ("RENDER_CONCURRENCY", setup.render_slots.to_string()),
            (
                "MAX_DELIVERY_ATTEMPTS",
                emulators::MAX_DELIVERY_ATTEMPTS.to_string(),
            ),
        ];
        ledger_env(&mut worker_env);
        let worker = Service::start("worker", &setup.worker_bin, &worker_env, &setup.dir).await?;

        let mut ingress_env = vec![
            (
                "DISCORD_PUBLIC_KEY",
                hex::encode(key.verifying_key().to_bytes()),
            ),
            ("DISCORD_APPLICATION_ID", APPLICATION_ID.to_owned()),
            ("DISCORD_API_BASE", api_base),
        ];
        match &pubsub {
            None => {
                ingress_env.push(("LOCAL_PUSH_URL", format!("{}/pubsub/push", worker.url)));
                ingress_env.push(("LOCAL_SPOOL_FILE", dir("pending.jsonl")));
                ingress_env.push(("LOCAL_DEAD_LETTER_FILE", dir("dead-letter.jsonl")));
            }
            Some(p) => {
                let topic = emulators::ensure_push_topic(
                    &p.host_port(),
                    &format!("{}/pubsub/push", worker.url),
                    &format!("{}/pubsub/dead-letter", worker.url),
                )
                .await?;
                ingress_env.push(("PUBSUB_TOPIC", topic));
                ingress_env.push(("PUBSUB_EMULATOR_HOST", p.host_port()));
            }
        }
        ledger_env(&mut ingress_env);
        let ingress =
            Service::start("ingress", &setup.ingress_bin, &ingress_env, &setup.dir).await?;
        Ok(Bot {
            interactions_url: format!("{}/interactions", ingress.url),
            key,
            standin,
            ingress,
            worker,
            _pubsub: pubsub,
            _firestore: firestore,
        })
    }
}

/// The release binaries beside the running `mandala` (`target/release/`).
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join(name)
}
