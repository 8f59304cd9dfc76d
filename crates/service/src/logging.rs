//! Log output: Cloud Logging JSON on Cloud Run, text locally.
//!
//! Field values and messages carry what clients sent (ids, error texts
//! quoting unknown field names). JSON escapes them by construction; the
//! text format writes them raw, so a newline in a message id would start a
//! forged log line. [`Escaped`] formats the text fields with control
//! characters escaped.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
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
                text_layer()
                    // Colour codes only for a person at a terminal, not in
                    // files and pipes.
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .try_init(),
    };
    // Already initialised: keep the first subscriber.
    drop(result);
}

/// The readable one-line-per-event format, with fields escaped.
pub fn text_layer<S>() -> tracing_subscriber::fmt::Layer<
    S,
    Escaped,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Compact>,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_target(false)
        .compact()
        .fmt_fields(Escaped)
}

/// Formats fields as `name=value` separated by spaces, the message bare,
/// with control characters (and Unicode line separators) escaped in both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Escaped;

impl<'a> MakeVisitor<Writer<'a>> for Escaped {
    type Visitor = EscapedVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        EscapedVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

/// The visitor behind [`Escaped`].
#[derive(Debug)]
pub struct EscapedVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl EscapedVisitor<'_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        let name = field.name();
        // tracing-log's metadata fields are shown by the formatter itself.
        if name.starts_with("log.") {
            return Ok(());
        }
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if name != "message" {
            write!(self.writer, "{}=", name.strip_prefix("r#").unwrap_or(name))?;
        }
        // Strings arrive here quoted and escaped by their Debug; messages
        // and `%` (Display) values arrive as they are.
        write!(EscapeControl(&mut self.writer), "{value:?}")
    }
}

impl Visit for EscapedVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }
}

impl VisitOutput<fmt::Result> for EscapedVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapedVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Writes through to `W` with control characters as `\n`, `\r`, `\t` or
/// `\u{…}`.
struct EscapeControl<W>(W);

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

impl<W: fmt::Write> fmt::Write for EscapeControl<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
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

    /// What the text format prints for the events `emit` makes.
    fn text_output(emit: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&out);
        let layer = text_layer()
            .with_ansi(false)
            .without_time()
            .with_writer(move || SharedBuf(std::sync::Arc::clone(&sink)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_logs_escape_what_came_from_outside() {
        let forged = "1234\nINFO interaction outcome=queued status=200";
        let error = std::io::Error::other("unknown field `a\r\nb`, expected `c`");
        let out = text_output(|| {
            tracing::info!(message_id = forged, "job received");
            tracing::warn!(message_id = %forged, error = %error, "push refused: {forged}");
            tracing::info!("bell \u{7} escape \u{1b}[31m separator \u{2028} tab\t");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].contains(r#"message_id="1234\nINFO interaction"#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(r"push refused: 1234\nINFO interaction outcome=queued"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(r"message_id=1234\nINFO"), "{}", lines[1]);
        assert!(
            lines[1].contains(r"error=unknown field `a\r\nb`"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains(r"bell \u{7} escape \u{1b}[31m separator \u{2028} tab\t"),
            "{}",
            lines[2]
        );
        // Ordinary text is untouched.
        assert!(lines[0].contains("job received"), "{}", lines[0]);
    }

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
