//! The `mandala` operator command.
//!
//! One binary for everything an operator or developer does by hand: render
//! images, run the whole bot on one machine, talk to it, queue manual jobs,
//! register the slash command, load-test an endpoint and measure the
//! bot at capacity ([`lab`]).
//!
//! Layout: [`cli`] holds the command tree and dispatch; each subcommand lives
//! in its own module under [`commands`], with its flags (`Args`) beside its
//! `run` function. [`spec_args`] holds the render-option flags that several
//! subcommands share; [`out`] writes the reports (`say!`), ending quietly
//! when a pipe's reader goes away.

pub mod cli;
pub mod commands;
pub mod dev;
pub mod lab;
pub mod out;
pub mod spec_args;

/// An error in what the user typed: reported without a backtrace and with
/// exit code 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
