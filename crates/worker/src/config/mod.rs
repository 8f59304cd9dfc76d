//! The worker's configuration: one definition per setting, read from the
//! environment (and, for local runs, from flags of the same name).
//!
//! This struct is also the source of truth for deployment checks: the
//! Terraform test derives the set of variables the binary reads from it.
//! What the ingress reads too (Cloud Run's port, the HTTP limits, Discord's
//! API base) is defined once in [`mandala_service::config`] and flattened
//! in, with the worker's defaults ([`WorkerHttp`]).
//!
//! - [`role`]: what this worker does, how a job reached it, the design.
//! - [`store`]: where images go.
//! - [`push`]: the OIDC check on pushes and task dispatches.
//! - [`replies`]: where the render stage hands its reply jobs.

pub mod push;
pub mod replies;
pub mod role;
pub mod store;

use std::time::Duration;

use clap::Parser;
use mandala_service::config::{
    CloudRun, DiscordApi, HttpDefaults, HttpSettings, SettingError, given, is_host_port,
};
use reqwest::Url;

pub use push::{PushAuth, PushAuthMode};
pub use replies::Replies;
pub use role::{Design, Role, Via};
pub use store::StoreChoice;

/// The worker's HTTP defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerHttp;

impl HttpDefaults for WorkerHttp {
    const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    // Push bodies are up to 13.4 MB, from inside Google's network.
    const BODY_READ_TIMEOUT_MS: u64 = 30_000;
    const BODY_READ_TIMEOUT_MAX_MS: u64 = 300_000;
    const IDLE_TIMEOUT_SECS: u64 = 60;
    // Cloud Run sends at most RENDER_CONCURRENCY pushes at once.
    const MAX_CONNECTIONS: u32 = 256;
    // Cloud Run kills the instance 10 s after SIGTERM.
    const DRAIN_SECS: u64 = 8;
}

/// Settings of `mandala-worker`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mandala-worker",
    version,
    about = "Renders jobs pushed by Pub/Sub or Cloud Tasks, stores them and replies on Discord"
)]
pub struct Config {
    #[command(flatten)]
    pub cloud_run: CloudRun,

    /// What this service does: `all` renders, stores and replies; `render` renders and stores,
    /// then hands a reply job to the reply stage (REPLY_TOPIC or LOCAL_REPLY_PUSH_URL);
    /// `reply` edits Discord messages from reply jobs and never renders; `single` is the
    /// interactions endpoint too (the ingress's settings are then read from the environment).
    #[arg(long, env = "WORKER_ROLE", value_enum, default_value_t = Role::All)]
    pub worker_role: Role,

    /// Render role: publish reply jobs to this Pub/Sub topic, `projects/P/topics/T`.
    #[arg(long, env = "REPLY_TOPIC", value_parser = mandala_service::config::parse_topic)]
    pub reply_topic: Option<String>,

    /// `host:port` of a Pub/Sub emulator for REPLY_TOPIC; used with anonymous credentials.
    #[arg(long, env = "PUBSUB_EMULATOR_HOST")]
    pub pubsub_emulator_host: Option<String>,

    /// Render role, one machine: deliver reply jobs by POSTing push envelopes to this URL (the
    /// replier's `/pubsub/push`), with a push subscription's retries and dead letters.
    #[arg(long, env = "LOCAL_REPLY_PUSH_URL")]
    pub local_reply_push_url: Option<String>,

    /// Local reply delivery: attempts before a reply job is dead-lettered (POSTed to the
    /// replier's `/pubsub/dead-letter`, which tells the user).
    #[arg(long, env = "LOCAL_REPLY_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub local_reply_max_attempts: u32,

    /// Local reply delivery: the first retry delay in milliseconds, doubling up to
    /// LOCAL_REPLY_MAX_BACKOFF_MS.
    #[arg(long, env = "LOCAL_REPLY_MIN_BACKOFF_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub local_reply_min_backoff_ms: u64,

    /// Local reply delivery: the longest retry delay in milliseconds.
    #[arg(long, env = "LOCAL_REPLY_MAX_BACKOFF_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub local_reply_max_backoff_ms: u64,

