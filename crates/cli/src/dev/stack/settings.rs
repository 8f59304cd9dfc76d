//! What each service of the dev stack is given, as types: one value per
//! design decision (where jobs go, what the worker does, how it checks
//! pushes), turned into the service's own `Config` in one place each
//! ([`IngressSettings::config`], [`WorkerSettings::config`]).
//!
//! The configs start from what the binaries would read from this
//! environment (so a developer's exported `JOB_DEADLINE_SECS` or
//! `MAX_QUEUED_PER_USER` still applies, as with the binaries), and the
//! stack's choices are then set field by field: a misspelt setting does
//! not compile, where a misspelt flag used to fail only when the stack
//! started.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use mandala_worker::config::{PushAuthMode, Role};

use super::options::LOCAL_PUSH_ATTEMPTS;
use crate::dev::emulators;
use crate::dev::store::StoreLocation;

/// The Cloud Tasks queue of the `cloud-tasks` design, in the twin.
pub const TASKS_QUEUE: &str = "projects/mandala-dev/locations/local/queues/mandala-jobs";
/// The account whose token the twin's dispatches carry.
pub const TASKS_ACCOUNT: &str = "mandala-tasks@mandala-dev.iam.gserviceaccount.com";

/// The flag clap derives by default for a field of a settings struct;
/// naming a field the struct does not have does not compile.
macro_rules! long_flag {
    ($config:ty, $field:ident) => {{
        let _exists = |c: &$config| {
            let _ = &c.$field;
        };
        format!("--{}", stringify!($field).replace('_', "-"))
    }};
}

/// The local delivery's files: what is kept across a restart, and what
/// exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalFiles {
    pub spool: PathBuf,
    pub dead_letter: PathBuf,
}

impl LocalFiles {
    /// The jobs' files under the state directory.
    pub fn jobs(dir: &Path) -> Self {
        LocalFiles {
            spool: dir.join("pending.jsonl"),
            dead_letter: dir.join("dead-letter.jsonl"),
        }
    }

    /// The reply jobs' files of the split design.
    pub fn replies(dir: &Path) -> Self {
        LocalFiles {
            spool: dir.join("pending-replies.jsonl"),
            dead_letter: dir.join("dead-letter-replies.jsonl"),
        }
    }
}

/// How the ingress hands jobs on, per design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobRoute {
    /// `single`: to the worker in this process; queued jobs are spooled
    /// at shutdown as with the local delivery.
    InProcess(LocalFiles),
    /// `pubsub` without an emulator: the local push delivery.
    LocalPush { url: String, files: LocalFiles },
    /// `pubsub` through the Pub/Sub emulator.
    Pubsub {
        topic: String,
        emulator_host: String,
    },
    /// `cloud-tasks`: the twin at `twin_host` dispatches to the worker.
    CloudTasks {
        worker_url: String,
        twin_host: String,
    },
}

/// The ingress's settings.
#[derive(Debug, Clone)]
pub(super) struct IngressSettings {
    pub port: u16,
    pub public_key_hex: String,
    /// Only a real application's: the stand-in's is not checked.
    pub application_id: Option<String>,
    /// Waiting notices from the local delivery go where replies go.
    pub discord_api_base: String,
    /// `host:port` of the Firestore emulator keeping the queue ledger.
    pub firestore_emulator: Option<String>,
    pub jobs: JobRoute,
}

