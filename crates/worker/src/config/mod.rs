//! The worker's configuration: one definition per setting, read from the
//! environment (and, for local runs, from flags of the same name).
//!
//! This struct is also the source of truth for deployment checks: the
//! Terraform test derives the set of variables the binary reads from it.

use std::time::Duration;

use clap::Parser;
use reqwest::Url;

/// The HTTP defaults, shared by the flags and [`Config::local`].
struct HttpDefaults {
    header_read_timeout_ms: u64,
    body_read_timeout_ms: u64,
    idle_timeout_secs: u64,
    max_connections: u32,
    drain_secs: u64,
}

const DEFAULT_HTTP: HttpDefaults = HttpDefaults {
    header_read_timeout_ms: 10_000,
    // Push bodies are up to 13.4 MB, from inside Google's network.
    body_read_timeout_ms: 30_000,
    idle_timeout_secs: 60,
    // Cloud Run sends at most RENDER_CONCURRENCY pushes at once.
    max_connections: 256,
    // Cloud Run kills the instance 10 s after SIGTERM.
    drain_secs: 8,
};

/// What one worker service does (docs/DEPLOY.md, Designs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Render, store and reply (the `pubsub` and `cloud-tasks` designs).
    All,
    /// Render and store, then hand a reply job to the reply stage
    /// (`pubsub-split`).
    Render,
    /// Edit Discord messages from reply jobs; never renders (`pubsub-split`).
    Reply,
    /// Be the interactions endpoint too: ingress and worker in one process
    /// (`single`).
    Single,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Render => "render",
            Role::Reply => "reply",
            Role::Single => "single",
        }
    }
}

/// How a job reached this process (`crate::delivery::Delivery::via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// A Pub/Sub push, or the local push delivery that imitates one: a
    /// dead-letter route tells the user of a job every delivery failed.
    #[default]
    Push,
    /// A Cloud Tasks dispatch (`/tasks/run`): no dead-letter route; the
    /// ledger's stall watchdog tells the user of a job whose attempts
    /// stopped coming.
    Task,
}

/// The design a job ran in (docs/DEPLOY.md, Designs), as its log line
/// says: what this process's role and the way the job arrived imply, so
/// that no setting can say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    Single,
    Pubsub,
    PubsubSplit,
    CloudTasks,
}

impl Design {
    pub fn of(role: Role, via: Via) -> Design {
        match (role, via) {
            (Role::Single, _) => Design::Single,
            (Role::Render | Role::Reply, _) => Design::PubsubSplit,
            (Role::All, Via::Push) => Design::Pubsub,
            (Role::All, Via::Task) => Design::CloudTasks,
        }
    }

    /// The design the role alone implies (`None` for `all`, which serves
    /// two designs).
    pub fn of_role(role: Role) -> Option<Design> {
        (role != Role::All).then(|| Design::of(role, Via::Push))
    }

    /// `var.topology`'s spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Design::Single => "single",
            Design::Pubsub => "pubsub",
            Design::PubsubSplit => "pubsub-split",
            Design::CloudTasks => "cloud-tasks",
        }
    }
}

/// Whether pushes and task dispatches must carry Google's OIDC token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushAuthMode {
    /// Every push and dispatch must carry a token for PUSH_AUDIENCE.
    Oidc,
    /// No check: a local run, where nothing else can reach the worker.
    None,
}

/// Settings of `mandala-worker`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mandala-worker",
    version,
    about = "Renders jobs pushed by Pub/Sub or Cloud Tasks, stores them and replies on Discord"
)]
pub struct Config {
    /// TCP port to listen on (Cloud Run sets it).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// What this service does: `all` renders, stores and replies; `render` renders and stores,
    /// then hands a reply job to the reply stage (REPLY_TOPIC or LOCAL_REPLY_PUSH_URL);
    /// `reply` edits Discord messages from reply jobs and never renders; `single` is the
    /// interactions endpoint too (the ingress's settings are then read from the environment).
    #[arg(long, env = "WORKER_ROLE", value_enum, default_value_t = Role::All)]
    pub worker_role: Role,

    /// Render role: publish reply jobs to this Pub/Sub topic, `projects/P/topics/T`.
    #[arg(long, env = "REPLY_TOPIC", value_parser = parse_topic)]
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

