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
//! - [`interactions`]: the HTTP endpoint: verification, then one handler per
//!   interaction type, and the per-request log line.
//! - [`commands`], [`buttons`], [`forms`]: the handlers — `/mandala` and the
//!   context menus, button clicks, the Remix form.
//! - [`request`]: from "draw this" to a queued job, the path all of them end in.
//! - [`admission`]: the queue ledger's verdict on each render request (the
//!   per-user cap, the wait estimate, refusals) and what the user is told.
//! - [`publish`]: the [`publish::JobPublisher`] and its Pub/Sub and local
//!   push back ends.
//!
//! [`Ingress`] ties these together; [`serve`] runs it on a listener, with
//! the limits of [`mandala_service::server`], until a shutdown signal, then
//! drains and flushes.

pub mod admission;
pub mod buttons;
pub mod commands;
pub mod config;
pub mod forms;
pub mod interactions;
pub mod publish;
pub mod replay;
pub mod request;
pub mod signing;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, ConfigError, LedgerChoice, PublishTarget};
use mandala_ledger::backend::firestore::FirestoreBackend;
use mandala_ledger::backend::memory::MemoryBackend;
use mandala_ledger::{Backend, Ledger, LedgerError, Notifier, Policy};
use publish::JobPublisher;
use publish::local::{LocalPush, LocalPushConfig, LocalPushError};
use publish::pubsub::PubsubPublisher;

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
    state: Arc<interactions::AppState>,
}

impl Ingress {
    /// Validates the configuration and builds the publisher (Google Pub/Sub
    /// or local push delivery). Never waits on the network: the Pub/Sub
    /// client is built in the background.
    pub async fn start(config: Config) -> Result<Ingress, StartError> {
        config.check()?;
        let ledger = ledger(&config)?;
        let publisher = match config.publish_target()? {
            PublishTarget::Pubsub {
                topic,
                emulator_host,
            } => JobPublisher::Pubsub(PubsubPublisher::start(topic, emulator_host)),
            PublishTarget::LocalPush { url } => {
                let notifier =
                    Notifier::new(config.discord_base()?, mandala_model::discord::user_agent())
                        .map_err(|e| StartError::Http(e.to_string()))?;
                JobPublisher::Local(LocalPush::start(
                    LocalPushConfig {
                        dead_letter_url: config.dead_letter_url(&url)?,
                        url,
                        max_attempts: config.local_push_max_attempts,
                        dead_letter_file: config.local_dead_letter_file.clone(),
                        spool_file: config.local_spool_file.clone(),
                        capacity: config.local_push_queue_capacity as usize,
                        ack_deadline: Duration::from_secs(config.local_push_ack_deadline_secs),
                        concurrency: config.local_push_concurrency as usize,
                        min_backoff: Duration::from_millis(config.local_push_min_backoff_ms),
                        max_backoff: Duration::from_millis(config.local_push_max_backoff_ms),
                    },
                    Some(ledger.clone()),
                    Some(notifier),
                )?)
            }
        };
        // A replay can arrive at most 2×window after the original (the window
        // is symmetric); without a window, remember ids as long as their
        // token lives.
        let seen_ttl = if config.signature_max_age_secs == 0 {
            Duration::from_millis(mandala_model::job::TOKEN_LIFETIME_MS)
        } else {
            Duration::from_secs(config.signature_max_age_secs.saturating_mul(2))
        };
        let state = interactions::AppState {
            key: config.discord_public_key,
            application_id: config.discord_application_id.filter(|a| !a.is_empty()),
            max_age_secs: config.signature_max_age_secs,
            max_body_bytes: usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            seen: replay::SeenIds::new(seen_ttl, config.replay_memory_ids as usize),
            publisher,
            ledger,
            grid: config.grid_commands,
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

/// The queue ledger the configuration asks for.
fn ledger(config: &Config) -> Result<Ledger, StartError> {
    let (backend, refresh): (Arc<dyn Backend>, Duration) = match config.ledger()? {
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
        },
    );
    ledger.warm_up(now_ms());
    Ok(ledger)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

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
    let drained =
        mandala_service::server::serve(listener, ingress.router(), limits, shutdown).await;
    if drained.cut > 0 {
        tracing::warn!(
            cut = drained.cut,
            "in-flight requests did not finish within the drain budget"
        );
    }
    ingress.shutdown().await;
    Ok(())
}
