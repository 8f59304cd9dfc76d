//! The ingress's configuration: one definition per setting, read from the
//! environment (and, for local runs, from flags of the same name).
//!
//! This struct is also the source of truth for deployment checks: the
//! Terraform test derives the set of variables the binary reads from it.
//! What the worker reads too (Cloud Run's port, the HTTP limits, Discord's
//! API base) is defined once in [`mandala_service::config`] and flattened
//! in, with the ingress's defaults ([`IngressHttp`]). Where jobs go is
//! [`publish`].

use clap::Parser;
use ed25519_dalek::VerifyingKey;
use mandala_service::config::{
    CloudRun, DiscordApi, HttpDefaults, HttpSettings, SettingError, given, is_host_port,
};

use crate::signing::PublicKey;

pub use publish::PublishTarget;

mod publish;

/// The ingress's HTTP defaults: Discord allows 3 s for a whole
/// interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressHttp;

impl HttpDefaults for IngressHttp {
    const HEADER_READ_TIMEOUT_MS: u64 = 5000;
    const BODY_READ_TIMEOUT_MS: u64 = 3000;
    const BODY_READ_TIMEOUT_MAX_MS: u64 = 60_000;
    const IDLE_TIMEOUT_SECS: u64 = 60;
    const MAX_CONNECTIONS: u32 = 1024;
    const DRAIN_SECS: u64 = 5;
}

/// Settings of `mandala-ingress`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mandala-ingress",
    version,
    about = "Verifies Discord interactions and publishes render jobs"
)]
pub struct Config {
    #[command(flatten)]
    pub cloud_run: CloudRun,

    /// The application's Ed25519 public key from the Developer Portal, as 64 hex digits.
    #[arg(long, env = "DISCORD_PUBLIC_KEY", value_parser = parse_public_key, hide_env_values = true)]
    pub discord_public_key: PublicKey,

    /// When set, interactions for any other application are rejected with 401.
    #[arg(long, env = "DISCORD_APPLICATION_ID")]
    pub discord_application_id: Option<String>,

    /// Publish jobs to this Pub/Sub topic, `projects/P/topics/T`.
    #[arg(long, env = "PUBSUB_TOPIC", value_parser = mandala_service::config::parse_topic)]
    pub pubsub_topic: Option<String>,

    /// `host:port` of a Pub/Sub emulator; uses it with anonymous credentials.
    #[arg(long, env = "PUBSUB_EMULATOR_HOST")]
    pub pubsub_emulator_host: Option<String>,

    /// Deliver jobs by POSTing push envelopes to this URL (the local stand-in for a push subscription).
    #[arg(long, env = "LOCAL_PUSH_URL")]
    pub local_push_url: Option<String>,

    /// Queue jobs as tasks on this Cloud Tasks queue, `projects/P/locations/L/queues/Q`.
    #[arg(long, env = "CLOUD_TASKS_QUEUE", value_parser = publish::parse_queue)]
    pub cloud_tasks_queue: Option<String>,

    /// With CLOUD_TASKS_QUEUE: where each task is dispatched, the worker's `/tasks/run` URL.
    #[arg(long, env = "CLOUD_TASKS_URL")]
    pub cloud_tasks_url: Option<String>,

    /// With CLOUD_TASKS_QUEUE: the service account whose OIDC token each dispatch carries
    /// (the worker's PUSH_SERVICE_ACCOUNT). Unset: no token.
    #[arg(long, env = "CLOUD_TASKS_SERVICE_ACCOUNT")]
    pub cloud_tasks_service_account: Option<String>,

    /// With CLOUD_TASKS_SERVICE_ACCOUNT: the token's audience (the worker's PUSH_AUDIENCE);
    /// unset, Cloud Tasks uses CLOUD_TASKS_URL.
    #[arg(long, env = "CLOUD_TASKS_AUDIENCE")]
    pub cloud_tasks_audience: Option<String>,

    /// `host:port` of a Cloud Tasks twin (`mandala-standin`); used over plain HTTP with
    /// anonymous credentials.
    #[arg(long, env = "CLOUD_TASKS_EMULATOR_HOST")]
    pub cloud_tasks_emulator_host: Option<String>,

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

