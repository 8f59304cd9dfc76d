//! The ingress service: Discord's interactions endpoint.
//!
//! Discord POSTs every interaction here and allows 3 seconds for the answer.
//! The ingress never renders: it verifies the request, answers at once, and
//! hands a [`mandala_model::Job`] to the worker through Pub/Sub (or, on one
//! machine, through a local push delivery).
//!
//! Layout:
//! - [`config`]: the settings, one definition each (env vars and flags).
//! - [`signing`]: Ed25519 request signatures, checked and (for clients) made.
//! - [`replay`]: per-instance memory of recent interaction ids.
//! - [`state`]: [`state::AppState`], what every handler shares; [`answer`]:
//!   what a handler gives back ([`answer::Handled`], or a
//!   [`answer::Rejection`] that is a response by itself, so handlers use
//!   `?`); [`outcome`]: how a request ended, one logged word each. These sit
//!   below the handlers and the dispatcher, and import neither.
//! - [`interactions`]: the HTTP endpoint: verification, then one handler per
//!   interaction type, and the per-request log line.
//! - [`commands`], [`buttons`], [`forms`]: the handlers — `/mandala` and the
//!   context menus, button clicks, the Remix form.
//! - [`request`]: from "draw this" to a queued job, the path all of them end in.
//! - [`admission`]: the queue ledger's verdict on each render request (the
//!   per-user cap, the wait estimate, refusals) and what the user is told.
//! - [`inline`]: answering an interaction with its finished image, when a
//!   worker shares this process (the single-service design).
//!
//! Jobs leave through `mandala_queue`'s publishers (Pub/Sub, Cloud Tasks,
//! the local push delivery), which the worker shares for its reply jobs:
//! the two services sit side by side on that crate, and neither depends on
//! the other.
//!
//! [`Ingress`] ties these together; [`serve`] runs it on a listener, with
//! the limits of [`mandala_service::server`], until a shutdown signal, then
//! drains and flushes. A process that also runs a worker (`mandala-worker`
//! in the single design, `mandala dev`) starts it with [`Embedding`].

pub mod admission;
pub mod answer;
pub mod buttons;
pub mod commands;
pub mod config;
pub mod forms;
pub mod inline;
pub mod interactions;
pub mod outcome;
pub mod replay;
pub mod request;
pub mod signing;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, ConfigError, LedgerChoice, PublishTarget};
use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::backend::memory::MemoryBackend;
use mandala_ledger::{Backend, Ledger, LedgerError, Notifier, Policy};
use mandala_queue::JobPublisher;
pub use mandala_queue::inprocess::{InProcess, InlineAnswer};
use mandala_queue::local::{LocalPush, LocalPushConfig, LocalPushError};
use mandala_queue::pubsub::PubsubPublisher;
use mandala_queue::tasks::TasksPublisher;