    /// The Google Cloud project, for trace correlation in Cloud Logging (set by Terraform).
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub google_cloud_project: Option<String>,

    /// Store images in this Cloud Storage bucket.
    #[arg(long, env = "BUCKET")]
    pub bucket: Option<String>,

    /// Store images in this local directory instead (the one-machine default).
    #[arg(long, env = "LOCAL_STORE_DIR")]
    pub local_store_dir: Option<std::path::PathBuf>,

    /// `http://host:port` of a Cloud Storage emulator; used with anonymous credentials.
    #[arg(long, env = "STORAGE_EMULATOR_HOST")]
    pub storage_emulator_host: Option<String>,

    /// Discord's REST API base; point it at a stand-in for local runs and tests.
    #[arg(
        long,
        env = "DISCORD_API_BASE",
        default_value = "https://discord.com/api/v10"
    )]
    pub discord_api_base: String,

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

    /// How long a client may take to send a request head once it started, in milliseconds;
    /// then the connection is closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_MS", default_value_t = DEFAULT_HTTP.header_read_timeout_ms, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub http_header_read_timeout_ms: u64,

    /// How long a client may take to send a request body after its head, in milliseconds;
    /// then it gets 408 (and Pub/Sub redelivers). Push bodies are up to 13.4 MB.
    #[arg(long, env = "HTTP_BODY_READ_TIMEOUT_MS", default_value_t = DEFAULT_HTTP.body_read_timeout_ms, value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub http_body_read_timeout_ms: u64,

    /// How long a connection may stay open with no request in progress, in seconds.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_HTTP.idle_timeout_secs, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout_secs: u64,

    /// Connections open at once (lowered to what the open-file limit allows), and requests
    /// in progress at once; at the cap, idle connections are closed to make room and new ones wait.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = DEFAULT_HTTP.max_connections, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: u32,

    /// After SIGTERM, how long pushes in progress may take, in seconds; then their
    /// connections are closed and Pub/Sub redelivers them. Cloud Run allows 10 s in all.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", default_value_t = DEFAULT_HTTP.drain_secs, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub shutdown_drain_secs: u64,
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
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
    }
}

/// Where images go, once the settings are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Gcs {
        bucket: String,
        /// `http://host:port` of an emulator (anonymous credentials), or Google.
        emulator: Option<String>,
    },
    Local(std::path::PathBuf),
}

impl Config {
    /// A config with defaults for everything but the store, for tests and
    /// the in-process dev stack.
    pub fn local(dir: impl Into<std::path::PathBuf>, discord_api_base: impl Into<String>) -> Self {
        Config {
            port: 0,
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
            google_cloud_project: None,
            bucket: None,
            local_store_dir: Some(dir.into()),
            storage_emulator_host: None,
            discord_api_base: discord_api_base.into(),
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
            http_header_read_timeout_ms: DEFAULT_HTTP.header_read_timeout_ms,
            http_body_read_timeout_ms: DEFAULT_HTTP.body_read_timeout_ms,
            http_idle_timeout_secs: DEFAULT_HTTP.idle_timeout_secs,
            http_max_connections: DEFAULT_HTTP.max_connections,
            shutdown_drain_secs: DEFAULT_HTTP.drain_secs,
        }
    }

    /// The HTTP server's limits.
    pub fn http_limits(&self) -> mandala_service::server::Limits {
        mandala_service::server::Limits {
            header_read_timeout: Duration::from_millis(self.http_header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.http_body_read_timeout_ms),
            idle_timeout: Duration::from_secs(self.http_idle_timeout_secs),
            max_connections: self.http_max_connections as usize,
            drain_timeout: Duration::from_secs(self.shutdown_drain_secs),
        }
    }