    /// Local push delivery: where queued and unacknowledged messages are kept across a
    /// restart (written on shutdown, delivered and removed on start).
    #[arg(
        long,
        env = "LOCAL_SPOOL_FILE",
        default_value = ".mandala/pending.jsonl"
    )]
    pub local_spool_file: std::path::PathBuf,

    /// Local push delivery: how many unacknowledged messages may be held; beyond this,
    /// publishing fails and the user is asked to try again.
    #[arg(long, env = "LOCAL_PUSH_QUEUE_CAPACITY", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub local_push_queue_capacity: u32,

    /// Local push delivery: POSTs in flight at once (the worker renders several jobs in parallel).
    #[arg(long, env = "LOCAL_PUSH_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub local_push_concurrency: u32,

    /// Local push delivery: how long one POST may take before it counts as a failed attempt
    /// (a push subscription's ack deadline), in seconds.
    #[arg(long, env = "LOCAL_PUSH_ACK_DEADLINE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub local_push_ack_deadline_secs: u64,

    /// Reject signed requests whose timestamp is further than this from now; 0 turns the check off.
    #[arg(long, env = "SIGNATURE_MAX_AGE_SECS", default_value_t = 60)]
    pub signature_max_age_secs: u64,

    /// Interaction ids remembered for replay protection (about 30 bytes each); when all are
    /// still inside their window, new interactions get the ephemeral try-again.
    #[arg(long, env = "REPLAY_MEMORY_IDS", default_value_t = 131_072, value_parser = clap::value_parser!(u32).range(1024..=4_194_304))]
    pub replay_memory_ids: u32,

    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1024..=10_485_760))]
    pub max_body_bytes: u64,

    /// Every valid interaction is answered within this many milliseconds of its arrival,
    /// whatever the queue ledger, Pub/Sub or Cloud Tasks do: they get what is left of it.
    /// Discord allows 3 s including the network between it and this service; keep well below.
    #[arg(long, env = "ANSWER_BUDGET_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(300..=2800))]
    pub answer_budget_ms: u64,

    /// How long publishing may take before the user is told to try again, in milliseconds,
    /// at most (it also gets no more than what is left of ANSWER_BUDGET_MS).
    #[arg(long, env = "PUBLISH_TIMEOUT_MS", default_value_t = 1500, value_parser = clap::value_parser!(u64).range(50..=2500))]
    pub publish_timeout_ms: u64,

    #[command(flatten)]
    pub http: HttpSettings<IngressHttp>,

    /// Jobs one user may have waiting or rendering at once (button clicks count too); beyond
    /// this they are told, privately, how many they have queued. 0 means no limit.
    #[arg(long, env = "MAX_QUEUED_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_queued_per_user: u32,

    /// Which commands answer with a grid of four candidates unless the user says otherwise
    /// (`/mandala grid:false` gives one image): a comma-separated list of `mandala` (the slash
    /// command), `remix` (the Remix form) and `user` (the "Mandala for this user" menu); empty
    /// for none.
    #[arg(long, env = "GRID_COMMANDS", default_value = "mandala,remix,user", value_parser = parse_grid_commands)]
    pub grid_commands: GridDefaults,

    /// Keep the queue ledger (per-user caps, wait estimates) in this Firestore database,
    /// `projects/P/databases/D`, shared by every instance. Required with PUBSUB_TOPIC; with
    /// LOCAL_PUSH_URL the ledger is kept in memory unless this is set.
    #[arg(long, env = "FIRESTORE_DATABASE", value_parser = parse_database)]
    pub firestore_database: Option<String>,

    /// `host:port` of a Firestore emulator; used with no credentials.
    #[arg(long, env = "FIRESTORE_EMULATOR_HOST")]
    pub firestore_emulator_host: Option<String>,

    /// How long the ledger may take to admit a job, in milliseconds (at most; admission also
    /// leaves a quarter of ANSWER_BUDGET_MS for publishing). Past it (or if the ledger fails)
    /// the job is queued anyway, without an estimate, while this instance has let fewer than
    /// MAX_QUEUED_PER_USER of the user's jobs through in the last minute; beyond that it is
    /// refused as over the cap.
    #[arg(long, env = "LEDGER_TIMEOUT_MS", default_value_t = 800, value_parser = clap::value_parser!(u64).range(50..=2000))]
    pub ledger_timeout_ms: u64,

    /// Local push delivery: the first retry delay after a failed attempt, in milliseconds; each
    /// further retry waits twice as long, up to LOCAL_PUSH_MAX_BACKOFF_MS (the shape of a push
    /// subscription's exponential retry policy).
    #[arg(long, env = "LOCAL_PUSH_MIN_BACKOFF_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub local_push_min_backoff_ms: u64,

    /// Local push delivery: the longest retry delay, in milliseconds.
    #[arg(long, env = "LOCAL_PUSH_MAX_BACKOFF_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub local_push_max_backoff_ms: u64,

    /// Local push delivery: where a job that failed its last attempt is POSTed, like the
    /// dead-letter topic's push subscription, so the worker can tell its user. Defaults to
    /// LOCAL_PUSH_URL with its last path segment replaced by `dead-letter`.
    #[arg(long, env = "LOCAL_DEAD_LETTER_URL")]
    pub local_dead_letter_url: Option<String>,

    #[command(flatten)]
    pub discord: DiscordApi,
}

