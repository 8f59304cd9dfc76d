//! The subset of Cloud Logging's query language that the deployment's log
//! filters use (log-based metrics, exclusions, log-match alert conditions
//! in `terraform/monitoring.tf`), parsed and evaluated against log entries,
//! so a test can show which lines a filter matches.
//!
//! The subset, and how it reads (Google's "Logging query language"):
//!
//! - a comparison `FIELD OP VALUE`: `FIELD` is a dotted path into the log
//!   entry (`resource.labels.service_name`, `jsonPayload.outcome`,
//!   `severity`, `logName`, `textPayload`, `httpRequest.status`); `OP` is
//!   one of
//!   - `=`: equal; strings compare case-insensitively, numbers as numbers;
//!   - `:`: has: the value is a substring, case-insensitively; `FIELD:*`
//!     only asks that the field exists;
//!   - `=~`: the value is a regular expression (RE2, case-sensitive) that
//!     matches somewhere in the field;
//!   - `>=`, `>`, `<=`, `<`: numbers, or severities by rank
//!     (`severity>=WARNING`);
//!
//!   `VALUE` is a double-quoted string, a number, a severity name, or a
//!   parenthesised list of those joined by `OR` (`outcome=("a" OR "b")`:
//!   any of them);
//! - `sample(insertId, FRACTION)`: a share of the entries the rest
//!   matches; it is taken as matching, since which entries it picks is
//!   not knowable here (exclusions only);
//! - `NOT x`, `x AND y AND ...`, `x OR y OR ...` and parentheses.
//!
//! Refused, so that nothing is read differently here than in Cloud
//! Logging: `AND` and `OR` mixed at one level without parentheses (in
//! Logging `OR` binds tighter than `AND`, unlike most languages),
//! juxtaposition as an implicit `AND`, `!=` (how it treats a missing field
//! is easy to get wrong: write `NOT FIELD=VALUE`), bare words as values
//! or global restrictions, and any function but `sample`.
//!
//! A line a service writes to stdout becomes a log entry the way Cloud
//! Run's structured logging makes it ([`entry`]): `severity`, the trace,
//! the source location, labels and `httpRequest` are lifted to the entry;
//! everything else, `message` included, is its `jsonPayload`.

// Shared by the `terraform` test (which parses) and the `log_metrics` test
// (which evaluates): each uses part of it.
#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `FIELD:*`
    Exists(String),
    Compare {
        field: String,
        op: Op,
        values: Vec<Literal>,
    },
    /// `sample(insertId, FRACTION)`
    Sample(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Has,
    Regex,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    /// A severity name written bare (`WARNING`).
    Severity(u32),
}

/// Cloud Logging's severities by rank.
const SEVERITIES: &[(&str, u32)] = &[
    ("DEFAULT", 0),
    ("DEBUG", 100),
    ("INFO", 200),
    ("NOTICE", 300),
    ("WARNING", 400),
    ("ERROR", 500),
    ("CRITICAL", 600),
    ("ALERT", 700),
    ("EMERGENCY", 800),
];

fn severity_rank(name: &str) -> Option<u32> {
    SEVERITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, r)| *r)
}

impl Filter {
    /// Whether `entry` (a log entry as [`entry`] makes one) matches.
    pub fn matches(&self, entry: &Value) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(entry)),
            Filter::Or(any) => any.iter().any(|f| f.matches(entry)),
            Filter::Not(f) => !f.matches(entry),
            Filter::Exists(field) => lookup(entry, field).is_some_and(|v| !v.is_null()),
            Filter::Sample(_) => true,
            Filter::Compare { field, op, values } => lookup(entry, field)
                .is_some_and(|v| values.iter().any(|lit| compare(field, v, *op, lit))),
        }
    }

    /// Every field the filter reads.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_fields(&self, out: &mut Vec<String>) {
        match self {
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| f.collect_fields(out)),
            Filter::Not(f) => f.collect_fields(out),
            Filter::Exists(field) | Filter::Compare { field, .. } => out.push(field.clone()),
            Filter::Sample(_) => {}
        }
    }

    /// Whether it samples (`sample(insertId, F)` anywhere).
    pub fn samples(&self) -> bool {
        match self {
            Filter::And(fs) | Filter::Or(fs) => fs.iter().any(Filter::samples),
            Filter::Not(f) => f.samples(),
            Filter::Sample(_) => true,
            _ => false,
        }
    }
}

/// The value at a dotted path of a log entry.
pub fn lookup<'a>(entry: &'a Value, field: &str) -> Option<&'a Value> {
    field
        .split('.')
        .try_fold(entry, |v, key| v.as_object().and_then(|o| o.get(key)))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// Logging compares numbers exactly.