impl IngressSettings {
    /// The ingress's `Config`: the environment's, with these settings.
    pub fn config(&self) -> anyhow::Result<mandala_ingress::config::Config> {
        type Config = mandala_ingress::config::Config;
        // The key is the one setting without a default; clap parses it as
        // the binary would, so a bad real key is refused the same way.
        let mut c = Config::try_parse_from([
            "mandala-ingress".to_owned(),
            long_flag!(Config, discord_public_key),
            self.public_key_hex.clone(),
        ])
        .map_err(|e| anyhow::anyhow!("ingress configuration: {}", clap_reason(&e)))?;
        c.cloud_run.port = self.port;
        c.discord.api_base.clone_from(&self.discord_api_base);
        if let Some(app) = &self.application_id {
            c.discord_application_id = Some(app.clone());
        }
        if let Some(host) = &self.firestore_emulator {
            c.firestore_database = Some(emulators::FIRESTORE_DATABASE.to_owned());
            c.firestore_emulator_host = Some(host.clone());
        }
        let local_files = |c: &mut Config, files: &LocalFiles| {
            c.local_spool_file.clone_from(&files.spool);
            c.local_dead_letter_file.clone_from(&files.dead_letter);
        };
        match &self.jobs {
            JobRoute::InProcess(files) => local_files(&mut c, files),
            JobRoute::LocalPush { url, files } => {
                c.local_push_url = Some(url.clone());
                // Generous: on one machine a worker restart must not dead-letter queued jobs.
                c.local_push_max_attempts = LOCAL_PUSH_ATTEMPTS;
                local_files(&mut c, files);
            }
            JobRoute::Pubsub {
                topic,
                emulator_host,
            } => {
                c.pubsub_topic = Some(topic.clone());
                c.pubsub_emulator_host = Some(emulator_host.clone());
            }
            JobRoute::CloudTasks {
                worker_url,
                twin_host,
            } => {
                c.cloud_tasks_queue = Some(TASKS_QUEUE.to_owned());
                c.cloud_tasks_url = Some(format!("{worker_url}/tasks/run"));
                c.cloud_tasks_service_account = Some(TASKS_ACCOUNT.to_owned());
                c.cloud_tasks_audience = Some(worker_url.clone());
                c.cloud_tasks_emulator_host = Some(twin_host.clone());
            }
        }
        Ok(c)
    }
}

/// Where the render stage of the split design hands its reply jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReplyRoute {
    /// The local push delivery to the replier.
    LocalPush { url: String, files: LocalFiles },
    /// The reply topic in the Pub/Sub emulator.
    Pubsub {
        topic: String,
        emulator_host: String,
    },
}

/// What one worker process does, per design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stage {
    /// Render, store and reply (`pubsub`, `cloud-tasks`): the role is left
    /// as the environment says, `all` unless WORKER_ROLE is exported.
    Whole,
    /// Serve interactions too (`single`).
    Single,
    /// Render and store, then hand reply jobs on (`pubsub-split`).
    Render(ReplyRoute),
    /// Edit Discord messages from reply jobs (`pubsub-split`).
    Reply,
}

/// How the worker checks who pushes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PushCheck {
    /// On this machine nothing else reaches the worker: no push tokens.
    Off,
    /// The Cloud Tasks twin's tokens, checked as Google's are.
    TwinTokens { audience: String, jwks_url: String },
}

/// A worker's settings.
#[derive(Debug, Clone)]
pub(super) struct WorkerSettings {
    pub port: u16,
    pub discord_api_base: String,
    /// `host:port` of the Firestore emulator, when the worker keeps the
    /// shared ledger (jobs cross a cloud queue).
    pub firestore_emulator: Option<String>,
    /// The queue's delivery attempts (the worker's last is the queue's).
    pub max_delivery_attempts: Option<u32>,
    pub store: StoreLocation,
    pub render_concurrency: Option<u32>,
    pub stage: Stage,
    pub push_check: PushCheck,
}

impl WorkerSettings {
    /// The same worker in another stage (the split design's two).
    pub fn in_stage(&self, stage: Stage) -> Self {
        WorkerSettings {
            stage,
            ..self.clone()
        }
    }

    /// The worker's `Config`: the environment's, with these settings.
    pub fn config(&self) -> anyhow::Result<mandala_worker::config::Config> {
        let mut c = mandala_worker::config::Config::try_parse_from(["mandala-worker"])
            .map_err(|e| anyhow::anyhow!("worker configuration: {}", clap_reason(&e)))?;
        c.cloud_run.port = self.port;
        c.discord.api_base.clone_from(&self.discord_api_base);
        if let Some(host) = &self.firestore_emulator {
            c.firestore_database = Some(emulators::FIRESTORE_DATABASE.to_owned());
            c.firestore_emulator_host = Some(host.clone());
        }
        if let Some(n) = self.max_delivery_attempts {
            c.max_delivery_attempts = n;
        }
        match &self.store {
            StoreLocation::Directory(dir) => c.local_store_dir = Some(dir.clone()),
            StoreLocation::Bucket { endpoint, bucket } => {
                c.bucket = Some(bucket.clone());
                c.storage_emulator_host = Some(endpoint.clone());
            }
        }
        if let Some(n) = self.render_concurrency {
            // The range the binary's RENDER_CONCURRENCY accepts.
            if !(1..=256).contains(&n) {
                anyhow::bail!("worker configuration: render concurrency {n} is not in 1..=256");
            }
            c.render_concurrency = Some(n);
        }
        self.set_stage(&mut c);
        match &self.push_check {
            PushCheck::Off => c.push_auth_mode = PushAuthMode::None,
            PushCheck::TwinTokens { audience, jwks_url } => {
                c.push_audience = Some(audience.clone());
                c.push_service_account = Some(TASKS_ACCOUNT.to_owned());
                c.push_jwks_url = Some(jwks_url.clone());
            }
        }
        Ok(c)
    }