/// Where the queue ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerChoice {
    /// In this process: exact when one ingress sees every job (local delivery).
    Memory,
    Firestore {
        database: String,
        emulator_host: Option<String>,
    },
}

/// A contradiction between settings, naming the variables involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "set exactly one of PUBSUB_TOPIC (publish to Google Cloud Pub/Sub), CLOUD_TASKS_QUEUE (create Cloud Tasks) and LOCAL_PUSH_URL (deliver locally); none is set"
    )]
    NoPublisher,
    #[error("set exactly one of PUBSUB_TOPIC, CLOUD_TASKS_QUEUE and LOCAL_PUSH_URL, not {0}")]
    BothPublishers(String),
    #[error(
        "CLOUD_TASKS_QUEUE needs CLOUD_TASKS_URL: where the tasks are dispatched (the worker's /tasks/run)"
    )]
    NoTasksUrl,
    #[error("{var} only applies with CLOUD_TASKS_QUEUE")]
    TasksOnly { var: &'static str },
    #[error("CLOUD_TASKS_SERVICE_ACCOUNT={0:?} is not a service account email")]
    BadTasksAccount(String),
    #[error(
        "CLOUD_TASKS_AUDIENCE needs CLOUD_TASKS_SERVICE_ACCOUNT: without a token there is no audience"
    )]
    AudienceWithoutAccount,
    #[error(
        "{var} is set, but this ingress shares its process with the worker and queues jobs there (WORKER_ROLE=single): unset it"
    )]
    InProcess { var: &'static str },
    #[error(
        "LOCAL_PUSH_URL={0:?} is not an http:// URL with a host (local delivery speaks plain HTTP to a nearby process; use PUBSUB_TOPIC to reach anything further)"
    )]
    BadPushUrl(String),
    #[error("PUBSUB_EMULATOR_HOST={0:?} must be host:port (no scheme)")]
    BadEmulatorHost(String),
    #[error(
        "{0} needs FIRESTORE_DATABASE: the worker ends each job in the queue ledger, so per-user caps and wait estimates must be shared by every ingress and worker instance (projects/P/databases/D)"
    )]
    NoSharedLedger(&'static str),
    #[error("{var}={value:?} must be host:port (no scheme)")]
    BadHostPort { var: &'static str, value: String },
    #[error("LOCAL_PUSH_MIN_BACKOFF_MS ({min}) must not exceed LOCAL_PUSH_MAX_BACKOFF_MS ({max})")]
    Backoff { min: u64, max: u64 },
    #[error("{var}={value:?} is not an http(s) URL with a host")]
    BadUrl { var: &'static str, value: String },
    #[error(transparent)]
    Setting(#[from] SettingError),
}

impl Config {
    /// The HTTP server's limits.
    pub fn http_limits(&self) -> mandala_service::server::Limits {
        self.http.limits()
    }

    /// Where the queue ledger lives, checked against the publisher.
    pub fn ledger(&self) -> Result<LedgerChoice, ConfigError> {
        let shared = match self.publish_target()? {
            PublishTarget::Pubsub { .. } => Some("PUBSUB_TOPIC"),
            PublishTarget::CloudTasks(_) => Some("CLOUD_TASKS_QUEUE"),
            PublishTarget::LocalPush { .. } => None,
        };
        self.ledger_with(shared)
    }

    /// Where the queue ledger lives; `needs_shared` names the setting that
    /// makes an in-memory one wrong (other processes end the jobs).
    pub(crate) fn ledger_with(
        &self,
        needs_shared: Option<&'static str>,
    ) -> Result<LedgerChoice, ConfigError> {
        let database = given(self.firestore_database.as_deref());
        let emulator = given(self.firestore_emulator_host.as_deref());
        match (database, needs_shared) {
            (Some(database), _) => {
                if let Some(host) = emulator
                    && !is_host_port(host)
                {
                    return Err(ConfigError::BadHostPort {
                        var: "FIRESTORE_EMULATOR_HOST",
                        value: host.to_owned(),
                    });
                }
                Ok(LedgerChoice::Firestore {
                    database: database.to_owned(),
                    emulator_host: emulator.map(str::to_owned),
                })
            }
            (None, Some(var)) => Err(ConfigError::NoSharedLedger(var)),
            (None, None) => Ok(LedgerChoice::Memory),
        }
    }

    /// DISCORD_API_BASE as a URL without a trailing slash, a query or a
    /// fragment.
    pub fn discord_base(&self) -> Result<reqwest::Url, ConfigError> {
        Ok(self.discord.base()?)
    }

    /// Every cross-setting check, so a bad deployment fails at start.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_embedded(false, false)
    }

    /// [`Config::check`] for an ingress embedded with a worker: `in_process`
    /// (jobs go to that worker, so no publisher may be configured) and
    /// `shared_memory_ledger` (the caller shares the in-memory ledger with
    /// that worker, so a cloud publisher needs no Firestore).
    pub fn check_embedded(
        &self,
        in_process: bool,
        shared_memory_ledger: bool,
    ) -> Result<(), ConfigError> {
        if in_process {
            for (var, value) in [
                ("PUBSUB_TOPIC", &self.pubsub_topic),
                ("CLOUD_TASKS_QUEUE", &self.cloud_tasks_queue),
                ("LOCAL_PUSH_URL", &self.local_push_url),
            ] {
                if given(value.as_deref()).is_some() {
                    return Err(ConfigError::InProcess { var });
                }
            }
            self.no_tasks_settings()?;
            self.ledger_with(None)?;
        } else {
            let target = self.publish_target()?;
            if let PublishTarget::LocalPush { url } = &target {
                self.dead_letter_url(url)?;
            }
            if shared_memory_ledger {
                self.ledger_with(None)?;
            } else {
                self.ledger()?;
            }
        }
        self.discord_base()?;
        if self.local_push_min_backoff_ms > self.local_push_max_backoff_ms {
            return Err(ConfigError::Backoff {
                min: self.local_push_min_backoff_ms,
                max: self.local_push_max_backoff_ms,
            });
        }
        Ok(())
    }
}

/// Which commands make a grid when the user does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridDefaults {
    pub mandala: bool,
    pub remix: bool,
    pub user: bool,
}

fn parse_grid_commands(list: &str) -> Result<GridDefaults, String> {
    let mut d = GridDefaults::default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "mandala" => d.mandala = true,
            "remix" => d.remix = true,
            "user" => d.user = true,
            other => {
                return Err(format!(
                    "unknown command {other:?}: use mandala, remix and/or user, comma-separated"
                ));
            }
        }
    }
    Ok(d)
}