#[allow(clippy::float_cmp)]
fn compare(field: &str, v: &Value, op: Op, lit: &Literal) -> bool {
    let text = as_text(v);
    match (op, lit) {
        (Op::Eq, Literal::Text(t)) => match (as_number(v), t.trim().parse::<f64>()) {
            (Some(a), Ok(b)) if v.is_number() => a == b,
            _ => text.is_some_and(|s| s.eq_ignore_ascii_case(t)),
        },
        (Op::Eq, Literal::Number(n)) => as_number(v) == Some(*n),
        (Op::Has, Literal::Text(t)) => {
            text.is_some_and(|s| s.to_lowercase().contains(&t.to_lowercase()))
        }
        (Op::Regex, Literal::Text(t)) => regex::Regex::new(t)
            .ok()
            .zip(text)
            .is_some_and(|(re, s)| re.is_match(&s)),
        (Op::Ge | Op::Gt | Op::Le | Op::Lt, lit) => {
            let (a, b) = if field == "severity" {
                let a = text.as_deref().and_then(severity_rank).map(f64::from);
                let b = match lit {
                    Literal::Severity(r) => Some(f64::from(*r)),
                    Literal::Text(t) => severity_rank(t).map(f64::from),
                    Literal::Number(n) => Some(*n),
                };
                (a, b)
            } else {
                let b = match lit {
                    Literal::Number(n) => Some(*n),
                    Literal::Text(t) => t.parse().ok(),
                    Literal::Severity(_) => None,
                };
                (as_number(v), b)
            };
            match (a, b) {
                (Some(a), Some(b)) => match op {
                    Op::Ge => a >= b,
                    Op::Gt => a > b,
                    Op::Le => a <= b,
                    _ => a < b,
                },
                _ => false,
            }
        }
        (Op::Eq, Literal::Severity(r)) => text.as_deref().and_then(severity_rank) == Some(*r),
        _ => false,
    }
}

// ------------------------------------------------------------------ parsing

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(f64),
    Op(Op),
    Ne,
    Star,
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            ':' => {
                out.push(Token::Op(Op::Has));
                i += 1;
            }
            '=' if chars.get(i + 1) == Some(&'~') => {
                out.push(Token::Op(Op::Regex));
                i += 2;
            }
            '=' => {
                out.push(Token::Op(Op::Eq));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Ne);
                i += 2;
            }
            '>' | '<' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Token::Op(match (c, eq) {
                    ('>', true) => Op::Ge,
                    ('>', false) => Op::Gt,
                    ('<', true) => Op::Le,
                    _ => Op::Lt,
                }));
                i += if eq { 2 } else { 1 };
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string in {text:?}")),
                        Some('"') => break,
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(e) => s.push(*e),
                                None => return Err(format!("dangling escape in {text:?}")),
                            }
                            i += 2;
                            continue;
                        }
                        Some(c) => s.push(*c),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                out.push(Token::Num(
                    s.parse()
                        .map_err(|_| format!("bad number {s} in {text:?}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '@' => {
                let start = i;
                while chars.get(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '/')
                }) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected {other:?} in {text:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

/// Parses `text`, refusing anything outside the subset (the module's doc).
pub fn parse(text: &str) -> Result<Filter, String> {
    let mut p = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let f = p.expression()?;
    match p.tokens.get(p.at) {
        None => Ok(f),
        Some(t) => Err(format!(
            "unexpected {t:?} after a complete expression (juxtaposition as an implicit AND is outside the subset; write AND)"
        )),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Word(w)) if matches!(w.as_str(), "AND" | "OR" | "NOT") => Some(w),
            _ => None,
        }
    }

    /// term { AND term } | term { OR term }, never both.
    fn expression(&mut self) -> Result<Filter, String> {
        let first = self.term()?;
        let mut joined = vec![first];
        let mut joiner: Option<String> = None;
        while let Some(k) = self.keyword().map(str::to_owned) {
            if k == "NOT" {
                return Err("NOT between two terms: write AND NOT".to_owned());
            }
            match &joiner {
                Some(j) if *j != k => {
                    return Err(
                        "AND and OR mixed without parentheses (in Logging OR binds tighter than AND): add parentheses"
                            .to_owned(),
                    );
                }
                _ => joiner = Some(k.clone()),
            }
            self.at += 1;
            joined.push(self.term()?);
        }
        Ok(match (joiner.as_deref(), joined.len()) {
            (_, 1) => joined.remove(0),
            (Some("OR"), _) => Filter::Or(joined),
            _ => Filter::And(joined),
        })
    }

    fn term(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Word(w)) if w == "NOT" => Ok(Filter::Not(Box::new(self.term()?))),
            Some(Token::Open) => {
                let f = self.expression()?;
                match self.next() {
                    Some(Token::Close) => Ok(f),
                    other => Err(format!("expected ), got {other:?}")),
                }
            }
            Some(Token::Word(w)) if self.peek() == Some(&Token::Open) => self.function(&w),
            Some(Token::Word(field)) => self.comparison(field),
            other => Err(format!(
                "expected a comparison, got {other:?} (bare values are global restrictions, outside the subset)"
            )),
        }
    }

    fn function(&mut self, name: &str) -> Result<Filter, String> {
        if name != "sample" {
            return Err(format!(
                "function {name}() is outside the subset (only sample)"
            ));
        }
        self.at += 1; // (
        match (self.next(), self.next(), self.next(), self.next()) {
            (Some(Token::Word(f)), Some(Token::Comma), Some(Token::Num(n)), Some(Token::Close))
                if f == "insertId" && (0.0..=1.0).contains(&n) =>
            {
                Ok(Filter::Sample(n))
            }
            _ => Err("sample() takes insertId and a fraction from 0 to 1".to_owned()),
        }
    }

    fn comparison(&mut self, field: String) -> Result<Filter, String> {
        if matches!(field.as_str(), "AND" | "OR") {
            return Err(format!("{field} without a term before it"));
        }
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(Token::Ne) => {
                return Err(format!(
                    "{field} != ...: `!=` is outside the subset; write NOT {field}=..."
                ));
            }
            other => {
                return Err(format!(
                    "{field} is not compared to anything (got {other:?}); bare words are global restrictions, outside the subset"
                ));
            }
        };
        if op == Op::Has && self.peek() == Some(&Token::Star) {
            self.at += 1;
            return Ok(Filter::Exists(field));
        }
        let values = if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let mut values = vec![self.literal(&field)?];
            loop {
                match self.next() {
                    Some(Token::Close) => break,
                    Some(Token::Word(w)) if w == "OR" => values.push(self.literal(&field)?),
                    other => {
                        return Err(format!(
                            "expected OR or ) in a list of values, got {other:?}"
                        ));
                    }
                }
            }
            values
        } else {
            vec![self.literal(&field)?]
        };
        if op == Op::Regex {
            for v in &values {
                let Literal::Text(t) = v else {
                    return Err(format!("{field}=~ needs a quoted regular expression"));
                };
                regex::Regex::new(t).map_err(|e| format!("{field}=~{t:?}: {e}"))?;
            }
        }
        Ok(Filter::Compare { field, op, values })
    }

    fn literal(&mut self, field: &str) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Text(s)),
            Some(Token::Num(n)) => Ok(Literal::Number(n)),
            Some(Token::Word(w)) if field == "severity" && severity_rank(&w).is_some() => {
                Ok(Literal::Severity(severity_rank(&w).unwrap_or(0)))
            }
            other => Err(format!(
                "{field}: value {other:?} must be a quoted string, a number or (for severity) a severity name"
            )),
        }
    }
}

