//! Log output: Cloud Logging JSON on Cloud Run, text locally.

use std::io::IsTerminal as _;

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
        LogFormat::CloudRun { .. } => registry
            .with(tracing_stackdriver::layer().with_writer(|| CloudKeys(std::io::stdout())))
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    // Colour codes only for a person at a terminal, not in
                    // files and pipes.
                    .with_ansi(std::io::stdout().is_terminal())
                    .compact(),
            )
            .try_init(),
    };
    // Already initialised: keep the first subscriber.
    drop(result);
}

/// The camel-cased spelling tracing-stackdriver 0.10 gives an event field
/// named `logging.googleapis.com/trace` (it camel-cases every field name).
const MANGLED_TRACE_KEY: &[u8] = b"\"loggingGoogleapisComTrace\":";
const TRACE_KEY: &[u8] = b"\"logging.googleapis.com/trace\":";

/// Stdout that restores Cloud Logging's special trace key in each JSON
/// line, so that log lines group under their request in Cloud Logging.
/// The fmt layer hands each event over in one `write` call.
struct CloudKeys<W>(W);

impl<W: std::io::Write> std::io::Write for CloudKeys<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match buf
            .windows(MANGLED_TRACE_KEY.len())
            .position(|w| w == MANGLED_TRACE_KEY)
        {
            Some(at) => {
                let mut fixed = Vec::with_capacity(buf.len() + 8);
                fixed.extend_from_slice(&buf[..at]);
                fixed.extend_from_slice(TRACE_KEY);
                fixed.extend_from_slice(&buf[at + MANGLED_TRACE_KEY.len()..]);
                self.0.write_all(&fixed)
            }
            None => self.0.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_trace_key_is_restored() {
        let mut out = CloudKeys(Vec::new());
        out.write_all(b"{\"a\":1,\"loggingGoogleapisComTrace\":\"projects/p/traces/t\"}\n")
            .unwrap();
        out.write_all(b"{\"b\":2}\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "{\"a\":1,\"logging.googleapis.com/trace\":\"projects/p/traces/t\"}\n{\"b\":2}\n"
        );
    }
}
