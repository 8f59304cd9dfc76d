//! [`AppState`]: what every request handler shares. It sits below the
//! handlers and the dispatcher, and knows neither.

use std::sync::Arc;
use std::time::Duration;

use crate::publish::JobPublisher;
use crate::replay::SeenIds;
use crate::signing::PublicKey;

pub struct AppState {
    pub key: PublicKey,
    pub application_id: Option<String>,
    pub max_age_secs: u64,
    pub max_body_bytes: usize,
    /// Every interaction is answered within this, from its arrival.
    pub answer_budget: Duration,
    /// Publishing one job takes at most this (and what is left of the
    /// answer budget).
    pub publish_timeout: Duration,
    pub seen: SeenIds,
    pub publisher: JobPublisher,
    /// The queue ledger: per-user caps and wait estimates.
    pub ledger: mandala_ledger::Ledger,
    /// Which commands make a grid by default.
    pub grid: crate::config::GridDefaults,
    /// A worker in this process that answers cheap jobs with their image.
    pub inline: Option<Arc<dyn crate::inline::InlineAnswer>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("publisher", &self.publisher)
            .field("inline", &self.inline.is_some())
            .finish_non_exhaustive()
    }
}