    /// The Firestore ledger, if configured: (database, emulator host).
    pub fn ledger(&self) -> Result<Option<(String, Option<String>)>, ConfigError> {
        let emulator = self
            .firestore_emulator_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        if let Some(host) = emulator
            && (host.contains("://") || !host.contains(':'))
        {
            return Err(bad(
                "FIRESTORE_EMULATOR_HOST",
                format!("{host:?} must be host:port (no scheme)"),
            ));
        }
        Ok(self
            .firestore_database
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| (d.to_owned(), emulator.map(str::to_owned))))
    }

    /// The store the settings ask for; exactly one of BUCKET and LOCAL_STORE_DIR.
    pub fn store(&self) -> Result<StoreChoice, ConfigError> {
        let bucket = self
            .bucket
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let dir = self
            .local_store_dir
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty());
        let emulator = self
            .storage_emulator_host
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        match (bucket, dir) {
            (Some(_), Some(_)) => Err(bad(
                "BUCKET",
                "set either BUCKET or LOCAL_STORE_DIR, not both",
            )),
            (None, None) => Err(bad(
                "BUCKET",
                "one of BUCKET (Cloud Storage) or LOCAL_STORE_DIR (a local directory) is required",
            )),
            (None, Some(dir)) => {
                if emulator.is_some() {
                    return Err(bad(
                        "STORAGE_EMULATOR_HOST",
                        "only applies with BUCKET, but LOCAL_STORE_DIR is set",
                    ));
                }
                Ok(StoreChoice::Local(dir.clone()))
            }
            (Some(bucket), None) => {
                check_bucket(bucket)?;
                let emulator = emulator.map(parse_emulator).transpose()?;
                Ok(StoreChoice::Gcs {
                    bucket: bucket.to_owned(),
                    emulator,
                })
            }
        }
    }

    /// DISCORD_API_BASE as a URL without a trailing slash.
    pub fn discord_base(&self) -> Result<Url, ConfigError> {
        let raw = self.discord_api_base.trim().trim_end_matches('/');
        let url = Url::parse(raw)
            .map_err(|e| bad("DISCORD_API_BASE", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "DISCORD_API_BASE",
                format!("{raw:?} is not an http(s) URL"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("DISCORD_API_BASE", "must not have a query or fragment"));
        }
        Ok(url)
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

    /// The OIDC check, if any: (audience, service account, JWKS override).
    pub fn push_auth(&self) -> Result<Option<PushAuth>, ConfigError> {
        let audience = self
            .push_audience
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let account = self
            .push_service_account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let jwks = self
            .push_jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        match audience {
            None if account.is_some() => Err(bad(
                "PUSH_SERVICE_ACCOUNT",
                "needs PUSH_AUDIENCE (the token's audience) to be set too",
            )),
            None if jwks.is_some() => {
                Err(bad("PUSH_JWKS_URL", "needs PUSH_AUDIENCE to be set too"))
            }
            // In one process with the ingress, nothing outside reaches the worker.
            None if self.worker_role == Role::Single => Ok(None),
            None if self.push_auth_mode == PushAuthMode::Oidc => Err(bad(
                "PUSH_AUDIENCE",
                "is required: every push and task dispatch must carry Google's OIDC token for this audience (the worker's URL). For a local run that nothing else can reach, set PUSH_AUTH=none",
            )),
            None => Ok(None),
            Some(_) if self.push_auth_mode == PushAuthMode::None => Err(bad(
                "PUSH_AUTH",
                "none turns the push token check off, but PUSH_AUDIENCE asks for it: unset one of them",
            )),
            Some(audience) => {
                if let Some(a) = account
                    && !a.contains('@')
                {
                    return Err(bad(
                        "PUSH_SERVICE_ACCOUNT",
                        format!("{a:?} is not a service account email"),
                    ));
                }
                if let Some(j) = jwks {
                    Url::parse(j)
                        .map_err(|e| bad("PUSH_JWKS_URL", format!("{j:?} is not a URL: {e}")))?;
                }
                Ok(Some(PushAuth {
                    audience: audience.to_owned(),
                    service_account: account.map(str::to_owned),
                    jwks_url: jwks.map(str::to_owned),
                }))
            }
        }
    }

    /// SECRET_MANAGER_ENDPOINT as a URL, if set (tests only).
    pub fn secret_manager(&self) -> Result<Option<Url>, ConfigError> {
        let Some(raw) = self
            .secret_manager_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let url = Url::parse(raw).map_err(|e| {
            bad(
                "SECRET_MANAGER_ENDPOINT",
                format!("{raw:?} is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "SECRET_MANAGER_ENDPOINT",
                format!("{raw:?} is not an http(s) URL"),
            ));
        }
        Ok(Some(url))
    }

    /// RENDER_CONCURRENCY, or the number of CPUs.
    pub fn concurrency(&self) -> usize {
        self.render_concurrency.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            |n| n as usize,
        )
    }

    /// Where the render stage hands reply jobs; `None` in every other role.
    pub fn replies(&self) -> Result<Option<Replies>, ConfigError> {
        let topic = self
            .reply_topic
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let local = self
            .local_reply_push_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let emulator = self
            .pubsub_emulator_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        if self.worker_role != Role::Render {
            if topic.is_some() {
                return Err(bad("REPLY_TOPIC", "only applies with WORKER_ROLE=render"));
            }
            if local.is_some() {
                return Err(bad(
                    "LOCAL_REPLY_PUSH_URL",
                    "only applies with WORKER_ROLE=render",
                ));
            }
            return Ok(None);
        }
        match (topic, local) {
            (Some(_), Some(_)) => Err(bad(
                "REPLY_TOPIC",
                "set either REPLY_TOPIC or LOCAL_REPLY_PUSH_URL, not both",
            )),
            (None, None) => Err(bad(
                "WORKER_ROLE",
                "render needs REPLY_TOPIC (Pub/Sub) or LOCAL_REPLY_PUSH_URL (one machine): where the reply jobs go",
            )),
            (Some(topic), None) => {
                if let Some(h) = emulator
                    && (h.contains("://") || !h.contains(':'))
                {
                    return Err(bad(
                        "PUBSUB_EMULATOR_HOST",
                        format!("{h:?} must be host:port (no scheme)"),
                    ));
                }
                Ok(Some(Replies::Pubsub {
                    topic: topic.to_owned(),
                    emulator_host: emulator.map(str::to_owned),
                }))
            }
            (None, Some(url)) => {
                let uri = url
                    .parse::<http::Uri>()
                    .ok()
                    .filter(|u| u.scheme() == Some(&http::uri::Scheme::HTTP) && u.host().is_some())
                    .ok_or_else(|| {
                        bad(
                            "LOCAL_REPLY_PUSH_URL",
                            format!("{url:?} is not an http:// URL with a host"),
                        )
                    })?;
                if self.local_reply_min_backoff_ms > self.local_reply_max_backoff_ms {
                    return Err(bad(
                        "LOCAL_REPLY_MIN_BACKOFF_MS",
                        "must not exceed LOCAL_REPLY_MAX_BACKOFF_MS",
                    ));
                }
                let path = uri.path();
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                let mut parts = uri.clone().into_parts();
                parts.path_and_query = format!("{parent}/dead-letter").parse().ok();
                let dead_letter = http::Uri::from_parts(parts)
                    .map_err(|e| bad("LOCAL_REPLY_PUSH_URL", e.to_string()))?;
                Ok(Some(Replies::Local {
                    url: uri,
                    dead_letter,
                }))
            }
        }
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

/// Where the render stage's reply jobs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replies {
    /// A Pub/Sub topic; `emulator_host` is `host:port` of an emulator.
    Pubsub {
        topic: String,
        emulator_host: Option<String>,
    },
    /// The local push delivery to the replier (and its dead-letter route).
    Local {
        url: http::Uri,
        dead_letter: http::Uri,
    },
}

fn parse_topic(topic: &str) -> Result<String, String> {
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty() => Ok(topic.to_owned()),
        _ => Err("expected projects/PROJECT/topics/TOPIC".into()),
    }
}

/// The push OIDC check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAuth {
    pub audience: String,
    pub service_account: Option<String>,
    pub jwks_url: Option<String>,
}

