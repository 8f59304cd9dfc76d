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
//! The services are started from the same `Config` types their binaries
//! parse, so the code paths are the production ones; only the adapters
//! (local push delivery, local directory store, stand-in) differ.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser as _;
use ed25519_dalek::SigningKey;
use mandala_standin::discord::DiscordStandin;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{emulators, keys, playground};

pub use super::DEV_APPLICATION_ID;

/// Delivery attempts before the local push delivery dead-letters a job.
const LOCAL_PUSH_ATTEMPTS: u32 = 15;

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
        }
    }
}

/// Where rendered images end up.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Directory(PathBuf),
    Bucket { endpoint: String, bucket: String },
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
    worker_addr: SocketAddr,
    stop_front: watch::Sender<bool>,
    front: JoinHandle<()>,
    ingress: Option<mandala_ingress::Ingress>,
    worker: Option<RunningWorker>,
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

fn to_args(pairs: &[(&str, String)], program: &str) -> Vec<String> {
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
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;

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
        let worker_config = worker_config(&options, worker_addr.port(), &api_base, &store)?;
        let worker = start_worker(worker_config, worker_listener).await?;

        // Ingress: local push delivery into the worker, or the Pub/Sub emulator.
        let mut ingress_args = vec![
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
        match &options.pubsub_emulator {
            Some(host) => {
                let topic = emulators::ensure_push_topic(
                    host,
                    &format!("{worker_url}/pubsub/push"),
                    &format!("{worker_url}/pubsub/dead-letter"),
                )
                .await?;
                ingress_args.push(("pubsub-topic", topic));
                ingress_args.push(("pubsub-emulator-host", host.clone()));
            }
            None => {
                ingress_args.push(("local-push-url", format!("{worker_url}/pubsub/push")));
                // Generous: on one machine a worker restart must not dead-letter queued jobs.
                ingress_args.push(("local-push-max-attempts", LOCAL_PUSH_ATTEMPTS.to_string()));
                ingress_args.push((
                    "local-spool-file",
                    options.dir.join("pending.jsonl").display().to_string(),
                ));
                ingress_args.push((
                    "local-dead-letter-file",
                    options.dir.join("dead-letter.jsonl").display().to_string(),
                ));
            }
        }
        let ingress_config = mandala_ingress::config::Config::try_parse_from(to_args(
            &ingress_args,
            "mandala-ingress",
        ))
        .map_err(|e| anyhow::anyhow!("ingress configuration: {e}"))?;
        let ingress = mandala_ingress::Ingress::start(ingress_config)
            .await
            .map_err(|e| anyhow::anyhow!("starting the ingress: {e}"))?;

        let playground = playground::Playground {
            interactions_url: format!("{base_url}/interactions"),
            application_id: application_id.clone(),
            public_key_hex: public_key_hex.clone(),
            signing_key: signing_key.clone(),
            standin: standin.clone(),
            store: store.clone(),
            client: reqwest::Client::new(),
            ledger: ingress.ledger().clone(),
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
            worker_addr,
            stop_front,
            front,
            ingress: Some(ingress),
            worker: Some(worker),
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

    /// Starts the worker again on the same address.
    pub async fn restart_worker(&mut self) -> anyhow::Result<()> {
        self.stop_worker().await;
        let listener = TcpListener::bind(self.worker_addr)
            .await
            .context("re-binding the worker port")?;
        let config = worker_config(
            &self.options,
            self.worker_addr.port(),
            &self.api_base(),
            &self.store,
        )?;
        self.worker = Some(start_worker(config, listener).await?);
        Ok(())
    }

    fn api_base(&self) -> String {
        self.options
            .discord_api_base
            .clone()
            .unwrap_or_else(|| format!("{}/api/v10", self.base_url))
    }

    /// Clean shutdown: stop taking interactions, persist undelivered jobs,
    /// then let the worker finish what it is rendering.
    pub async fn shutdown(mut self) {
        let _ = self.stop_front.send(true);
        let _ = (&mut self.front).await;
        if let Some(ingress) = self.ingress.take() {
            ingress.shutdown().await;
        }
        if let Some(w) = self.worker.take() {
            let _ = w.stop.send(true);
            let _ = w.task.await;
            w.worker.shutdown().await;
        }
    }
}

/// The worker's configuration, parsed from flags like its binary's.
fn worker_config(
    options: &DevOptions,
    port: u16,
    api_base: &str,
    store: &StoreLocation,
) -> anyhow::Result<mandala_worker::config::Config> {
    let mut args = vec![
        ("port", port.to_string()),
        ("discord-api-base", api_base.to_owned()),
    ];
    match (&options.pubsub_emulator, &options.firestore_emulator) {
        // Through Pub/Sub the worker keeps the shared ledger.
        (Some(_), Some(host)) => {
            args.push((
                "firestore-database",
                emulators::FIRESTORE_DATABASE.to_owned(),
            ));
            args.push(("firestore-emulator-host", host.clone()));
            args.push((
                "max-delivery-attempts",
                emulators::MAX_DELIVERY_ATTEMPTS.to_string(),
            ));
        }
        // With local delivery the delivery keeps it; the worker's last
        // attempt is the delivery's.
        _ => args.push(("max-delivery-attempts", LOCAL_PUSH_ATTEMPTS.to_string())),
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
    mandala_worker::config::Config::try_parse_from(to_args(&args, "mandala-worker"))
        .map_err(|e| anyhow::anyhow!("worker configuration: {e}"))
}

async fn start_worker(
    config: mandala_worker::config::Config,
    listener: TcpListener,
) -> anyhow::Result<RunningWorker> {
    let worker = mandala_worker::Worker::start(config)
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
