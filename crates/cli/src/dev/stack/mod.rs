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
//!
//! - [`options`]: what the caller asks for ([`DevOptions`], [`Topology`]).
//! - [`design`]: each design's settings, and what it needs created.
//! - [`settings`]: those settings as types, and the services' configs.
//! - [`running`]: listeners, servers, the directory's lock.

use std::net::SocketAddr;

use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use mandala_ledger::Ledger;
use mandala_standin::discord::DiscordStandin;
use mandala_standin::tasks::CloudTasksTwin;

use super::store::StoreLocation;
use super::{emulators, keys, playground};
use design::{Ground, Plan};
use running::{Gate, RunningWorker, Served, bind, lock_dir};
use settings::WorkerSettings;

pub use super::DEV_APPLICATION_ID;
pub use options::{DevOptions, Topology};
pub use settings::{TASKS_ACCOUNT, TASKS_QUEUE};

mod design;
mod options;
mod running;
mod settings;

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
    worker_settings: WorkerSettings,
    /// The in-memory ledger the worker shares with the ingress (`cloud-tasks`).
    shared_ledger: Option<Ledger>,
    front: Served,
    /// The ingress's routes on the front port, closed first at shutdown.
    gate: Gate,
    ingress: Option<mandala_ingress::Ingress>,
    worker: Option<RunningWorker>,
    replier: Option<RunningWorker>,
    /// Held while the stack runs: two stacks must not share a directory's
    /// spool, dead letters and key.
    _dir_lock: std::fs::File,
}

/// Who the stack is to Discord: the key interactions are signed with and
/// the application they are for.
struct Identity {
    public_key_hex: String,
    /// The dev key pair's private half (none with a real application).
    signing_key: Option<SigningKey>,
    application_id: String,
}

impl Identity {
    fn of(options: &DevOptions) -> anyhow::Result<Identity> {
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
        Ok(Identity {
            public_key_hex,
            signing_key,
            application_id,
        })
    }
}

/// The worker's store: a directory under the state directory, or a bucket
/// in the Cloud Storage emulator (created when missing).
async fn store_location(options: &DevOptions) -> anyhow::Result<StoreLocation> {
    Ok(match &options.gcs_emulator {
        Some(endpoint) => {
            let bucket = "mandala-dev".to_owned();
            emulators::ensure_bucket(endpoint, &bucket).await?;
            StoreLocation::Bucket {
                endpoint: endpoint.clone(),
                bucket,
            }
        }
        None => StoreLocation::Directory(options.dir.join("store")),
    })
}

/// The services of a started plan.
struct Services {
    ingress: mandala_ingress::Ingress,
    worker: RunningWorker,
    replier: Option<RunningWorker>,
    shared_ledger: Option<Ledger>,
}

