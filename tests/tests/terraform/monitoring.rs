//! Rules for the operator's console (`terraform/monitoring.tf`), on one
//! design's instance of the configuration:
//!
//! - the design has every alert an operator is promised (dead letters only
//!   where there are dead letters), the uptime check, both SLOs, the
//!   dashboard and the log-based metrics;
//! - every alert policy notifies the e-mail channels and is documented:
//!   its content names `docs/OPERATIONS.md#ANCHOR` and it links
//!   `${var.runbook_url}#ANCHOR`, where ANCHOR is a heading that exists in
//!   docs/OPERATIONS.md (as GitHub spells a heading's anchor);
//! - every job queue (a push subscription with a dead-letter policy) is
//!   watched for jobs older than a token allows, and every service that
//!   renders or replies for being at its instance cap, with the cap its
//!   scaling really has;
//! - every Logging filter (log-based metrics, exclusions, log-match
//!   conditions) evaluates from the inputs alone and stays inside the
//!   subset `logfilter` reads; metrics extract with `EXTRACT(FIELD)`;
//!   only exclusions sample. (That the `jsonPayload` fields are ones the
//!   services write, and that each filter matches the lines it should, is
//!   shown by the `log_metrics` test with the real binaries.)
//! - every Monitoring filter on a log-based metric (alerts, dashboard)
//!   names a metric that exists and only labels it extracts.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Body;
use hcl::expr::{Expression, ObjectKey};

use crate::eval::Scenario;
use crate::hclx::{Config, Labeled, attr, blocks, body_at, normalize, render};
use crate::logfilter;

/// The alert policies every design has, by resource name, and the designs
/// that lack one for a reason.
pub const ALERTS: &[(&str, &[&str])] = &[
    // Cloud Tasks deletes a task after its last attempt: no dead letters.
    ("dead_letters", &["cloud-tasks"]),
    ("stale_queue", &[]),
    ("answers_5xx", &[]),
    ("answers_slow", &[]),
    ("workers_at_cap", &[]),
    ("out_of_memory", &[]),
    ("ledger_unavailable", &[]),
    ("discord_rate_limited", &[]),
    ("jobs_without_image", &[]),
    ("endpoint_unreachable", &[]),
    ("error_budget", &[]),
];

/// Other parts of the console every design has.
const CONSOLE: &[&str] = &[
    "google_monitoring_uptime_check_config.interactions",
    "google_monitoring_custom_service.interactions",
    "google_monitoring_slo.answered_in_time",
    "google_monitoring_slo.answered_without_error",
    "google_monitoring_dashboard.console",
    "google_logging_metric.jobs",
    "google_logging_metric.interactions",
];

/// GitHub's anchor for a Markdown heading: lowercase, punctuation other
/// than `-` and `_` dropped, spaces as `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading of a Markdown document.
pub fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code && let Some(h) = line.strip_prefix('#') {
            out.insert(anchor(h.trim_start_matches('#')));
        }
    }
    out
}

/// A Logging filter of the configuration, evaluated for one scenario.
pub struct LogFilter {
    /// `google_logging_metric.jobs`, `google_monitoring_alert_policy.x (condition)`.
    pub place: String,
    pub text: String,
    pub filter: logfilter::Filter,
    /// A log-based metric's `EXTRACT`ed fields: label (or `value`) to field.
    pub extracted: BTreeMap<String, String>,
}

