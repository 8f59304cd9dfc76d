//! Log output: Cloud Logging JSON on Cloud Run, text locally.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where the process runs, as far as logging cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// Cloud Logging's structured JSON (`severity`, `message`, trace).
    CloudRun {
        project_id: Option<String>,
    },
    Text,
}

impl LogFormat {
    /// Cloud Run sets `K_SERVICE` on every instance.
    pub fn from_env() -> Self {
        if std::env::var_os("K_SERVICE").is_some() {
            LogFormat::CloudRun {
                project_id: std::env::var("GOOGLE_CLOUD_PROJECT")
                    .ok()
                    .filter(|p| !p.is_empty()),
            }
        } else {
            LogFormat::Text
        }
    }
}

/// The value of Cloud Logging's `logging.googleapis.com/trace` field for a
/// trace id: `projects/P/traces/T` when the project is known (Cloud Run
/// services get `GOOGLE_CLOUD_PROJECT` from Terraform), else the bare id.
/// Log it as an event field of that name so the line groups under its request.
pub fn cloud_trace(trace_id: &str) -> String {
    match std::env::var("GOOGLE_CLOUD_PROJECT") {
        Ok(p) if !p.is_empty() => format!("projects/{p}/traces/{trace_id}"),
        _ => trace_id.to_owned(),
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the default `info`.
/// Calling it twice (tests, the in-process dev stack) is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match LogFormat::from_env() {
        LogFormat::CloudRun { .. } => registry.with(tracing_stackdriver::layer()).try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .compact(),
            )
            .try_init(),
    };
    // Already initialised: keep the first subscriber.
    drop(result);
}
