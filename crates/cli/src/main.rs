use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    mandala_cli::cli::run(mandala_cli::cli::Cli::parse()).await
}