/// Every Logging filter of `config` under `sc`, or what is wrong with them.
pub fn log_filters(config: &Config, sc: &Scenario) -> (Vec<LogFilter>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for m in config.resources("google_logging_metric") {
        let mut extracted = BTreeMap::new();
        let mut extractor = |label: String, e: &Expression, problems: &mut Vec<String>| match e {
            Expression::String(x) => match logfilter::extracted_field(x) {
                Ok(f) => {
                    extracted.insert(label, f);
                }
                Err(e) => problems.push(format!("{}: {label}: {e}", m.address())),
            },
            other => problems.push(format!(
                "{}: {label}: the extractor must be a literal EXTRACT(FIELD), not {other}",
                m.address()
            )),
        };
        if let Some(Expression::Object(o)) = attr(m.body, "label_extractors") {
            for (k, v) in o {
                let key = match k {
                    ObjectKey::Identifier(i) => i.as_str().to_owned(),
                    ObjectKey::Expression(e) => render(e, &BTreeMap::new()),
                    other => other.to_string(),
                };
                extractor(key, v, &mut problems);
            }
        }
        if let Some(v) = attr(m.body, "value_extractor") {
            extractor("value".to_owned(), v, &mut problems);
        }
        take(
            sc,
            m.address(),
            attr(m.body, "filter"),
            extracted,
            &mut out,
            &mut problems,
        );
    }
    for x in config.resources("google_logging_project_exclusion") {
        take(
            sc,
            x.address(),
            attr(x.body, "filter"),
            BTreeMap::new(),
            &mut out,
            &mut problems,
        );
    }
    for a in config.resources("google_monitoring_alert_policy") {
        for c in blocks(a.body, "conditions") {
            if let Some(m) = body_at(c.body(), &["condition_matched_log"]) {
                take(
                    sc,
                    format!("{} (log-match condition)", a.address()),
                    attr(m, "filter"),
                    BTreeMap::new(),
                    &mut out,
                    &mut problems,
                );
            }
        }
    }
    (out, problems)
}

fn take(
    sc: &Scenario,
    place: String,
    expr: Option<&Expression>,
    extracted: BTreeMap<String, String>,
    out: &mut Vec<LogFilter>,
    problems: &mut Vec<String>,
) {
    let Some(expr) = expr else {
        problems.push(format!("{place} has no filter"));
        return;
    };
    let text = match sc.eval(expr) {
        Ok(hcl::Value::String(s)) => s,
        Ok(other) => {
            problems.push(format!("{place}: the filter is not a string: {other:?}"));
            return;
        }
        Err(e) => {
            problems.push(format!(
                "{place}: the filter does not evaluate from the inputs alone ({e}); a log filter may use variables and locals only"
            ));
            return;
        }
    };
    match logfilter::parse(&text) {
        Ok(filter) => out.push(LogFilter {
            place,
            text,
            filter,
            extracted,
        }),
        Err(e) => problems.push(format!(
            "{place}: the filter is outside the subset of the Logging query language the tests can read ({e}): {text}"
        )),
    }
}