impl Services {
    async fn start(
        plan: &mut Plan,
        worker_listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Services> {
        let replier = match plan.replier.take() {
            Some(r) => Some(RunningWorker::start(r.settings.config()?, r.listener, None).await?),
            None => None,
        };
        let ingress_config = plan.ingress.config()?;
        let start_ingress = |embedding| async move {
            mandala_ingress::Ingress::start_with(ingress_config, embedding)
                .await
                .map_err(|e| anyhow::anyhow!("starting the ingress: {e}"))
        };
        let (ingress, worker, shared_ledger) = if plan.worker.stage == settings::Stage::Single {
            // The worker first: the ingress hands it jobs in this process.
            let config = plan.worker.config()?;
            let inline = config.inline_render_max_ms;
            let worker = RunningWorker::start(config, worker_listener, None).await?;
            // Queued jobs are spooled at shutdown, as in the other designs.
            let ingress = start_ingress(mandala_ingress::Embedding {
                in_process: Some(worker.worker.in_process(false)),
                shared_memory_ledger: false,
                inline: worker.worker.inline_answer(inline),
            })
            .await?;
            (ingress, worker, None)
        } else {
            // The ingress first: with the twin and no Firestore, the worker
            // ends jobs in the ingress's in-memory ledger.
            let ingress = start_ingress(mandala_ingress::Embedding {
                shared_memory_ledger: plan.shared_memory_ledger,
                ..mandala_ingress::Embedding::default()
            })
            .await?;
            let shared = plan.shared_memory_ledger.then(|| ingress.ledger().clone());
            let worker =
                RunningWorker::start(plan.worker.config()?, worker_listener, shared.clone())
                    .await?;
            (ingress, worker, shared)
        };
        Ok(Services {
            ingress,
            worker,
            replier,
            shared_ledger,
        })
    }
}

/// What the front port serves: the ingress, the playground and (without
/// a real application) the Discord stand-in.
fn front_app(
    options: &DevOptions,
    id: &Identity,
    base_url: &str,
    standin: Option<&DiscordStandin>,
    store: &StoreLocation,
    ingress: &mandala_ingress::Ingress,
    gate: &Gate,
) -> axum::Router {
    let playground = playground::Playground {
        interactions_url: format!("{base_url}/interactions"),
        application_id: id.application_id.clone(),
        public_key_hex: id.public_key_hex.clone(),
        signing_key: id.signing_key.clone(),
        standin: standin.cloned(),
        store: store.clone(),
        client: reqwest::Client::new(),
        ledger: ingress.ledger().clone(),
        design: options.topology.as_str(),
    };
    let app = gate.guard(ingress.router()).merge(playground.router());
    match standin {
        Some(s) => app.nest("/api/v10", s.router()),
        None => app,
    }
}

impl DevStack {
    pub async fn start(options: DevOptions) -> anyhow::Result<DevStack> {
        options.check()?;
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let dir_lock = lock_dir(&options.dir)?;
        let id = Identity::of(&options)?;
        let (host, port) = (options.host, options.port);
        let front_listener =
            bind(host, port, "is another `mandala dev` running? use --port").await?;
        let base_url = format!("http://{}", front_listener.local_addr()?);
        let worker_listener = bind(host, options.worker_port, "use --worker-port").await?;
        let worker_addr = worker_listener.local_addr()?;
        let worker_url = format!("http://{worker_addr}");
        let standin = options.discord_api_base.is_none().then(DiscordStandin::new);
        let api_base = options
            .discord_api_base
            .clone()
            .unwrap_or_else(|| format!("{base_url}/api/v10"));
        let store = store_location(&options).await?;
        let mut plan = Plan::of(&Ground {
            options: &options,
            front_port: front_listener.local_addr()?.port(),
            worker_port: worker_addr.port(),
            worker_url: &worker_url,
            public_key_hex: &id.public_key_hex,
            api_base: &api_base,
            store: &store,
        })
        .await?;
        let replier_url = plan.replier.as_ref().map(|r| r.url.clone());
        let services = Services::start(&mut plan, worker_listener).await?;
        let gate = Gate::new();
        let app = front_app(
            &options,
            &id,
            &base_url,
            standin.as_ref(),
            &store,
            &services.ingress,
            &gate,
        );
        Ok(DevStack {
            base_url,
            worker_url,
            application_id: id.application_id,
            public_key_hex: id.public_key_hex,
            signing_key: id.signing_key,
            standin,
            store,
            options,
            front: Served::start(front_listener, app, "front server"),
            gate,
            replier_url,
            tasks: plan.tasks,
            worker_addr,
            worker_settings: plan.worker,
            shared_ledger: services.shared_ledger,
            ingress: Some(services.ingress),
            worker: Some(services.worker),
            replier: services.replier,
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
            w.served.abort().await;
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
        let listener = tokio::net::TcpListener::bind(self.worker_addr)
            .await
            .context("re-binding the worker port")?;
        let config = self.worker_settings.config()?;
        self.worker =
            Some(RunningWorker::start(config, listener, self.shared_ledger.clone()).await?);
        Ok(())
    }

    /// Clean shutdown: stop taking interactions, persist undelivered jobs,
    /// let the worker finish what it is rendering, and only then stop the
    /// Discord stand-in and the playground: the worker's last replies go to
    /// the stand-in, and without it they would retry until the job
    /// deadline (issue #24).
    pub async fn shutdown(mut self) {
        self.gate.close().await;
        if let Some(ingress) = self.ingress.take() {
            ingress.shutdown().await;
        }
        for w in [&self.worker, &self.replier].into_iter().flatten() {
            w.worker.stopping();
        }
        // The render stage before the replier: it hands its last replies on.
        for w in [self.worker.take(), self.replier.take()]
            .into_iter()
            .flatten()
        {
            w.shutdown().await;
        }
        self.front.stop().await;
    }

    /// The render counter of the worker (the render stage in the split design).
    pub fn renders(&self) -> u64 {
        self.worker.as_ref().map_or(0, |w| w.worker.stats().renders)
    }
}
