//! The ingress's configuration: one definition per setting, read from the
//! environment (and, for local runs, from flags of the same name).
//!
//! This struct is also the source of truth for deployment checks: the
//! Terraform test derives the set of variables the binary reads from it.

use clap::Parser;
use ed25519_dalek::VerifyingKey;

/// Settings of `mandala-ingress`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mandala-ingress",
    version,
    about = "Verifies Discord interactions and publishes render jobs"
)]
pub struct Config {
    /// TCP port to listen on (Cloud Run sets it).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// The Google Cloud project, for trace correlation in Cloud Logging (set by Terraform).
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub google_cloud_project: Option<String>,

    /// The application's Ed25519 public key from the Developer Portal, as 64 hex digits.
    #[arg(long, env = "DISCORD_PUBLIC_KEY", value_parser = parse_public_key, hide_env_values = true)]
    pub discord_public_key: VerifyingKey,

    /// When set, interactions for any other application are rejected with 401.
    #[arg(long, env = "DISCORD_APPLICATION_ID")]
    pub discord_application_id: Option<String>,

    /// Publish jobs to this Pub/Sub topic, `projects/P/topics/T`.
    #[arg(long, env = "PUBSUB_TOPIC", value_parser = parse_topic)]
    pub pubsub_topic: Option<String>,

    /// `host:port` of a Pub/Sub emulator; uses it with anonymous credentials.
    #[arg(long, env = "PUBSUB_EMULATOR_HOST")]
    pub pubsub_emulator_host: Option<String>,

    /// Deliver jobs by POSTing push envelopes to this URL (the local stand-in for a push subscription).
    #[arg(long, env = "LOCAL_PUSH_URL")]
    pub local_push_url: Option<String>,

    /// Local push delivery: where messages that exhausted their attempts are appended (JSON lines).
    #[arg(
        long,
        env = "LOCAL_DEAD_LETTER_FILE",
        default_value = ".mandala/dead-letter.jsonl"
    )]
    pub local_dead_letter_file: std::path::PathBuf,

    /// Local push delivery: attempts before a message is dead-lettered.
    #[arg(long, env = "LOCAL_PUSH_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub local_push_max_attempts: u32,

    /// Reject signed requests whose timestamp is further than this from now; 0 turns the check off.
    #[arg(long, env = "SIGNATURE_MAX_AGE_SECS", default_value_t = 60)]
    pub signature_max_age_secs: u64,

    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1024..=10_485_760))]
    pub max_body_bytes: u64,

    /// How long publishing may take before the user is told to try again, in milliseconds.
    /// Discord allows 3 s for the whole answer; keep well below.
    #[arg(long, env = "PUBLISH_TIMEOUT_MS", default_value_t = 1500, value_parser = clap::value_parser!(u64).range(50..=2500))]
    pub publish_timeout_ms: u64,
}

fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(hex_key.trim()).map_err(|e| format!("not hex: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes (64 hex digits), got {}", b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

fn parse_topic(topic: &str) -> Result<String, String> {
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty() => Ok(topic.to_owned()),
        _ => Err("expected projects/PROJECT/topics/TOPIC".into()),
    }
}