/// Every rule on `config`, the instance of one design.
pub fn check(
    config: &Config,
    scenarios: &[Scenario],
    topology: &str,
    operations: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let locals = config.locals();
    let present: BTreeSet<String> = config
        .labeled("resource", None)
        .iter()
        .map(Labeled::address)
        .collect();

    for (name, absent_in) in ALERTS {
        let address = format!("google_monitoring_alert_policy.{name}");
        let wanted = !absent_in.contains(&topology);
        if wanted && !present.contains(&address) {
            problems.push(format!("{address} is missing: every design pages for it"));
        }
        if !wanted && present.contains(&address) {
            problems.push(format!(
                "{address} exists, but this design cannot have what it watches"
            ));
        }
    }
    for address in CONSOLE {
        if !present.contains(*address) {
            problems.push(format!("{address} is missing from this design's console"));
        }
    }

    // Documentation and notification of every alert policy.
    let headings = anchors(operations);
    for a in config.resources("google_monitoring_alert_policy") {
        let addr = a.address();
        let notified = attr(a.body, "notification_channels")
            .map(|e| render(e, &locals))
            .unwrap_or_default();
        if !notified.contains("google_monitoring_notification_channel.email") {
            problems.push(format!(
                "{addr} does not notify the alert_emails channels (notification_channels = local.notification_channels)"
            ));
        }
        let Some(doc) = body_at(a.body, &["documentation"]) else {
            problems.push(format!(
                "{addr} has no documentation block: an alert must say what to do"
            ));
            continue;
        };
        let content = attr(doc, "content")
            .map(|e| render(e, &locals))
            .unwrap_or_default();
        let named = content.split("docs/OPERATIONS.md#").nth(1).map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        });
        let Some(named) = named.filter(|n| !n.is_empty()) else {
            problems.push(format!(
                "{addr}: its documentation content does not name its runbook (docs/OPERATIONS.md#SECTION)"
            ));
            continue;
        };
        if !headings.contains(&named) {
            problems.push(format!(
                "{addr} points at docs/OPERATIONS.md#{named}, but docs/OPERATIONS.md has no such heading"
            ));
        }
        let linked: Vec<String> = blocks(doc, "links")
            .filter_map(|l| attr(l.body(), "url"))
            .map(|u| render(u, &locals))
            .collect();
        let expected = format!("${{var.runbook_url}}#{named}");
        if !linked.contains(&expected) {
            problems.push(format!(
                "{addr}: its documentation must link {expected} (links {{ url = ... }}), has {linked:?}"
            ));
        }
        if attr(doc, "mime_type")
            .map(|e| render(e, &locals))
            .as_deref()
            != Some("text/markdown")
        {
            problems.push(format!(
                "{addr}: documentation mime_type must be text/markdown"
            ));
        }
    }

    watched(config, &locals, &mut problems);

    // Logging filters inside the subset.
    let Some(sc) = scenarios.first() else {
        problems.push("no scenario to evaluate the log filters with".to_owned());
        return problems;
    };
    let (filters, filter_problems) = log_filters(config, sc);
    problems.extend(filter_problems);
    for f in &filters {
        let is_exclusion = f.place.starts_with("google_logging_project_exclusion.");
        if f.filter.samples() && !is_exclusion {
            problems.push(format!(
                "{}: sample() belongs in exclusions only; a metric or an alert would count a random share: {}",
                f.place, f.text
            ));
        }
        for field in f.filter.fields().iter().chain(f.extracted.values()) {
            let root = field.split('.').next().unwrap_or_default();
            if !KNOWN_ROOTS.contains(&root) {
                problems.push(format!(
                    "{}: filters on {field}, not a field of a Cloud Run log entry the tests know ({KNOWN_ROOTS:?})",
                    f.place
                ));
            }
        }
    }

    metric_labels(config, &locals, &mut problems);
    problems
}

/// Log entry fields a filter may read: the services' own (`jsonPayload`,
/// checked against real lines), and what Cloud Run and Cloud Logging set.
const KNOWN_ROOTS: &[&str] = &[
    "jsonPayload",
    "resource",
    "severity",
    "logName",
    "textPayload",
    "httpRequest",
    "trace",
    "labels",
];

/// Every job queue is watched for stale jobs; every service that renders
/// or replies for being at its instance cap.
fn watched(config: &Config, locals: &BTreeMap<&str, &Expression>, problems: &mut Vec<String>) {
    let conditions: Vec<(String, &Body)> = config
        .resources("google_monitoring_alert_policy")
        .into_iter()
        .flat_map(|a| {
            blocks(a.body, "conditions")
                .filter_map(|c| body_at(c.body(), &["condition_threshold"]))
                .map(move |t| (a.address(), t))
                .collect::<Vec<_>>()
        })
        .collect();
    let filter_of = |t: &Body| {
        attr(t, "filter")
            .map(|e| render(e, locals))
            .unwrap_or_default()
    };

    for sub in config.resources("google_pubsub_subscription") {
        if body_at(sub.body, &["push_config"]).is_none()
            || body_at(sub.body, &["dead_letter_policy"]).is_none()
        {
            continue;
        }
        let named = format!("${{{}.name}}", sub.address());
        let watched = conditions.iter().any(|(_, t)| {
            let f = filter_of(t);
            f.contains("oldest_unacked_message_age") && f.contains(&named)
        });
        if !watched {
            problems.push(format!(
                "nothing alerts when the oldest job of {} is older than a token allows (oldest_unacked_message_age of {named})",
                sub.address()
            ));
        }
    }

    for svc in config.resources("google_cloud_run_v2_service") {
        let Some(name) = attr(svc.body, "name").map(|e| render(e, locals)) else {
            continue;
        };
        // The interactions endpoint scales with Discord's traffic; its cap
        // is a cost bound, watched through latency and 5xx instead.
        if svc.name == "ingress" {
            continue;
        }
        let Some(max) =
            body_at(svc.body, &["template", "scaling"]).and_then(|s| attr(s, "max_instance_count"))
        else {
            continue;
        };
        let max = normalize(max, locals);
        let found = conditions.iter().find(|(_, t)| {
            let f = filter_of(t);
            f.contains("run.googleapis.com/container/instance_count")
                && f.contains(&format!("service_name=\"{name}\""))
        });
        match found {
            None => problems.push(format!(
                "nothing alerts when {} ({name}) stays at its instance cap",
                svc.address()
            )),
            Some((addr, t)) => {
                let threshold = attr(t, "threshold_value").map(|e| normalize(e, locals));
                if threshold.as_ref() != Some(&max) {
                    problems.push(format!(
                        "{addr}: the instance cap alert for {} uses threshold {:?}, but its scaling cap is {max}",
                        svc.address(),
                        threshold.map(|t| t.to_string())
                    ));
                }
            }
        }
    }
}

