//! The in-process stack: ingress, worker and (without a real Discord
//! application) the Discord stand-in and the playground, wired the way
//! production is wired but with the local adapters.
//!
//! ```text
//! :8080  POST /interactions   ingress ──LOCAL_PUSH_URL──▶ :8081 POST /pubsub/push  worker
//!        /api/v10/…           Discord stand-in ◀──PATCH @original────────────────────┘
//!        /, /playground/…     playground page
//! ```
//!
//! That is the `pubsub` design ([`Topology`]); the others change the middle:
//! `single` has no hop at all (the ingress hands jobs to the worker in the
//! same process, and answers cheap ones with the image), `pubsub-split`
//! puts a replier behind the render worker (a second local delivery, or a
//! second topic), and `cloud-tasks` sends each job through the Cloud Tasks
//! twin to the worker's `/tasks/run`, with an OIDC token the worker checks.
//!
//! The services are started from the same `Config` types their binaries
//! parse, so the code paths are the production ones; only the adapters
//! (local push delivery, local directory store, stand-in, twin) differ.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser as _;
use ed25519_dalek::SigningKey;
use mandala_ledger::Ledger;
use mandala_standin::discord::DiscordStandin;
use mandala_standin::tasks::{CloudTasksTwin, QueueConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::store::StoreLocation;
use super::{emulators, keys, playground};

pub use super::DEV_APPLICATION_ID;

/// Delivery attempts before the local push delivery dead-letters a job.
const LOCAL_PUSH_ATTEMPTS: u32 = 15;

/// The Cloud Tasks queue of the `cloud-tasks` design, in the twin.
pub const TASKS_QUEUE: &str = "projects/mandala-dev/locations/local/queues/mandala-jobs";
/// The account whose token the twin's dispatches carry.
pub const TASKS_ACCOUNT: &str = "mandala-tasks@mandala-dev.iam.gserviceaccount.com";

/// How the services are joined: the designs of docs/DEPLOY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Topology {
    /// Ingress → topic → push subscription → worker (renders and replies).
    #[default]
    Pubsub,
    /// One service: interactions, queue and worker in one process; cheap
    /// jobs answered inline with the image.
    Single,
    /// Ingress → topic → render worker → reply topic → replier.
    PubsubSplit,
    /// Ingress → Cloud Tasks queue (the local twin) → worker `/tasks/run`.
    CloudTasks,
}

impl Topology {
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Pubsub => "pubsub",
            Topology::Single => "single",
            Topology::PubsubSplit => "pubsub-split",
            Topology::CloudTasks => "cloud-tasks",
        }
    }
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// State directory: dev key, local store, spool and dead letters.
    pub dir: PathBuf,
    pub host: IpAddr,
    /// Port of the ingress, stand-in and playground (0 picks a free one).
    pub port: u16,
    /// Port of the worker (0 picks a free one).
    pub worker_port: u16,
    /// A real application's public key; without it a dev key pair is used.
    pub discord_public_key: Option<String>,
    pub discord_application_id: Option<String>,
    /// A real (or external) Discord API; without it the stand-in serves.
    pub discord_api_base: Option<String>,
    /// Run through a Pub/Sub emulator at `host:port` instead of local push.
    pub pubsub_emulator: Option<String>,
    /// Keep the queue ledger in a Firestore emulator at `host:port` (needed
    /// with `pubsub_emulator`; optional with local push).
    pub firestore_emulator: Option<String>,
    /// Store through a Cloud Storage emulator at this URL instead of a directory.
    pub gcs_emulator: Option<String>,
    pub render_concurrency: Option<u32>,
    pub topology: Topology,
    /// The twin's queue (`cloud-tasks` only).
    pub tasks_queue: QueueConfig,
}

impl DevOptions {
    /// Defaults for tests: free ports under a given directory, stand-in on.
    pub fn ephemeral(dir: PathBuf) -> Self {
        DevOptions {
            dir,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            worker_port: 0,
            discord_public_key: None,
            discord_application_id: None,
            discord_api_base: None,
            pubsub_emulator: None,
            firestore_emulator: None,
            gcs_emulator: None,
            render_concurrency: None,
            topology: Topology::Pubsub,
            tasks_queue: QueueConfig {
                max_attempts: LOCAL_PUSH_ATTEMPTS,
                ..QueueConfig::default()
            },
        }
    }
}

