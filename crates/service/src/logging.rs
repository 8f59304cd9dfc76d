//! Log output: Cloud Logging JSON on Cloud Run, text locally.
//!
//! On Cloud Run every line is one JSON object Cloud Logging reads as a
//! structured entry (`severity`, `message`, the trace, the fields). Lines
//! at `ERROR` or above, and lines naming an [error group](ERROR_GROUP),
//! also carry the shape Error Reporting groups without a stack trace: the
//! `@type` of a `ReportedErrorEvent`, the service (`K_SERVICE`,
//! `K_REVISION`) and a report location whose function is the error group
//! (or the event's target) and whose file and line are the call site's.
//!
//! Field values and messages carry what clients sent (ids, error texts
//! quoting unknown field names). JSON escapes them by construction; the
//! text format writes them raw, so a newline in a message id would start a
//! forged log line. [`Escaped`] formats the text fields with control
//! characters escaped.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

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

/// A stable pseudonym for a Discord user id in log lines (16 hex digits
/// of SHA-256): the same user joins up across the ingress's and the
/// workers' lines and across days, without the id itself in the logs.
pub fn user_hash(user_id: &str) -> String {
    let digest = Sha256::digest(format!("mandala-user:{user_id}").as_bytes());
    hex::encode(&digest[..8])
}

/// The field (`error_group = "..."`) that makes a line an Error Reporting
/// event grouped under that name, whatever its severity; on the JSON line
/// it is `errorGroup`. Lines at `ERROR` and above are events without it,
/// grouped by their target.
pub const ERROR_GROUP: &str = "error_group";

/// Installs the global subscriber. `RUST_LOG` overrides the default `info`.
/// Calling it twice (tests, the in-process dev stack) is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match LogFormat::from_env() {
        LogFormat::CloudRun { .. } => {
            let service = Arc::new(ServiceContext::from_env());
            registry
                .with(tracing_stackdriver::layer().with_writer(move || CloudKeys {
                    out: std::io::stdout(),
                    service: Arc::clone(&service),
                }))
                .try_init()
        }
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

/// [`ERROR_GROUP`] as tracing-stackdriver spells it on the line.
const ERROR_GROUP_KEY: &[u8] = b"\"errorGroup\":";
/// Severities Error Reporting is shown without an error group.
const ERROR_SEVERITIES: &[&[u8]] = &[
    b"\"severity\":\"ERROR\"",
    b"\"severity\":\"CRITICAL\"",
    b"\"severity\":\"ALERT\"",
    b"\"severity\":\"EMERGENCY\"",
];
/// What makes Error Reporting take a log entry as an error event without
/// a stack trace (it then needs the report location).
pub const REPORTED_ERROR_EVENT: &str =
    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent";

/// Which service and revision wrote the line, for Error Reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServiceContext {
    service: String,
    version: Option<String>,
}

