//! The single-service design (`WORKER_ROLE=single`): one process is the
//! interactions endpoint, the queue and the worker.
//!
//! This crate sits above both services, which know nothing of each other:
//! it starts a worker, then an ingress with the worker's router as its
//! local push delivery's destination (`mandala_queue::inprocess`), so jobs
//! are handed over directly instead of POSTed: the same ordering keys,
//! turns, retries, last words and queue ledger as the two-service designs,
//! without a network hop. Nothing of the worker's is reachable from
//! outside; the public router is the ingress's. Cheap jobs are answered
//! with their image (`mandala_worker`'s inline answer).
//!
//! What this gives up: rendering has no cap of its own (the instances that
//! answer Discord are the ones that render), and a job still queued when
//! the instance dies is lost — at a graceful stop its user is told, but a
//! crash tells nobody. On Cloud Run the queue runs after the response, so
//! the service needs CPU outside requests (`cpu_idle = false`).
//!
//! It also holds the `mandala-worker` binary, which serves every worker
//! role: `single` here, the others through `mandala_worker::serve`.

use std::future::Future;

use clap::Parser as _;
use mandala_ingress::{Embedding, Ingress};
use mandala_worker::config::{Config, ConfigError};
use mandala_worker::{Role, StartError, Worker};

/// Runs the worker `config` asks for on `listener` until `shutdown`: the
/// single service for `WORKER_ROLE=single`, the worker alone otherwise.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if config.worker_role == Role::Single {
        serve_single(config, listener, shutdown).await
    } else {
        mandala_worker::serve(config, listener, shutdown).await
    }
}

/// Runs the single service on `listener` until `shutdown`, then drains the
/// server, tells the users of jobs still queued, and lets running jobs end.
pub async fn serve_single(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // The ingress's settings are the environment's too (PORT, DISCORD_*,
    // FIRESTORE_DATABASE, MAX_QUEUED_PER_USER, ...); flags are the worker's.
    let ingress_config = mandala_ingress::config::Config::try_parse_from(["mandala-worker"])
        .map_err(|e| {
            StartError::Config(ConfigError {
                var: "WORKER_ROLE",
                reason: format!("single reads the ingress's settings too: {e}"),
                source: Some(Box::new(e)),
            })
        })?;
    let limits = ingress_config.http_limits();
    let inline = config.inline_render_max_ms;
    let worker = Worker::start(config).await?;
    let embedding = Embedding {
        in_process: Some(worker.in_process(true)),
        shared_memory_ledger: false,
        inline: worker.inline_answer(inline),
    };
    let ingress = Ingress::start_with(ingress_config, embedding)
        .await
        .map_err(|e| StartError::Ingress(Box::new(e)))?;
    let drained =
        mandala_service::server::serve(listener, ingress.router(), limits, shutdown).await;
    if drained.cut > 0 {
        tracing::warn!(cut = drained.cut, "interactions still in progress were cut");
    }
    ingress.shutdown().await;
    worker.shutdown().await;
    Ok(())
}