    /// Local reply delivery: where undelivered reply jobs are kept across a restart.
    #[arg(
        long,
        env = "LOCAL_REPLY_SPOOL_FILE",
        default_value = ".mandala/pending-replies.jsonl"
    )]
    pub local_reply_spool_file: std::path::PathBuf,

    /// Local reply delivery: where reply jobs that exhausted their attempts are appended.
    #[arg(
        long,
        env = "LOCAL_REPLY_DEAD_LETTER_FILE",
        default_value = ".mandala/dead-letter-replies.jsonl"
    )]
    pub local_reply_dead_letter_file: std::path::PathBuf,

    /// Single role: answer an interaction with the image itself (through Discord's callback
    /// endpoint, inside its 3 s) when the render is predicted to take at most this many
    /// milliseconds and a render slot is free; 0 turns it off.
    #[arg(long, env = "INLINE_RENDER_MAX_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(0..=1500))]
    pub inline_render_max_ms: u64,

    /// Store images in this Cloud Storage bucket.
    #[arg(long, env = "BUCKET")]
    pub bucket: Option<String>,

    /// Store images in this local directory instead (the one-machine default).
    #[arg(long, env = "LOCAL_STORE_DIR")]
    pub local_store_dir: Option<std::path::PathBuf>,

    /// `http://host:port` of a Cloud Storage emulator; used with anonymous credentials.
    #[arg(long, env = "STORAGE_EMULATOR_HOST")]
    pub storage_emulator_host: Option<String>,

    #[command(flatten)]
    pub discord: DiscordApi,

    /// Renders running at once; defaults to the number of CPUs.
    #[arg(long, env = "RENDER_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub render_concurrency: Option<u32>,

    /// Verify the push request's OIDC token against this audience (the worker's URL). Required
    /// unless PUSH_AUTH=none.
    #[arg(long, env = "PUSH_AUDIENCE")]
    pub push_audience: Option<String>,

    /// `oidc`: every push and task dispatch must carry Google's OIDC token for PUSH_AUDIENCE,
    /// and the worker refuses to start without PUSH_AUDIENCE. `none`: no check, for local runs
    /// only (`mandala dev`, tests), where nothing else can reach the worker.
    #[arg(long = "push-auth", env = "PUSH_AUTH", value_enum, default_value_t = PushAuthMode::Oidc)]
    pub push_auth_mode: PushAuthMode,

    /// With PUSH_AUDIENCE: the service account the token must be for.
    #[arg(long, env = "PUSH_SERVICE_ACCOUNT")]
    pub push_service_account: Option<String>,

    /// For tests only: fetch the OIDC signing keys from this JWKS URL instead of Google's.
    #[arg(long, env = "PUSH_JWKS_URL", hide = true)]
    pub push_jwks_url: Option<String>,

    /// For tests only: read webhook secrets from a Secret Manager stand-in at this URL
    /// (`http://127.0.0.1:PORT`), without credentials, instead of Google's API.
    #[arg(long, env = "SECRET_MANAGER_ENDPOINT", hide = true)]
    pub secret_manager_endpoint: Option<String>,

    /// Everything one push may take, in seconds; keep below the subscription's ack deadline.
    #[arg(long, env = "JOB_DEADLINE_SECS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(5..=590))]
    pub job_deadline_secs: u64,

    #[command(flatten)]
    pub http: HttpSettings<WorkerHttp>,

    /// The push subscription's delivery attempts before a job is dead-lettered (its
    /// `max_delivery_attempts`; with local delivery, LOCAL_PUSH_MAX_ATTEMPTS). On the last
    /// attempt a job that cannot be finished tells its user so instead of asking again.
    #[arg(long, env = "MAX_DELIVERY_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_delivery_attempts: u32,

    /// Keep the queue ledger in this Firestore database, `projects/P/databases/D` (the
    /// ingress's FIRESTORE_DATABASE): mark jobs started and ended, report this instance's
    /// speed, and send waiting notices. Unset with local push delivery, which keeps it.
    #[arg(long, env = "FIRESTORE_DATABASE", value_parser = parse_database)]
    pub firestore_database: Option<String>,

    /// `host:port` of a Firestore emulator; used with no credentials.
    #[arg(long, env = "FIRESTORE_EMULATOR_HOST")]
    pub firestore_emulator_host: Option<String>,

    /// How long a ledger call (marking a job started or ended, reporting speed) may take, in
    /// milliseconds. Past it the worker goes on without the ledger: a slow shared store must not
    /// stop rendering (a cancelled job may then be rendered anyway).
    #[arg(long, env = "LEDGER_TIMEOUT_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(50..=30_000))]
    pub ledger_timeout_ms: u64,

    /// Jobs Cloud Tasks delivers (which have no dead-letter route): a job whose latest attempt
    /// started this many seconds ago, with no attempt since and no end, has stalled (its last
    /// attempt never reached a worker, or its worker died) and its user gets the final word.
    /// Keep it above JOB_DEADLINE_SECS plus the queue's longest retry backoff. 0 turns the
    /// watchdog off. Needs FIRESTORE_DATABASE.
    #[arg(long, env = "STALL_AFTER_SECS", default_value_t = DEFAULT_STALL_AFTER_SECS, value_parser = clap::value_parser!(u64).range(0..=840))]
    pub stall_after_secs: u64,
}

/// The stall watchdog's default: above the default job deadline (50 s)
/// plus the queue's default longest backoff (300 s), with room to spare.
pub const DEFAULT_STALL_AFTER_SECS: u64 = 420;

fn parse_database(name: &str) -> Result<String, String> {
    mandala_ledger::backend::firestore::parse_database(name)
}

/// A missing or contradictory setting, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
    /// The error behind it, if one was.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
        source: None,
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        bad(e.var, e.reason)
    }
}