fn check_bucket(bucket: &str) -> Result<(), ConfigError> {
    // Cloud Storage's naming rules, loosely: enough to catch a URL or a path.
    let ok = (3..=222).contains(&bucket.len())
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(bad(
            "BUCKET",
            format!(
                "{bucket:?} is not a bucket name (lowercase letters, digits, - _ .; no gs:// prefix)"
            ),
        ))
    }
}

fn parse_emulator(raw: &str) -> Result<String, ConfigError> {
    // The Go and Python clients accept a bare host:port here; so do we.
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        bad(
            "STORAGE_EMULATOR_HOST",
            format!("{raw:?} is not host:port or a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "STORAGE_EMULATOR_HOST",
            format!("{raw:?} is not an http(s) endpoint"),
        ));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["mandala-worker"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    /// [`parse`] for a local run without push tokens.
    fn local(args: &[&str]) -> Config {
        let mut all = vec!["--push-auth", "none"];
        all.extend_from_slice(args);
        parse(&all)
    }

    #[test]
    fn the_worker_refuses_to_start_without_push_authentication_unless_told_it_is_local() {
        let e = parse(&["--local-store-dir", "d"]).check().unwrap_err();
        assert_eq!(e.var, "PUSH_AUDIENCE");
        assert!(e.reason.contains("PUSH_AUTH=none"), "{e}");
        assert!(local(&["--local-store-dir", "d"]).check().is_ok());
        assert!(
            parse(&["--local-store-dir", "d", "--push-audience", "https://w"])
                .push_auth()
                .unwrap()
                .is_some()
        );
        let e = local(&["--local-store-dir", "d", "--push-audience", "https://w"])
            .check()
            .unwrap_err();
        assert_eq!(e.var, "PUSH_AUTH");
        // The single service's worker is reachable from inside only.
        assert!(
            parse(&["--local-store-dir", "d", "--worker-role", "single"])
                .check()
                .is_ok()
        );
        let e = Config::try_parse_from(["mandala-worker", "--push-auth", "off"]).unwrap_err();
        assert!(
            e.to_string().contains("PUSH_AUTH") || e.to_string().contains("push-auth"),
            "{e}"
        );
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
    fn exactly_one_store() {
        let e = parse(&[]).check().unwrap_err();
        assert_eq!(e.var, "BUCKET");
        let e = parse(&["--bucket", "b1b", "--local-store-dir", "/tmp/x"])
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        assert_eq!(
            parse(&[
                "--bucket",
                "renders",
                "--storage-emulator-host",
                "127.0.0.1:9023"
            ])
            .store()
            .unwrap(),
            StoreChoice::Gcs {
                bucket: "renders".into(),
                emulator: Some("http://127.0.0.1:9023".into())
            }
        );
        let e = parse(&["--bucket", "gs://renders"]).check().unwrap_err();
        assert_eq!(e.var, "BUCKET");
        let e = parse(&[
            "--local-store-dir",
            "/tmp/x",
            "--storage-emulator-host",
            "h:1",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "STORAGE_EMULATOR_HOST");
    }

    #[test]
    fn push_auth_needs_an_audience() {
        let e = parse(&[
            "--local-store-dir",
            "d",
            "--push-service-account",
            "a@b.iam",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "PUSH_SERVICE_ACCOUNT");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--push-audience",
            "https://w",
            "--push-service-account",
            "a@b",
        ]);
        assert_eq!(
            ok.push_auth().unwrap().unwrap().service_account.as_deref(),
            Some("a@b")
        );
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

    #[test]
    fn the_render_role_needs_somewhere_to_send_replies() {
        let e = local(&["--local-store-dir", "d", "--worker-role", "render"])
            .check()
            .unwrap_err();
        assert_eq!(e.var, "WORKER_ROLE");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--worker-role",
            "render",
            "--local-reply-push-url",
            "http://127.0.0.1:8082/pubsub/push",
        ]);
        let Some(Replies::Local { dead_letter, .. }) = ok.replies().unwrap() else {
            panic!("not local")
        };
        assert_eq!(
            dead_letter.to_string(),
            "http://127.0.0.1:8082/pubsub/dead-letter"
        );
        let e = local(&[
            "--local-store-dir",
            "d",
            "--reply-topic",
            "projects/p/topics/replies",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "REPLY_TOPIC");
        assert!(e.to_string().contains("WORKER_ROLE=render"), "{e}");
    }

    #[test]
    fn a_secret_manager_stand_in_must_be_a_url() {
        let e = local(&[
            "--local-store-dir",
            "d",
            "--secret-manager-endpoint",
            "127.0.0.1:9",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "SECRET_MANAGER_ENDPOINT");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--secret-manager-endpoint",
            "http://127.0.0.1:9",
        ]);
        assert_eq!(
            ok.secret_manager().unwrap().unwrap().as_str(),
            "http://127.0.0.1:9/"
        );
        assert!(
            parse(&["--local-store-dir", "d"])
                .secret_manager()
                .unwrap()
                .is_none()
        );
    }
}
