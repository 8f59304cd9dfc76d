//! The load lab: the real binaries at capacity, measured.
//!
//! `mandala lab` starts the ingress and worker binaries (with a capped
//! worker), a Discord stand-in, and in [`bot::Mode::Emulators`] the
//! Pub/Sub and Firestore emulators; then plays a [`scenario::Scenario`]
//! (users alone, one user's burst beside light users, steady mixed load)
//! and reports how honest the estimates were, how long light users waited
//! while one user burst, what was refused, and that every job reached a
//! final state ([`report::Summary`]). The end-to-end tests run a small
//! scenario through the same code.
//!
//! - [`processes`]: a service binary in its own process.
//! - [`bot`]: the two ways of wiring the binaries.
//! - [`scenario`]: what the users do, and what each saw.
//! - [`report`]: the summary.

pub mod bot;
pub mod processes;
pub mod report;
pub mod scenario;

pub use bot::{Bot, BotSetup, Mode};
pub use report::Summary;
pub use scenario::{Record, Scenario};

/// Starts the bot, runs the scenario, sums it up.
pub async fn run(setup: &BotSetup, scenario: &Scenario) -> anyhow::Result<(Vec<Record>, Summary)> {
    let bot = Bot::start(setup).await?;
    let records = scenario::run(&bot, scenario).await?;
    let summary = report::summarize(&records);
    Ok((records, summary))
}