/// A running stack.
pub struct DevStack {
    /// `http://host:port`: the playground, `/interactions`, `/api/v10`.
    pub base_url: String,
    pub worker_url: String,
    pub application_id: String,
    pub public_key_hex: String,
    /// The key that signs playground interactions (none with a real application).
    pub signing_key: Option<SigningKey>,
    pub standin: Option<DiscordStandin>,
    pub store: StoreLocation,
    pub options: DevOptions,
    /// The replier of `pubsub-split`: `http://host:port`.
    pub replier_url: Option<String>,
    /// The Cloud Tasks twin of `cloud-tasks`.
    pub tasks: Option<CloudTasksTwin>,
    worker_addr: SocketAddr,
    /// What the worker was started with, to start it again the same way.
    worker_args: Vec<(&'static str, String)>,
    /// The in-memory ledger the worker shares with the ingress (`cloud-tasks`).
    shared_ledger: Option<Ledger>,
    stop_front: watch::Sender<bool>,
    front: JoinHandle<()>,
    ingress: Option<mandala_ingress::Ingress>,
    worker: Option<RunningWorker>,
    replier: Option<RunningWorker>,
    /// Held while the stack runs: two stacks must not share a directory's
    /// spool, dead letters and key.
    _dir_lock: std::fs::File,
}

/// Takes the state directory for this stack, or says which flag to change.
fn lock_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("dev.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(crate::UsageError(format!(
            "--dir {}: another `mandala dev` is using it (its spool, dead letters and key would be shared); stop it, or give this one its own --dir",
            dir.display()
        ))
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
        }
    }
}