/// Why the ingress could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("local push delivery: {0}")]
    LocalPush(#[from] LocalPushError),
    #[error("queue ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// A running ingress: its state and publisher.
#[derive(Debug)]
pub struct Ingress {
    state: Arc<state::AppState>,
}

/// What a process that runs a worker too gives the ingress beyond its
/// configuration.
#[derive(Default)]
pub struct Embedding {
    /// Deliver jobs to this worker in this process instead of a publisher
    /// the configuration names (the single-service design).
    pub in_process: Option<InProcess>,
    /// Keep the queue ledger in this process's memory although the jobs go
    /// through a cloud queue: the caller gives the same ledger to a worker
    /// in this process (`mandala dev --topology cloud-tasks`).
    pub shared_memory_ledger: bool,
    /// Answer cheap interactions with the image itself.
    pub inline: Option<Arc<dyn InlineAnswer>>,
}

impl Ingress {
    /// Validates the configuration and builds the publisher (Google Pub/Sub,
    /// Cloud Tasks or local push delivery). Never waits on the network: the
    /// cloud clients are built in the background.
    pub async fn start(config: Config) -> Result<Ingress, StartError> {
        Self::start_with(config, Embedding::default()).await
    }

    /// [`Ingress::start`] in a process that runs a worker too.
    pub async fn start_with(config: Config, embedding: Embedding) -> Result<Ingress, StartError> {
        let in_process = embedding.in_process.is_some();
        config.check_embedded(in_process, embedding.shared_memory_ledger)?;
        let shared = if in_process || embedding.shared_memory_ledger {
            None
        } else {
            match config.publish_target()? {
                PublishTarget::Pubsub { .. } => Some("PUBSUB_TOPIC"),
                PublishTarget::CloudTasks(_) => Some("CLOUD_TASKS_QUEUE"),
                PublishTarget::LocalPush { .. } => None,
            }
        };
        let ledger = ledger(&config, config.ledger_with(shared)?)?;
        let publisher = publisher(&config, embedding.in_process, &ledger)?;
        // A replay can arrive at most 2×window after the original (the window
        // is symmetric); without a window, remember ids as long as their
        // token lives.
        let seen_ttl = if config.signature_max_age_secs == 0 {
            Duration::from_millis(mandala_model::job::TOKEN_LIFETIME_MS)
        } else {
            Duration::from_secs(config.signature_max_age_secs.saturating_mul(2))
        };
        let state = state::AppState {
            key: config.discord_public_key,
            application_id: config.discord_application_id.filter(|a| !a.is_empty()),
            max_age_secs: config.signature_max_age_secs,
            max_body_bytes: usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
            answer_budget: Duration::from_millis(config.answer_budget_ms),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            seen: replay::SeenIds::new(seen_ttl, config.replay_memory_ids as usize),
            publisher,
            ledger,
            grid: config.grid_commands,
            inline: embedding.inline,
        };
        Ok(Ingress {
            state: Arc::new(state),
        })
    }

    /// `POST /interactions` and `GET /healthz`, with the state inside.
    pub fn router(&self) -> axum::Router {
        interactions::router(Arc::clone(&self.state))
    }

    /// The publisher, for callers that queue jobs themselves.
    pub fn publisher(&self) -> &JobPublisher {
        &self.state.publisher
    }

    /// The queue ledger (the playground shows its totals).
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// Flushes the publisher; the local push delivery spools what it could
    /// not deliver.
    pub async fn shutdown(self) {
        self.state.publisher.shutdown().await;
    }
}

/// Where jobs go: the worker in this process, or the publisher the
/// configuration names (Pub/Sub, Cloud Tasks, local push delivery).
fn publisher(
    config: &Config,
    in_process: Option<InProcess>,
    ledger: &Ledger,
) -> Result<JobPublisher, StartError> {
    if let Some(p) = in_process {
        return local_delivery(
            config,
            http::Uri::from_static("http://in-process/pubsub/push"),
            http::Uri::from_static("http://in-process/pubsub/dead-letter"),
            Some(p),
            ledger,
        );
    }
    Ok(match config.publish_target()? {
        PublishTarget::Pubsub {
            topic,
            emulator_host,
        } => JobPublisher::Pubsub(PubsubPublisher::start(topic, emulator_host)),
        PublishTarget::CloudTasks(target) => {
            JobPublisher::CloudTasks(TasksPublisher::start(target))
        }
        PublishTarget::LocalPush { url } => {
            let dead_letter_url = config.dead_letter_url(&url)?;
            local_delivery(config, url, dead_letter_url, None, ledger)?
        }
    })
}

/// The local push delivery to `url` (or straight to the worker in this
/// process), with its waiting notices.
fn local_delivery(
    config: &Config,
    url: http::Uri,
    dead_letter_url: http::Uri,
    in_process: Option<InProcess>,
    ledger: &Ledger,
) -> Result<JobPublisher, StartError> {
    let (router, max_attempts, ack_deadline, tell_on_shutdown) = match in_process {
        Some(p) => (
            Some(p.worker),
            p.max_attempts,
            p.ack_deadline,
            p.tell_on_shutdown,
        ),
        None => (
            None,
            config.local_push_max_attempts,
            Duration::from_secs(config.local_push_ack_deadline_secs),
            false,
        ),
    };
    let notifier = Notifier::new(config.discord_base()?, mandala_model::discord::user_agent())
        .map_err(|e| StartError::Http(e.to_string()))?;
    Ok(JobPublisher::Local(LocalPush::start(
        LocalPushConfig {
            url,
            subscription: mandala_queue::local::SUBSCRIPTION.to_owned(),
            in_process: router,
            tell_on_shutdown,
            dead_letter_url,
            max_attempts,
            dead_letter_file: config.local_dead_letter_file.clone(),
            spool_file: config.local_spool_file.clone(),
            capacity: config.local_push_queue_capacity as usize,
            ack_deadline,
            concurrency: config.local_push_concurrency as usize,
            min_backoff: Duration::from_millis(config.local_push_min_backoff_ms),
            max_backoff: Duration::from_millis(config.local_push_max_backoff_ms),
        },
        Some(ledger.clone()),
        Some(notifier),
    )?))
}

/// The queue ledger the configuration asks for.
fn ledger(config: &Config, choice: LedgerChoice) -> Result<Ledger, StartError> {
    let (backend, refresh): (Arc<dyn Backend>, Duration) = match choice {
        // One process sees every job: totals can be fresh.
        LedgerChoice::Memory => (Arc::new(MemoryBackend::new()), Duration::from_millis(250)),
        LedgerChoice::Firestore {
            database,
            emulator_host,
        } => (
            Arc::new(FirestoreBackend::connect(
                &database,
                emulator_host.as_deref(),
            )?),
            Duration::from_secs(1),
        ),
    };
    tracing::info!(
        ledger = backend.name(),
        max_queued_per_user = config.max_queued_per_user,
        "queue ledger ready"
    );
    let ledger = Ledger::new(
        backend,
        Policy {
            max_per_user: config.max_queued_per_user,
            max_wait: admission::MAX_WAIT,
            refresh,
            timeout: Duration::from_millis(config.ledger_timeout_ms),
            // The ingress starts nothing; the processes that run jobs watch them.
            stall_after: None,
        },
    );
    ledger.warm_up(now_ms());
    Ok(ledger)
}

pub use mandala_model::clock::now_ms;

/// Serves on `listener` until `shutdown` resolves, then stops accepting,
/// finishes in-flight requests (within `SHUTDOWN_DRAIN_SECS`) and flushes
/// the publisher.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let limits = config.http_limits();
    let ingress = Ingress::start(config).await?;
    ingress.serve(listener, limits, shutdown).await;
    Ok(())
}

impl Ingress {
    /// Serves this ingress on `listener` with `limits` until `shutdown`
    /// resolves, then drains and flushes (see [`serve`]).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        limits: mandala_service::server::Limits,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let drained =
            mandala_service::server::serve(listener, self.router(), limits, shutdown).await;
        if drained.cut > 0 {
            tracing::warn!(
                cut = drained.cut,
                "in-flight requests did not finish within the drain budget"
            );
        }
        self.shutdown().await;
    }
}