fn parse_database(name: &str) -> Result<String, String> {
    mandala_ledger::backend::firestore::parse_database(name)
}

fn parse_public_key(hex_key: &str) -> Result<PublicKey, String> {
    let bytes = hex::decode(hex_key.trim()).map_err(|e| format!("not hex: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes (64 hex digits), got {}", b.len()))?;
    let key =
        VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))?;
    PublicKey::new(key).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const KEY: &str = "b853dd9f496723daf64bf2f5a886086f790df66e61d7b6f7f98a50c9e5ede8f3";

    pub(super) fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut all = vec!["mandala-ingress", "--discord-public-key", KEY];
        all.extend_from_slice(args);
        Config::try_parse_from(all)
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::try_parse_from(["mandala-ingress", "--discord-public-key", "zz"]).unwrap_err();
        assert!(
            e.to_string().contains("DISCORD_PUBLIC_KEY")
                || e.to_string().contains("discord-public-key"),
            "{e}"
        );
        // The identity point decodes as a key but would accept forgeries.
        let weak = format!("01{}", "00".repeat(31));
        let e =
            Config::try_parse_from(["mandala-ingress", "--discord-public-key", &weak]).unwrap_err();
        assert!(e.to_string().contains("weak"), "{e}");
        let e = parse(&["--pubsub-topic", "topics/t"]).unwrap_err();
        assert!(
            e.to_string().contains("projects/PROJECT/topics/TOPIC"),
            "{e}"
        );
    }
}