/// The extractor `EXTRACT(FIELD)` of a log-based metric's label or value:
/// its field; other extractors (`REGEXP_EXTRACT`) are outside the subset.
pub fn extracted_field(extractor: &str) -> Result<String, String> {
    extractor
        .trim()
        .strip_prefix("EXTRACT(")
        .and_then(|r| r.strip_suffix(')'))
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty() && !f.contains(['(', ')', ' ', '"']))
        .ok_or_else(|| format!("extractor {extractor:?} is not EXTRACT(FIELD)"))
}

// ------------------------------------------------------------------ log entries

/// Fields of a structured stdout line Cloud Run lifts into the log entry
/// (Cloud Logging's "special JSON fields"); everything else is jsonPayload.
const SPECIAL: &[(&str, &str)] = &[
    ("severity", "severity"),
    ("httpRequest", "httpRequest"),
    ("logging.googleapis.com/trace", "trace"),
    ("logging.googleapis.com/spanId", "spanId"),
    ("logging.googleapis.com/trace_sampled", "traceSampled"),
    ("logging.googleapis.com/sourceLocation", "sourceLocation"),
    ("logging.googleapis.com/labels", "labels"),
    ("logging.googleapis.com/insertId", "insertId"),
    ("logging.googleapis.com/operation", "operation"),
    ("time", "timestamp"),
    ("timestamp", "timestamp"),
];

/// The log entry Cloud Logging makes of `line`, one JSON object written to
/// stdout by Cloud Run service `service` of project `project`.
pub fn entry(line: &Map<String, Value>, service: &str, project: &str) -> Value {
    let mut payload = line.clone();
    let mut entry = Map::new();
    for (key, lifted) in SPECIAL {
        if let Some(v) = payload.remove(*key) {
            entry.insert((*lifted).to_owned(), v);
        }
    }
    entry.insert(
        "logName".to_owned(),
        json!(format!(
            "projects/{project}/logs/run.googleapis.com%2Fstdout"
        )),
    );
    entry.insert(
        "resource".to_owned(),
        json!({
            "type": "cloud_run_revision",
            "labels": {
                "service_name": service,
                "revision_name": format!("{service}-00001-abc"),
                "configuration_name": service,
                "location": "us-central1",
                "project_id": project,
            }
        }),
    );
    entry.insert("jsonPayload".to_owned(), Value::Object(payload));
    Value::Object(entry)
}