impl Config {
    /// A config with defaults for everything but the store, for tests and
    /// the in-process dev stack.
    pub fn local(dir: impl Into<std::path::PathBuf>, discord_api_base: impl Into<String>) -> Self {
        Config {
            cloud_run: CloudRun {
                port: 0,
                google_cloud_project: None,
            },
            worker_role: Role::All,
            reply_topic: None,
            pubsub_emulator_host: None,
            local_reply_push_url: None,
            local_reply_max_attempts: 5,
            local_reply_min_backoff_ms: 1000,
            local_reply_max_backoff_ms: 60_000,
            local_reply_spool_file: ".mandala/pending-replies.jsonl".into(),
            local_reply_dead_letter_file: ".mandala/dead-letter-replies.jsonl".into(),
            inline_render_max_ms: 250,
            bucket: None,
            local_store_dir: Some(dir.into()),
            storage_emulator_host: None,
            discord: DiscordApi::new(discord_api_base),
            render_concurrency: None,
            push_audience: None,
            // Tests and the in-process dev stack: nothing else reaches it.
            push_auth_mode: PushAuthMode::None,
            push_service_account: None,
            push_jwks_url: None,
            secret_manager_endpoint: None,
            job_deadline_secs: 50,
            max_delivery_attempts: 5,
            firestore_database: None,
            firestore_emulator_host: None,
            ledger_timeout_ms: 3000,
            stall_after_secs: DEFAULT_STALL_AFTER_SECS,
            http: HttpSettings::default(),
        }
    }

    /// The HTTP server's limits.
    pub fn http_limits(&self) -> mandala_service::server::Limits {
        self.http.limits()
    }

    /// DISCORD_API_BASE as a URL without a trailing slash, a query or a
    /// fragment.
    pub fn discord_base(&self) -> Result<Url, ConfigError> {
        Ok(self.discord.base()?)
    }

    /// The Firestore ledger, if configured: (database, emulator host).
    pub fn ledger(&self) -> Result<Option<(String, Option<String>)>, ConfigError> {
        let emulator = given(self.firestore_emulator_host.as_deref());
        if let Some(host) = emulator
            && !is_host_port(host)
        {
            return Err(bad(
                "FIRESTORE_EMULATOR_HOST",
                format!("{host:?} must be host:port (no scheme)"),
            ));
        }
        Ok(given(self.firestore_database.as_deref())
            .map(|d| (d.to_owned(), emulator.map(str::to_owned))))
    }

    /// The stall watchdog for jobs Cloud Tasks delivers, if on.
    pub fn stall_after(&self) -> Result<Option<Duration>, ConfigError> {
        if self.stall_after_secs == 0 {
            return Ok(None);
        }
        // One attempt may run this long: the watchdog must not call it stalled.
        let attempt = self.job_deadline_secs + 10;
        if self.stall_after_secs <= attempt {
            return Err(bad(
                "STALL_AFTER_SECS",
                format!(
                    "{} s would call a job stalled while an attempt may still run (JOB_DEADLINE_SECS {} s, plus 10 s); set it above {attempt} plus the queue's longest retry backoff, or 0 to turn the watchdog off",
                    self.stall_after_secs, self.job_deadline_secs
                ),
            ));
        }
        Ok(Some(Duration::from_secs(self.stall_after_secs)))
    }

    /// RENDER_CONCURRENCY, or the number of CPUs.
    pub fn concurrency(&self) -> usize {
        self.render_concurrency.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            |n| n as usize,
        )
    }

    /// Every check at once, so a bad deployment fails at start.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.store()?;
        self.discord_base()?;
        self.push_auth()?;
        self.ledger()?;
        self.replies()?;
        self.secret_manager()?;
        self.stall_after()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) fn parse(args: &[&str]) -> Config {
        let mut all = vec!["mandala-worker"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    /// [`parse`] for a local run without push tokens.
    pub(super) fn local(args: &[&str]) -> Config {
        let mut all = vec!["--push-auth", "none"];
        all.extend_from_slice(args);
        parse(&all)
    }

    #[test]
    fn the_stall_watchdog_must_outlast_an_attempt() {
        let c = local(&["--local-store-dir", "d"]);
        assert_eq!(
            c.stall_after().unwrap(),
            Some(Duration::from_secs(DEFAULT_STALL_AFTER_SECS))
        );
        let c = local(&["--local-store-dir", "d", "--stall-after-secs", "0"]);
        assert_eq!(c.stall_after().unwrap(), None);
        let e = local(&[
            "--local-store-dir",
            "d",
            "--job-deadline-secs",
            "120",
            "--stall-after-secs",
            "120",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "STALL_AFTER_SECS");
        assert!(Config::try_parse_from(["mandala-worker", "--stall-after-secs", "900"]).is_err());
    }

    #[test]
    fn discord_base_must_be_a_url() {
        let e = parse(&[
            "--local-store-dir",
            "d",
            "--discord-api-base",
            "discord.com/api",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "DISCORD_API_BASE");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--discord-api-base",
            "http://127.0.0.1:9/api/v10/",
        ]);
        assert_eq!(
            ok.discord_base().unwrap().as_str(),
            "http://127.0.0.1:9/api/v10"
        );
    }
}
