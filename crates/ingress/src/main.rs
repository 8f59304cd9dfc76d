//! `mandala-ingress`: serves Discord's interactions endpoint on `PORT`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use mandala_ingress::config::Config;

// Each interaction allocates a few dozen short-lived buffers (headers, JSON,
// the job, the push request); mimalloc's thread-local free lists serve them
// for less than glibc's bins, which profiled at about a tenth of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Bad or missing variables: clap names them and exits with 2.
    let config = Config::parse();
    mandala_service::logging::init();
    // One vCPU (a common size for a thin Cloud Run service): a single-threaded
    // scheduler saves the cross-thread wake-ups a work-stealing one pays.
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runtime = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.cloud_run.port));
    let limits = config.http_limits();
    // Every setting is checked before the port is taken: a bad one ends
    // here, with one line naming it, and never after "listening".
    let ingress = match mandala_ingress::Ingress::start(config).await {
        Ok(i) => i,
        Err(e @ mandala_ingress::StartError::Config(_)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr} (PORT): {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, "mandala-ingress listening");
    ingress
        .serve(listener, limits, mandala_service::shutdown::signal())
        .await;
    ExitCode::SUCCESS
}