    fn set_stage(&self, c: &mut mandala_worker::config::Config) {
        match &self.stage {
            Stage::Whole => {}
            Stage::Single => c.worker_role = Role::Single,
            Stage::Reply => c.worker_role = Role::Reply,
            Stage::Render(route) => {
                c.worker_role = Role::Render;
                match route {
                    ReplyRoute::Pubsub {
                        topic,
                        emulator_host,
                    } => {
                        c.reply_topic = Some(topic.clone());
                        c.pubsub_emulator_host = Some(emulator_host.clone());
                    }
                    ReplyRoute::LocalPush { url, files } => {
                        c.local_reply_push_url = Some(url.clone());
                        c.local_reply_max_attempts = LOCAL_PUSH_ATTEMPTS;
                        c.local_reply_spool_file.clone_from(&files.spool);
                        c.local_reply_dead_letter_file
                            .clone_from(&files.dead_letter);
                    }
                }
            }
        }
    }
}

/// A settings error's first line, without clap's own `error: ` prefix
/// (the caller says whose settings they were).
fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code may panic

    use super::*;

    const KEY: &str = "b853dd9f496723daf64bf2f5a886086f790df66e61d7b6f7f98a50c9e5ede8f3";

    fn ingress(jobs: JobRoute) -> IngressSettings {
        IngressSettings {
            port: 8080,
            public_key_hex: KEY.to_owned(),
            application_id: None,
            discord_api_base: "http://127.0.0.1:8080/api/v10".to_owned(),
            firestore_emulator: None,
            jobs,
        }
    }

    #[test]
    fn each_route_gives_the_ingress_one_publisher() {
        let files = LocalFiles::jobs(Path::new("/s"));
        for jobs in [
            JobRoute::LocalPush {
                url: "http://127.0.0.1:8081/pubsub/push".to_owned(),
                files: files.clone(),
            },
            JobRoute::CloudTasks {
                worker_url: "http://127.0.0.1:8081".to_owned(),
                twin_host: "127.0.0.1:9".to_owned(),
            },
        ] {
            let mut s = ingress(jobs);
            s.firestore_emulator = Some("127.0.0.1:8086".to_owned());
            s.config().unwrap().check().unwrap();
        }
        let c = ingress(JobRoute::InProcess(files)).config().unwrap();
        c.check_embedded(true, false).unwrap();
        assert_eq!(c.local_spool_file, Path::new("/s/pending.jsonl"));
    }

    #[test]
    fn a_bad_real_key_is_refused_as_the_binary_refuses_it() {
        let mut s = ingress(JobRoute::InProcess(LocalFiles::jobs(Path::new("/s"))));
        s.public_key_hex = "zz".to_owned();
        let e = s.config().unwrap_err().to_string();
        assert!(
            e.starts_with("ingress configuration: invalid value 'zz'"),
            "{e}"
        );
    }

    #[test]
    fn each_stage_gives_a_worker_that_starts() {
        let whole = WorkerSettings {
            port: 8081,
            discord_api_base: "http://127.0.0.1:8080/api/v10".to_owned(),
            firestore_emulator: None,
            max_delivery_attempts: Some(LOCAL_PUSH_ATTEMPTS),
            store: StoreLocation::Directory("/s/store".into()),
            render_concurrency: Some(2),
            stage: Stage::Whole,
            push_check: PushCheck::Off,
        };
        let render = whole.in_stage(Stage::Render(ReplyRoute::LocalPush {
            url: "http://127.0.0.1:8082/pubsub/push".to_owned(),
            files: LocalFiles::replies(Path::new("/s")),
        }));
        for s in [&whole, &render, &whole.in_stage(Stage::Reply)] {
            s.config().unwrap().check().unwrap();
        }
        let mut zero = whole.clone();
        zero.render_concurrency = Some(0);
        assert!(zero.config().is_err());
    }
}
