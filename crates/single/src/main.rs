//! `mandala-worker`: the render back end behind the Pub/Sub push subscription
//! or the Cloud Tasks queue, every role of it (`WORKER_ROLE`), the single
//! service included.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // Bad or missing variables: clap names them and exits with 2.
    let config = mandala_worker::Config::parse();
    mandala_service::logging::init();
    // Fail on a bad setting before binding the port: one line naming it,
    // exit 2, and no backtrace whatever RUST_BACKTRACE says.
    if let Err(e) = config.check() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", config.cloud_run.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on PORT {}: {e}",
                config.cloud_run.port
            );
            return ExitCode::FAILURE;
        }
    };
    match mandala_single::serve(config, listener, mandala_service::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ mandala_worker::StartError::Config(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
