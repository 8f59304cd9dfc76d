//! `mandala-ingress`: serves Discord's interactions endpoint on `PORT`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use mandala_ingress::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // Bad or missing variables: clap names them and exits with 2.
    let config = Config::parse();
    mandala_service::logging::init();
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr} (PORT): {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, "mandala-ingress listening");
    match mandala_ingress::serve(config, listener, mandala_service::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ mandala_ingress::StartError::Config(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