impl ServiceContext {
    fn from_env() -> Self {
        ServiceContext {
            service: std::env::var("K_SERVICE").unwrap_or_else(|_| "mandala".to_owned()),
            version: std::env::var("K_REVISION").ok().filter(|r| !r.is_empty()),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One JSON line as Cloud Logging and Error Reporting should read it: the
/// trace key restored, and errors in the `ReportedErrorEvent` shape.
fn cloud_line(buf: &[u8], service: &ServiceContext) -> Vec<u8> {
    let mut line = match contains(buf, MANGLED_TRACE_KEY) {
        Some(at) => {
            let mut fixed = Vec::with_capacity(buf.len() + 8);
            fixed.extend_from_slice(&buf[..at]);
            fixed.extend_from_slice(TRACE_KEY);
            fixed.extend_from_slice(&buf[at + MANGLED_TRACE_KEY.len()..]);
            fixed
        }
        None => buf.to_vec(),
    };
    let is_error = contains(&line, ERROR_GROUP_KEY).is_some()
        || ERROR_SEVERITIES
            .iter()
            .any(|s| contains(&line, s).is_some());
    if is_error && let Some(reported) = reported_error(&line, service) {
        line = reported;
    }
    line
}

/// The line with Error Reporting's fields added; `None` if it is not one
/// JSON object (it is then written as it is).
fn reported_error(line: &[u8], service: &ServiceContext) -> Option<Vec<u8>> {
    use serde_json::{Value, json};
    let text = std::str::from_utf8(line).ok()?;
    let mut entry: serde_json::Map<String, Value> = serde_json::from_str(text.trim_end()).ok()?;
    let location = entry
        .get("logging.googleapis.com/sourceLocation")
        .cloned()
        .unwrap_or(Value::Null);
    let function = entry
        .get("errorGroup")
        .or_else(|| entry.get("target"))
        .cloned()
        .unwrap_or(Value::Null);
    entry.insert("@type".to_owned(), json!(REPORTED_ERROR_EVENT));
    let mut context = json!({ "service": service.service });
    if let Some(v) = &service.version {
        context["version"] = json!(v);
    }
    entry.insert("serviceContext".to_owned(), context);
    entry.insert(
        "context".to_owned(),
        json!({ "reportLocation": {
            "filePath": location.get("file").cloned().unwrap_or(Value::Null),
            // A string in Cloud Logging's sourceLocation, a number here.
            "lineNumber": location
                .get("line")
                .and_then(|l| l.as_str().and_then(|l| l.parse::<u64>().ok()).or_else(|| l.as_u64())),
            "functionName": function,
        }}),
    );
    let mut out = serde_json::to_vec(&entry).ok()?;
    out.push(b'\n');
    Some(out)
}

/// Stdout that writes each JSON line as [`cloud_line`] makes it: Cloud
/// Logging's special trace key restored, so that log lines group under
/// their request, and errors shaped for Error Reporting. The fmt layer
/// hands each event over in one `write` call.
struct CloudKeys<W> {
    out: W,
    service: Arc<ServiceContext>,
}

impl<W: std::io::Write> std::io::Write for CloudKeys<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(&cloud_line(buf, &self.service))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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

    fn worker() -> Arc<ServiceContext> {
        Arc::new(ServiceContext {
            service: "mandala-worker".to_owned(),
            version: Some("mandala-worker-00042-abc".to_owned()),
        })
    }

    #[test]
    fn the_trace_key_is_restored() {
        let mut out = CloudKeys {
            out: Vec::new(),
            service: worker(),
        };
        out.write_all(b"{\"a\":1,\"loggingGoogleapisComTrace\":\"projects/p/traces/t\"}\n")
            .unwrap();
        out.write_all(b"{\"b\":2}\n").unwrap();
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            "{\"a\":1,\"logging.googleapis.com/trace\":\"projects/p/traces/t\"}\n{\"b\":2}\n"
        );
    }

    fn parsed(line: &[u8]) -> serde_json::Value {
        serde_json::from_slice(&cloud_line(line, &worker())).unwrap()
    }

    #[test]
    fn errors_are_shaped_for_error_reporting() {
        let located = r#""logging.googleapis.com/sourceLocation":{"file":"crates/worker/src/job.rs","line":"201"}"#;
        // An error group names the group, whatever the severity.
        let grouped = parsed(
            format!(r#"{{"severity":"WARNING",{located},"target":"mandala_worker::job","errorGroup":"job gave_up","message":"job gave_up: x"}}"#)
                .as_bytes(),
        );
        assert_eq!(grouped["@type"], REPORTED_ERROR_EVENT);
        assert_eq!(grouped["message"], "job gave_up: x");
        assert_eq!(grouped["serviceContext"]["service"], "mandala-worker");
        assert_eq!(
            grouped["serviceContext"]["version"],
            "mandala-worker-00042-abc"
        );
        let at = &grouped["context"]["reportLocation"];
        assert_eq!(at["functionName"], "job gave_up");
        assert_eq!(at["filePath"], "crates/worker/src/job.rs");
        assert_eq!(at["lineNumber"], 201);
        // ERROR without a group: grouped by its target.
        let error = parsed(
            format!(r#"{{"severity":"ERROR",{located},"target":"mandala_ingress::admission","message":"queue ledger unavailable"}}"#)
                .as_bytes(),
        );
        assert_eq!(error["@type"], REPORTED_ERROR_EVENT);
        assert_eq!(
            error["context"]["reportLocation"]["functionName"],
            "mandala_ingress::admission"
        );
        // Anything else is left alone, byte for byte.
        let info = br#"{"severity":"INFO","message":"interaction"}"#.to_vec();
        assert_eq!(cloud_line(&info, &worker()), info);
        let warning = br#"{"severity":"WARNING","message":"job expired"}"#.to_vec();
        assert_eq!(cloud_line(&warning, &worker()), warning);
    }

    #[test]
    fn user_hashes_are_stable_short_and_not_the_id() {
        let a = user_hash("123456789012345678");
        assert_eq!(a, user_hash("123456789012345678"));
        assert_ne!(a, user_hash("123456789012345679"));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("1234567890"));
    }
}