struct RunningWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    worker: mandala_worker::Worker,
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn to_args(pairs: &[(&'static str, String)], program: &str) -> Vec<String> {
    std::iter::once(program.to_owned())
        .chain(
            pairs
                .iter()
                .flat_map(|(flag, value)| [format!("--{flag}"), value.clone()]),
        )
        .collect()
}

impl DevStack {
    pub async fn start(options: DevOptions) -> anyhow::Result<DevStack> {
        if options.pubsub_emulator.is_some()
            && matches!(options.topology, Topology::Single | Topology::CloudTasks)
        {
            anyhow::bail!(
                "--pubsub-emulator does not apply to --topology {}: it has no topic",
                options.topology.as_str()
            );
        }
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let dir_lock = lock_dir(&options.dir)?;

        let (public_key_hex, signing_key) = match &options.discord_public_key {
            Some(hex_key) => (hex_key.trim().to_owned(), None),
            None => {
                let key = keys::load_or_create(&options.dir)?;
                (hex::encode(key.verifying_key().to_bytes()), Some(key))
            }
        };
        let application_id = options
            .discord_application_id
            .clone()
            .unwrap_or_else(|| DEV_APPLICATION_ID.to_owned());

        let front_listener = TcpListener::bind((options.host, options.port))
            .await
            .with_context(|| {
                format!(
                    "binding {}:{} (is another `mandala dev` running? use --port)",
                    options.host, options.port
                )
            })?;
        let front_addr = front_listener.local_addr()?;
        let base_url = format!("http://{front_addr}");
        let worker_listener = TcpListener::bind((options.host, options.worker_port))
            .await
            .with_context(|| {
                format!(
                    "binding {}:{} (use --worker-port)",
                    options.host, options.worker_port
                )
            })?;
        let worker_addr = worker_listener.local_addr()?;
        let worker_url = format!("http://{worker_addr}");

        let standin = options.discord_api_base.is_none().then(DiscordStandin::new);
        let api_base = options
            .discord_api_base
            .clone()
            .unwrap_or_else(|| format!("{base_url}/api/v10"));

        // Worker: local directory store, or the Cloud Storage emulator.
        let store = match &options.gcs_emulator {
            Some(endpoint) => {
                let bucket = "mandala-dev".to_owned();
                emulators::ensure_bucket(endpoint, &bucket).await?;
                StoreLocation::Bucket {
                    endpoint: endpoint.clone(),
                    bucket,
                }
            }
            None => StoreLocation::Directory(options.dir.join("store")),
        };
        let topology = options.topology;
        let mut worker_args = worker_args(&options, worker_addr.port(), &api_base, &store);
        let mut ingress_args: Vec<(&'static str, String)> = vec![
            ("port", front_addr.port().to_string()),
            ("discord-public-key", public_key_hex.clone()),
            // Waiting notices from the local delivery go where replies go.
            ("discord-api-base", api_base.clone()),
        ];
        if let Some(host) = &options.firestore_emulator {
            ingress_args.push((
                "firestore-database",
                emulators::FIRESTORE_DATABASE.to_owned(),
            ));
            ingress_args.push(("firestore-emulator-host", host.clone()));
        }
        if let Some(app) = &options.discord_application_id {
            ingress_args.push(("discord-application-id", app.clone()));
        }
        let local_files = |args: &mut Vec<(&'static str, String)>| {
            args.push((
                "local-spool-file",
                options.dir.join("pending.jsonl").display().to_string(),
            ));
            args.push((
                "local-dead-letter-file",
                options.dir.join("dead-letter.jsonl").display().to_string(),
            ));
        };

        // The replier of the split design, behind its own delivery.
        let mut replier = None;
        let mut replier_url = None;
        if topology == Topology::PubsubSplit {
            let replier_port = if options.worker_port == 0 {
                0
            } else {
                options.worker_port.saturating_add(1)
            };
            let listener = TcpListener::bind((options.host, replier_port))
                .await
                .with_context(|| {
                    format!("binding {}:{replier_port} (the replier)", options.host)
                })?;
            let url = format!("http://{}", listener.local_addr()?);
            let mut args = worker_args.clone();
            args.push(("worker-role", "reply".to_owned()));
            replier = Some(start_worker(parse_worker(&args)?, listener, None).await?);
            worker_args.push(("worker-role", "render".to_owned()));
            match &options.pubsub_emulator {
                Some(host) => {
                    let topic = emulators::ensure_topic(
                        host,
                        emulators::REPLIES,
                        &format!("{url}/pubsub/push"),
                        &format!("{url}/pubsub/dead-letter"),
                    )
                    .await?;
                    worker_args.push(("reply-topic", topic));
                    worker_args.push(("pubsub-emulator-host", host.clone()));
                }
                None => {
                    worker_args.push(("local-reply-push-url", format!("{url}/pubsub/push")));
                    worker_args.push(("local-reply-max-attempts", LOCAL_PUSH_ATTEMPTS.to_string()));
                    worker_args.push((
                        "local-reply-spool-file",
                        options
                            .dir
                            .join("pending-replies.jsonl")
                            .display()
                            .to_string(),
                    ));
                    worker_args.push((
                        "local-reply-dead-letter-file",
                        options
                            .dir
                            .join("dead-letter-replies.jsonl")
                            .display()
                            .to_string(),
                    ));
                }
            }
            replier_url = Some(url);
        }

        // The jobs' way from the ingress to the worker.
        let mut tasks = None;
        let mut embedding = mandala_ingress::Embedding::default();
        match (topology, &options.pubsub_emulator) {
            (Topology::Single, _) => {
                worker_args.push(("worker-role", "single".to_owned()));
                local_files(&mut ingress_args);
            }
            (Topology::CloudTasks, _) => {
                let twin = CloudTasksTwin::new(options.tasks_queue.clone())
                    .map_err(|e| anyhow::anyhow!("the Cloud Tasks twin: {e}"))?;
                let twin_host = twin.serve().await.context("serving the Cloud Tasks twin")?;
                ingress_args.push(("cloud-tasks-queue", TASKS_QUEUE.to_owned()));
                ingress_args.push(("cloud-tasks-url", format!("{worker_url}/tasks/run")));
                ingress_args.push(("cloud-tasks-service-account", TASKS_ACCOUNT.to_owned()));
                ingress_args.push(("cloud-tasks-audience", worker_url.clone()));
                ingress_args.push(("cloud-tasks-emulator-host", twin_host.clone()));
                // The worker checks the twin's tokens as it checks Google's.
                worker_args.retain(|(name, _)| *name != "push-auth");
                worker_args.push(("push-audience", worker_url.clone()));
                worker_args.push(("push-service-account", TASKS_ACCOUNT.to_owned()));
                worker_args.push(("push-jwks-url", format!("http://{twin_host}/certs")));
                if options.firestore_emulator.is_none() {
                    embedding.shared_memory_ledger = true;
                }
                tasks = Some(twin);
            }
            (Topology::Pubsub | Topology::PubsubSplit, Some(host)) => {
                let topic = emulators::ensure_push_topic(
                    host,
                    &format!("{worker_url}/pubsub/push"),
                    &format!("{worker_url}/pubsub/dead-letter"),
                )
                .await?;
                ingress_args.push(("pubsub-topic", topic));
                ingress_args.push(("pubsub-emulator-host", host.clone()));
            }
            (Topology::Pubsub | Topology::PubsubSplit, None) => {
                ingress_args.push(("local-push-url", format!("{worker_url}/pubsub/push")));
                // Generous: on one machine a worker restart must not dead-letter queued jobs.
                ingress_args.push(("local-push-max-attempts", LOCAL_PUSH_ATTEMPTS.to_string()));
                local_files(&mut ingress_args);
            }
        }
        let ingress_config = mandala_ingress::config::Config::try_parse_from(to_args(
            &ingress_args,
            "mandala-ingress",
        ))
        .map_err(|e| anyhow::anyhow!("ingress configuration: {}", clap_reason(&e)))?;

        let (ingress, worker, shared_ledger) = if topology == Topology::Single {
            // The worker first: the ingress hands it jobs in this process.
            let config = parse_worker(&worker_args)?;
            let inline = config.inline_render_max_ms;
            let worker = start_worker(config, worker_listener, None).await?;
            // Queued jobs are spooled at shutdown, as in the other designs.
            let embedding = mandala_ingress::Embedding {
                in_process: Some(worker.worker.in_process(false)),
                shared_memory_ledger: false,
                inline: worker.worker.inline_answer(inline),
            };
            let ingress = mandala_ingress::Ingress::start_with(ingress_config, embedding)
                .await
                .map_err(|e| anyhow::anyhow!("starting the ingress: {e}"))?;
            (ingress, worker, None)
        } else {
            // The ingress first: with the twin and no Firestore, the worker
            // ends jobs in the ingress's in-memory ledger.
            let shared_memory = embedding.shared_memory_ledger;
            let ingress = mandala_ingress::Ingress::start_with(ingress_config, embedding)
                .await
                .map_err(|e| anyhow::anyhow!("starting the ingress: {e}"))?;
            let shared = shared_memory.then(|| ingress.ledger().clone());
            let worker =
                start_worker(parse_worker(&worker_args)?, worker_listener, shared.clone()).await?;
            (ingress, worker, shared)
        };
        let playground = playground::Playground {
            interactions_url: format!("{base_url}/interactions"),
            application_id: application_id.clone(),
            public_key_hex: public_key_hex.clone(),
            signing_key: signing_key.clone(),
            standin: standin.clone(),
            store: store.clone(),
            client: reqwest::Client::new(),
            ledger: ingress.ledger().clone(),
            design: topology.as_str(),
        };
        let mut app = ingress.router().merge(playground.router());
        if let Some(s) = &standin {
            app = app.nest("/api/v10", s.router());
        }
        let (stop_front, stop_rx) = watch::channel(false);
        let front = tokio::spawn(async move {
            let served = axum::serve(front_listener, app)
                .with_graceful_shutdown(wait_for(stop_rx))
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "front server stopped");
            }
        });

        Ok(DevStack {
            base_url,
            worker_url,
            application_id,
            public_key_hex,
            signing_key,
            standin,
            store,
            options,
            stop_front,
            front,
            replier_url,
            tasks,
            worker_addr,
            worker_args,
            shared_ledger,
            ingress: Some(ingress),
            worker: Some(worker),
            replier,
            _dir_lock: dir_lock,
        })
    }

    /// The ingress's interactions endpoint.
    pub fn interactions_url(&self) -> String {
        format!("{}/interactions", self.base_url)
    }

    /// Stops the worker as a crash would look from outside: its listener
    /// closes and pushes fail until [`DevStack::restart_worker`].
    pub async fn stop_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            let _ = w.stop.send(true);
            w.task.abort();
            let _ = w.task.await;
            drop(w.worker);
        }
    }

    /// Starts the worker again on the same address, as it was started.
    pub async fn restart_worker(&mut self) -> anyhow::Result<()> {
        self.stop_worker().await;
        if self.options.topology == Topology::Single {
            anyhow::bail!(
                "in the single design the worker is the ingress's process: restart the stack"
            );
        }
        let listener = TcpListener::bind(self.worker_addr)
            .await
            .context("re-binding the worker port")?;
        let config = parse_worker(&self.worker_args)?;
        self.worker = Some(start_worker(config, listener, self.shared_ledger.clone()).await?);
        Ok(())
    }

    /// Clean shutdown: stop taking interactions, persist undelivered jobs,
    /// then let the worker finish what it is rendering.
    pub async fn shutdown(mut self) {
        let _ = self.stop_front.send(true);
        let _ = (&mut self.front).await;
        if let Some(ingress) = self.ingress.take() {
            ingress.shutdown().await;
        }
        // The render stage before the replier: it hands its last replies on.
        for w in [self.worker.take(), self.replier.take()]
            .into_iter()
            .flatten()
        {
            let _ = w.stop.send(true);
            let _ = w.task.await;
            w.worker.shutdown().await;
        }
    }

    /// The render counter of the worker (the render stage in the split design).
    pub fn renders(&self) -> u64 {
        self.worker.as_ref().map_or(0, |w| w.worker.stats().renders)
    }
}