/// Monitoring filters on log-based metrics name metrics that exist, and
/// only labels those metrics extract.
fn metric_labels(
    config: &Config,
    locals: &BTreeMap<&str, &Expression>,
    problems: &mut Vec<String>,
) {
    let metrics: BTreeMap<&str, BTreeSet<String>> = config
        .resources("google_logging_metric")
        .into_iter()
        .map(|m| {
            let labels = body_at(m.body, &["metric_descriptor"])
                .map(|d| {
                    blocks(d, "labels")
                        .filter_map(|l| attr(l.body(), "key").map(|k| render(k, locals)))
                        .collect()
                })
                .unwrap_or_default();
            (m.name, labels)
        })
        .collect();
    let marker = "logging.googleapis.com/user/${google_logging_metric.";
    for r in config.labeled("resource", None) {
        let mut texts = Vec::new();
        strings(r.body, &mut texts);
        for e in texts {
            let text = render(e, locals);
            let Some(at) = text.find(marker) else {
                continue;
            };
            let rest = &text[at + marker.len()..];
            let metric: String = rest.chars().take_while(|c| *c != '.').collect();
            let Some(labels) = metrics.get(metric.as_str()) else {
                problems.push(format!(
                    "{} filters on google_logging_metric.{metric}, which does not exist",
                    r.address()
                ));
                continue;
            };
            for part in text.split("metric.label.").skip(1) {
                let key: String = part
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !labels.contains(&key) {
                    problems.push(format!(
                        "{} filters google_logging_metric.{metric} on label {key}, which it does not extract (it has {labels:?})",
                        r.address()
                    ));
                }
            }
        }
    }
    // The dashboard's widgets live in a local.
    if let Some(widgets) = locals.get("dashboard_widgets") {
        let mut texts = Vec::new();
        expr_strings(widgets, &mut texts);
        for e in texts {
            let text = render(e, locals);
            if let Some(at) = text.find(marker) {
                let metric: String = text[at + marker.len()..]
                    .chars()
                    .take_while(|c| *c != '.')
                    .collect();
                if !metrics.contains_key(metric.as_str()) {
                    problems.push(format!(
                        "local.dashboard_widgets charts google_logging_metric.{metric}, which does not exist"
                    ));
                }
            }
        }
    }
}

/// Every string and template in a body, in attributes and nested blocks.
fn strings<'a>(body: &'a Body, out: &mut Vec<&'a Expression>) {
    for a in body.attributes() {
        expr_strings(a.expr(), out);
    }
    for b in body.blocks() {
        strings(b.body(), out);
    }
}

fn expr_strings<'a>(e: &'a Expression, out: &mut Vec<&'a Expression>) {
    match e {
        Expression::String(_) | Expression::TemplateExpr(_) => out.push(e),
        Expression::Array(items) => items.iter().for_each(|i| expr_strings(i, out)),
        Expression::Object(o) => o.values().for_each(|v| expr_strings(v, out)),
        Expression::FuncCall(f) => f.args.iter().for_each(|a| expr_strings(a, out)),
        Expression::Parenthesis(inner) => expr_strings(inner, out),
        Expression::Conditional(c) => {
            expr_strings(&c.true_expr, out);
            expr_strings(&c.false_expr, out);
        }
        Expression::ForExpr(f) => expr_strings(&f.value_expr, out),
        _ => {}
    }
}
