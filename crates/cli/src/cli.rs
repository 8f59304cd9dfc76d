//! The command tree and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::UsageError;
use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "mandala",
    version,
    about = "Mandala Bot: render mandalas and run, test and operate the Discord bot"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render one mandala to a file and print its resolved spec.
    Render(commands::render::Args),
    /// List the named palettes.
    Palettes(commands::palettes::Args),
    /// Render a contact sheet of several seeds and styles.
    Gallery(commands::gallery::Args),
    /// Run the whole bot on this machine: ingress, worker, local Discord and a playground page.
    Dev(commands::dev::Args),
    /// Send one signed /mandala interaction and print the reply.
    Interact(commands::interact::Args),
    /// Queue a render job by hand.
    Publish(commands::publish::Args),
    /// Register the /mandala slash command with Discord.
    RegisterCommands(commands::register_commands::Args),
    /// Load-test an interactions endpoint with signed requests.
    Load(commands::load::Args),
    /// Run the real binaries at capacity and report estimates, fairness and final states.
    Lab(commands::lab::Args),
}

/// Runs the command; maps [`UsageError`]s to exit code 2 and others to 1.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Render(a) => commands::render::run(a).await,
        Command::Palettes(a) => commands::palettes::run(a).await,
        Command::Gallery(a) => commands::gallery::run(a).await,
        Command::Dev(a) => commands::dev::run(a).await,
        Command::Interact(a) => commands::interact::run(a).await,
        Command::Publish(a) => commands::publish::run(a).await,
        Command::RegisterCommands(a) => commands::register_commands::run(a).await,
        Command::Load(a) => commands::load::run(a).await,
        Command::Lab(a) => commands::lab::run(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<UsageError>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