/// The worker's flags, like its binary's environment, before the design's own.
fn worker_args(
    options: &DevOptions,
    port: u16,
    api_base: &str,
    store: &StoreLocation,
) -> Vec<(&'static str, String)> {
    let mut args = vec![
        ("port", port.to_string()),
        ("discord-api-base", api_base.to_owned()),
        // On this machine nothing else reaches the worker: no push tokens
        // (but the Cloud Tasks design checks its twin's).
        ("push-auth", "none".to_owned()),
    ];
    let shared_queue =
        options.pubsub_emulator.is_some() || options.topology == Topology::CloudTasks;
    match &options.firestore_emulator {
        // Through a cloud queue the worker keeps the shared ledger.
        Some(host) if shared_queue && options.topology != Topology::Single => {
            args.push((
                "firestore-database",
                emulators::FIRESTORE_DATABASE.to_owned(),
            ));
            args.push(("firestore-emulator-host", host.clone()));
        }
        _ => {}
    }
    let attempts = match options.topology {
        // The worker's last attempt is the queue's.
        Topology::CloudTasks => options.tasks_queue.max_attempts,
        _ if options.pubsub_emulator.is_some() => emulators::MAX_DELIVERY_ATTEMPTS,
        // With local delivery the delivery's.
        _ => LOCAL_PUSH_ATTEMPTS,
    };
    if attempts > 0 {
        args.push(("max-delivery-attempts", attempts.min(100).to_string()));
    }
    match store {
        StoreLocation::Directory(dir) => args.push(("local-store-dir", dir.display().to_string())),
        StoreLocation::Bucket { endpoint, bucket } => {
            args.push(("bucket", bucket.clone()));
            args.push(("storage-emulator-host", endpoint.clone()));
        }
    }
    if let Some(n) = options.render_concurrency {
        args.push(("render-concurrency", n.to_string()));
    }
    args
}

/// A settings error's first line, without clap's own `error: ` prefix
/// (the caller says whose settings they were).
fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

fn parse_worker(args: &[(&'static str, String)]) -> anyhow::Result<mandala_worker::config::Config> {
    mandala_worker::config::Config::try_parse_from(to_args(args, "mandala-worker"))
        .map_err(|e| anyhow::anyhow!("worker configuration: {}", clap_reason(&e)))
}

async fn start_worker(
    config: mandala_worker::config::Config,
    listener: TcpListener,
    ledger: Option<Ledger>,
) -> anyhow::Result<RunningWorker> {
    let worker = mandala_worker::Worker::start_with(config, ledger)
        .await
        .map_err(|e| anyhow::anyhow!("starting the worker: {e}"))?;
    let app = worker.router();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(wait_for(rx))
            .await
        {
            tracing::error!(error = %e, "worker server stopped");
        }
    });
    Ok(RunningWorker { stop, task, worker })
}
