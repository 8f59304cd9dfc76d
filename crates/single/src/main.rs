//! `mandala-worker`: the render back end behind the Pub/Sub push subscription
//! or the Cloud Tasks queue, every role of it (`WORKER_ROLE`), the single
//! service included.

use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = mandala_worker::Config::parse();
    mandala_service::logging::init();
    // Fail on a bad setting before binding the port.
    config.check()?;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.cloud_run.port))
        .await
        .with_context(|| format!("cannot listen on PORT {}", config.cloud_run.port))?;
    mandala_single::serve(config, listener, mandala_service::shutdown::signal()).await?;
    Ok(())
}
