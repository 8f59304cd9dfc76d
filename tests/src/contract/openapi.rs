//! Validating a request body against the schema an OpenAPI 3.1 document
//! gives for it, `$ref`s resolved.
//!
//! Written out rather than taken from a JSON Schema crate because Discord's
//! description uses a small, fixed set of keywords (listed in [`KEYWORDS`]),
//! and the walker can do three things a general validator does not:
//! - refuse a keyword it does not implement, so a newer description that
//!   relies on one fails loudly instead of passing silently;
//! - report, for an `anyOf`/`oneOf` that no alternative matches, what the
//!   closest alternative objects to (with its JSON pointer), rather than
//!   only "no alternative matched";
//! - treat a property that no schema at its location describes as an error
//!   ("strict"): Discord's schemas do not say `additionalProperties: false`,
//!   but a field Discord does not know is one it ignores, which for a bot
//!   means a setting that silently does nothing.
//!
//! Errors read `<JSON pointer into the body>: <what is wrong>`; the root is
//! written `(root)`.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use regex::Regex;
use serde_json::Value;

/// Every keyword the walker understands. Annotations (titles,
/// descriptions, `x-` extensions) are accepted and ignored.
pub const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "nullable",
    "enum",
    "const",
    "properties",
    "additionalProperties",
    "required",
    "minProperties",
    "maxProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "allOf",
    "anyOf",
    "oneOf",
];

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",
    "contentMediaType",
];

/// How many `$ref`s may be followed without moving into the body.
const REF_DEPTH: u32 = 64;

/// An OpenAPI document.
pub struct Api {
    doc: Value,
    /// Compiled `pattern`s, by source.
    patterns: Mutex<HashMap<String, Result<Regex, String>>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("title", &self.doc.pointer("/info/title"))
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(doc: Value) -> Api {
        Api {
            doc,
            patterns: Mutex::new(HashMap::new()),
        }
    }

    /// Reads a JSON document.
    pub fn from_file(path: &Path) -> Result<Api, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Ok(Api::new(doc))
    }

    /// The `application/json` request-body schema of an operation, named
    /// by its `operationId` (`execute_webhook`) or as `METHOD /path`
    /// (`POST /webhooks/{webhook_id}/{webhook_token}`). A multipart
    /// request's `payload_json` part is this same JSON.
    pub fn request_schema(&self, operation: &str) -> Result<&Value, String> {
        let op = self.operation(operation)?;
        op.pointer("/requestBody/content/application~1json/schema")
            .ok_or_else(|| format!("{operation} has no application/json request body"))
    }

    fn operation(&self, operation: &str) -> Result<&Value, String> {
        let paths = self
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("the document has no paths")?;
        if let Some((method, path)) = operation.split_once(' ') {
            let method = method.to_ascii_lowercase();
            return paths
                .get(path)
                .and_then(|p| p.get(&method))
                .ok_or_else(|| format!("the document has no operation {operation}"));
        }
        paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|p| p.values())
            .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation))
            .ok_or_else(|| format!("the document has no operation with operationId {operation}"))
    }

    /// Checks `body` against the request-body schema of `operation` (see
    /// [`Api::request_schema`]); every complaint, or `Ok`.
    pub fn validate(&self, operation: &str, body: &Value) -> Result<(), Vec<String>> {
        let schema = self.request_schema(operation).map_err(|e| vec![e])?;
        self.validate_schema(schema, body)
    }

    /// Checks `body` against `schema`, whose `$ref`s point into this document.
    pub fn validate_schema(&self, schema: &Value, body: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.check(schema, body, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    /// Where the body's structure moves (the root, a property value, an
    /// item): the schema is evaluated, then properties no schema at this
    /// location described are reported.
    fn check(&self, schema: &Value, inst: &Value, at: &str, errors: &mut Vec<Complaint>) {
        let seen = self.eval(schema, inst, at, 0, errors);
        if let (Value::Object(map), Seen::Listed(listed)) = (inst, seen) {
            for key in map.keys().filter(|k| !listed.contains(*k)) {
                errors.push(Complaint::new(
                    &child(at, key),
                    "is not a property Discord's schema describes here (it would be ignored)",
                ));
            }
        }
    }

    /// Applies every keyword of `schema` to `inst` at `at`; returns which
    /// properties of `inst` the schema (and what it refers to) described.
    fn eval(
        &self,
        schema: &Value,
        inst: &Value,
        at: &str,
        depth: u32,
        errors: &mut Vec<Complaint>,
    ) -> Seen {
        let obj = match schema {
            Value::Bool(true) => return Seen::None,
            Value::Bool(false) => {
                errors.push(Complaint::new(at, "is not allowed here (schema `false`)"));
                return Seen::None;
            }
            Value::Object(o) => o,
            _ => {
                errors.push(Complaint::new(at, "has a schema that is not an object"));
                return Seen::None;
            }
        };
        for key in obj.keys() {
            if !KEYWORDS.contains(&key.as_str())
                && !ANNOTATIONS.contains(&key.as_str())
                && !key.starts_with("x-")
            {
                errors.push(Complaint::new(
                    at,
                    format!("is described with the keyword `{key}`, which this checker does not implement"),
                ));
            }
        }
        if obj.get("nullable") == Some(&Value::Bool(true)) && inst.is_null() {
            return Seen::None;
        }
        let mut seen = Seen::None;
        if let Some(r) = obj.get("$ref") {
            seen.merge(self.reference(r, inst, at, depth, errors));
        }
        types(obj, inst, at, errors);
        values(obj, inst, at, errors);
        self.strings(obj, inst, at, errors);
        numbers(obj, inst, at, errors);
        self.arrays(obj, inst, at, errors);
        seen.merge(self.objects(obj, inst, at, errors));
        seen.merge(self.combinations(obj, inst, at, depth, errors));
        seen
    }

    fn reference(
        &self,
        r: &Value,
        inst: &Value,
        at: &str,
        depth: u32,
        errors: &mut Vec<Complaint>,
    ) -> Seen {
        let Some(target) = r
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| self.doc.pointer(p))
        else {
            errors.push(Complaint::new(
                at,
                format!("is described by {r}, which does not resolve in this document"),
            ));
            return Seen::None;
        };
        if depth >= REF_DEPTH {
            errors.push(Complaint::new(at, format!("has a $ref cycle through {r}")));
            return Seen::None;
        }
        self.eval(target, inst, at, depth + 1, errors)
    }

    fn strings(
        &self,
        obj: &serde_json::Map<String, Value>,
        inst: &Value,
        at: &str,
        errors: &mut Vec<Complaint>,
    ) {
        let Value::String(s) = inst else {
            if let Some(format) = obj.get("format").and_then(Value::as_str) {
                number_format(format, inst, at, errors);
            }
            return;
        };
        let chars = s.chars().count() as u64;
        if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            errors.push(Complaint::new(
                at,
                format!("has {chars} characters, fewer than minLength {min}"),
            ));
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            errors.push(Complaint::new(
                at,
                format!("has {chars} characters, more than maxLength {max}"),
            ));
        }
        if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
            match self.pattern(p) {
                Ok(re) if re.is_match(s) => {}
                Ok(_) => errors.push(Complaint::new(
                    at,
                    format!("is {inst}, which does not match the pattern {p}"),
                )),
                Err(e) => errors.push(Complaint::new(
                    at,
                    format!("has a pattern this checker cannot compile ({e})"),
                )),
            }
        }
        if let Some(format) = obj.get("format").and_then(Value::as_str) {
            string_format(format, s, at, errors);
        }
    }

    fn pattern(&self, source: &str) -> Result<Regex, String> {
        let mut cache = self.patterns.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(source.to_owned())
            .or_insert_with(|| Regex::new(source).map_err(|e| e.to_string()))
            .clone()
    }

    fn arrays(
        &self,
        obj: &serde_json::Map<String, Value>,
        inst: &Value,
        at: &str,
        errors: &mut Vec<Complaint>,
    ) {
        let Value::Array(items) = inst else { return };
        let n = items.len() as u64;
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
            && n < min
        {
            errors.push(Complaint::new(
                at,
                format!("has {n} items, fewer than minItems {min}"),
            ));
        }
        if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
            && n > max
        {
            errors.push(Complaint::new(
                at,
                format!("has {n} items, more than maxItems {max}"),
            ));
        }
        if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in items.iter().enumerate() {
                if let Some(j) = items[..i].iter().position(|b| same(a, b)) {
                    errors.push(Complaint::new(
                        &child(at, &i.to_string()),
                        format!("repeats item {j} ({a}), but items must be unique"),
                    ));
                }
            }
        }
        if let Some(schema) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check(schema, item, &child(at, &i.to_string()), errors);
            }
        }
    }

    fn objects(
        &self,
        obj: &serde_json::Map<String, Value>,
        inst: &Value,
        at: &str,
        errors: &mut Vec<Complaint>,
    ) -> Seen {
        let Value::Object(map) = inst else {
            return Seen::None;
        };
        let n = map.len() as u64;
        if let Some(min) = obj.get("minProperties").and_then(Value::as_u64)
            && n < min
        {
            errors.push(Complaint::new(
                at,
                format!("has {n} properties, fewer than minProperties {min}"),
            ));
        }
        if let Some(max) = obj.get("maxProperties").and_then(Value::as_u64)
            && n > max
        {
            errors.push(Complaint::new(
                at,
                format!("has {n} properties, more than maxProperties {max}"),
            ));
        }
        if let Some(Value::Array(required)) = obj.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    errors.push(Complaint::new(
                        at,
                        format!("lacks the required property {name:?}"),
                    ));
                }
            }
        }
        let mut seen = Seen::None;
        let properties = obj.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            seen = Seen::Listed(properties.keys().cloned().collect());
            for (name, schema) in properties {
                if let Some(value) = map.get(name) {
                    self.check(schema, value, &child(at, name), errors);
                }
            }
        }
        if let Some(extra) = obj.get("additionalProperties") {
            for (name, value) in map {
                if properties.is_some_and(|p| p.contains_key(name)) {
                    continue;
                }
                match extra {
                    Value::Bool(false) => errors.push(Complaint::new(
                        &child(at, name),
                        "is not allowed (additionalProperties: false)",
                    )),
                    schema => self.check(schema, value, &child(at, name), errors),
                }
            }
            seen = Seen::All;
        }
        seen
    }

    fn combinations(
        &self,
        obj: &serde_json::Map<String, Value>,
        inst: &Value,
        at: &str,
        depth: u32,
        errors: &mut Vec<Complaint>,
    ) -> Seen {
        let mut seen = Seen::None;
        if let Some(Value::Array(all)) = obj.get("allOf") {
            for s in all {
                seen.merge(self.eval(s, inst, at, depth, errors));
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = obj.get(keyword) else {
                continue;
            };
            let tried: Vec<(Vec<Complaint>, Seen)> = branches
                .iter()
                .map(|b| {
                    let mut e = Vec::new();
                    let s = self.eval(b, inst, at, depth, &mut e);
                    (e, s)
                })
                .collect();
            let passed: Vec<usize> = (0..tried.len())
                .filter(|&i| tried[i].0.is_empty())
                .collect();
            if keyword == "oneOf" && passed.len() > 1 {
                let names: Vec<String> = passed
                    .iter()
                    .map(|&i| branch_name(&branches[i], i))
                    .collect();
                errors.push(Complaint::new(
                    at,
                    format!(
                        "matches {} of the oneOf alternatives ({}); exactly one must match",
                        passed.len(),
                        names.join(", ")
                    ),
                ));
            }
            if passed.is_empty() {
                let closest = closest(&tried, at);
                let mut text = format!(
                    "matches none of the {} {keyword} alternatives",
                    branches.len()
                );
                if let Some(i) = closest {
                    let _ = write!(
                        text,
                        "; the closest, {}, objects:",
                        branch_name(&branches[i], i)
                    );
                }
                errors.push(Complaint::new(at, text));
                if let Some(i) = closest {
                    errors.extend(tried[i].0.iter().cloned());
                }
            }
            for i in passed {
                seen.merge(tried[i].1.clone());
            }
        }
        seen
    }
}

fn types(
    obj: &serde_json::Map<String, Value>,
    inst: &Value,
    at: &str,
    errors: &mut Vec<Complaint>,
) {
    let Some(t) = obj.get("type") else { return };
    let mut allowed: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        allowed.push("null");
    }
    if !allowed.iter().any(|t| is_type(inst, t)) {
        errors.push(Complaint::mismatch(
            at,
            format!("is {}, not {}", describe(inst), allowed.join(" or ")),
        ));
    }
}

fn values(
    obj: &serde_json::Map<String, Value>,
    inst: &Value,
    at: &str,
    errors: &mut Vec<Complaint>,
) {
    if let Some(c) = obj.get("const")
        && !same(c, inst)
    {
        errors.push(Complaint::mismatch(at, format!("is {inst}, not {c}")));
    }
    if let Some(Value::Array(options)) = obj.get("enum")
        && !options.iter().any(|o| same(o, inst))
    {
        let list: Vec<String> = options.iter().map(ToString::to_string).collect();
        errors.push(Complaint::mismatch(
            at,
            format!("is {inst}, not one of {}", list.join(", ")),
        ));
    }
}

fn numbers(
    obj: &serde_json::Map<String, Value>,
    inst: &Value,
    at: &str,
    errors: &mut Vec<Complaint>,
) {
    let Value::Number(n) = inst else { return };
    let bounds = [
        ("minimum", std::cmp::Ordering::Less, "less than"),
        (
            "exclusiveMinimum",
            std::cmp::Ordering::Less,
            "not more than",
        ),
        ("maximum", std::cmp::Ordering::Greater, "more than"),
        (
            "exclusiveMaximum",
            std::cmp::Ordering::Greater,
            "not less than",
        ),
    ];
    for (keyword, outside, words) in bounds {
        let Some(Value::Number(bound)) = obj.get(keyword) else {
            continue;
        };
        let order = compare(n, bound);
        let exclusive = keyword.starts_with("exclusive");
        let bad = order == Some(outside) || (exclusive && order == Some(std::cmp::Ordering::Equal));
        if bad {
            errors.push(Complaint::new(
                at,
                format!("is {n}, {words} {keyword} {bound}"),
            ));
        }
    }
}

/// What properties of an object the schemas at one location described.
#[derive(Debug, Clone)]
enum Seen {
    /// No schema here listed properties (a free-form object, or not one).
    None,
    Listed(BTreeSet<String>),
    /// `additionalProperties` took every other property.
    All,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        *self = match (std::mem::replace(self, Seen::None), other) {
            (Seen::All, _) | (_, Seen::All) => Seen::All,
            (Seen::None, x) | (x, Seen::None) => x,
            (Seen::Listed(mut a), Seen::Listed(b)) => {
                a.extend(b);
                Seen::Listed(a)
            }
        };
    }
}

/// One thing wrong, where.
#[derive(Debug, Clone)]
struct Complaint {
    pointer: String,
    message: String,
    /// A wrong type, `const` or `enum`: the mark of a different kind of
    /// thing rather than a flawed one of this kind.
    mismatch: bool,
}

impl Complaint {
    fn new(pointer: &str, message: impl Into<String>) -> Complaint {
        Complaint {
            pointer: pointer.to_owned(),
            message: message.into(),
            mismatch: false,
        }
    }

    fn mismatch(pointer: &str, message: impl Into<String>) -> Complaint {
        Complaint {
            mismatch: true,
            ..Complaint::new(pointer, message)
        }
    }
}

impl std::fmt::Display for Complaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// The JSON pointer of `key` under `at` (RFC 6901 escaping).
fn child(at: &str, key: &str) -> String {
    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The alternative that is most likely the intended one: not told apart
/// by a wrong type, `const` or `enum` at the value itself or one of its
/// properties (the way Discord's unions are discriminated, by `type`),
/// then the one with the fewest complaints, then the first.
fn closest(tried: &[(Vec<Complaint>, Seen)], at: &str) -> Option<usize> {
    let depth = at.matches('/').count();
    let ruled_out = |e: &[Complaint]| {
        e.iter()
            .any(|c| c.mismatch && c.pointer.matches('/').count() <= depth + 1)
    };
    (0..tried.len()).min_by_key(|&i| (ruled_out(&tried[i].0), tried[i].0.len(), i))
}

fn branch_name(branch: &Value, i: usize) -> String {
    branch
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map_or_else(|| format!("alternative {}", i + 1), str::to_owned)
}

fn is_type(inst: &Value, t: &str) -> bool {
    match t {
        "null" => inst.is_null(),
        "boolean" => inst.is_boolean(),
        "string" => inst.is_string(),
        "array" => inst.is_array(),
        "object" => inst.is_object(),
        "number" => inst.is_number(),
        "integer" => match inst {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

fn describe(inst: &Value) -> String {
    match inst {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {:?}", truncate(s)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        s.chars().take(40).collect::<String>() + "…"
    } else {
        s.to_owned()
    }
}

/// JSON equality, with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare(x, y) == Some(std::cmp::Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Orders two JSON numbers exactly when both are integers (Discord's
/// permission bits exceed f64's precision), by value otherwise.
fn compare(a: &serde_json::Number, b: &serde_json::Number) -> Option<std::cmp::Ordering> {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Formats of strings: Discord's ids, URLs and timestamps.
fn string_format(format: &str, s: &str, at: &str, errors: &mut Vec<Complaint>) {
    let ok = match format {
        // A snowflake: a decimal 64-bit unsigned integer, as a string.
        "snowflake" => {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
        }
        // An absolute URI: a scheme and what follows it.
        "uri" => reqwest::Url::parse(s).is_ok(),
        "date-time" => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }
        // Formats of other types say nothing about strings; `nonce` is
        // Discord's "integer or string" and needs no check.
        "int32" | "int64" | "double" | "float" | "nonce" => true,
        other => {
            errors.push(Complaint::new(
                at,
                format!("has the format `{other}`, which this checker does not know"),
            ));
            return;
        }
    };
    if !ok {
        errors.push(Complaint::new(
            at,
            format!("is {:?}, not a valid {format}", truncate(s)),
        ));
    }
}

/// Formats of numbers: integer widths.
fn number_format(format: &str, inst: &Value, at: &str, errors: &mut Vec<Complaint>) {
    let Value::Number(n) = inst else { return };
    let range = match format {
        "int32" => i128::from(i32::MIN)..=i128::from(i32::MAX),
        "int64" => i128::from(i64::MIN)..=i128::from(i64::MAX),
        _ => return,
    };
    let fits = n
        .as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .is_some_and(|v| range.contains(&v));
    if !fits && is_type(inst, "integer") {
        errors.push(Complaint::new(at, format!("is {n}, outside {format}")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

    use super::*;
    use serde_json::json;

    /// A document with one operation whose body is `schema`, and `components`.
    fn api(schema: Value, components: Value) -> Api {
        Api::new(json!({
            "paths": {"/things/{id}": {"post": {
                "operationId": "make_thing",
                "requestBody": {"content": {"application/json": {"schema": schema}}}
            }}},
            "components": {"schemas": components}
        }))
    }

    fn errors(api: &Api, body: Value) -> Vec<String> {
        api.validate("make_thing", &body).err().unwrap_or_default()
    }

    #[track_caller]
    fn complains(api: &Api, body: Value, fragment: &str) {
        let e = errors(api, body);
        assert!(
            e.iter().any(|e| e.contains(fragment)),
            "expected {fragment:?} in {e:?}"
        );
    }

    #[test]
    fn operations_are_found_by_id_or_by_method_and_path() {
        let a = api(json!({"type": "integer"}), json!({}));
        assert!(a.validate("make_thing", &json!(1)).is_ok());
        assert!(a.validate("POST /things/{id}", &json!(1)).is_ok());
        assert!(a.validate("POST /things/{id}", &json!("x")).is_err());
        assert!(a.validate("PUT /things/{id}", &json!(1)).unwrap_err()[0].contains("no operation"));
        assert!(a.validate("make_other", &json!(1)).unwrap_err()[0].contains("no operation"));
    }

    #[test]
    fn refs_resolve_and_errors_carry_json_pointers() {
        let a = api(
            json!({"$ref": "#/components/schemas/Outer"}),
            json!({
                "Outer": {"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}}}},
                "Inner": {"type": "object", "properties": {"a/b": {"type": "string", "maxLength": 2}}, "required": ["a/b"]}
            }),
        );
        assert!(errors(&a, json!({"list": [{"a/b": "ok"}]})).is_empty());
        complains(
            &a,
            json!({"list": [{"a/b": "ok"}, {"a/b": "long"}]}),
            "/list/1/a~1b: has 4 characters, more than maxLength 2",
        );
        complains(
            &a,
            json!({"list": [{}]}),
            "/list/0: lacks the required property \"a/b\"",
        );
        let broken = api(json!({"$ref": "#/components/schemas/Gone"}), json!({}));
        complains(&broken, json!({}), "does not resolve");
        let cycle = api(
            json!({"$ref": "#/components/schemas/A"}),
            json!({"A": {"$ref": "#/components/schemas/A"}}),
        );
        complains(&cycle, json!({}), "$ref cycle");
    }

    #[test]
    fn types_nullable_enums_and_consts() {
        let a = api(
            json!({"type": "object", "properties": {
                "n": {"type": ["integer", "null"]},
                "old": {"type": "string", "nullable": true},
                "e": {"enum": [1, 2]},
                "c": {"const": "x"},
                "i": {"type": "integer"}
            }}),
            json!({}),
        );
        assert!(
            errors(
                &a,
                json!({"n": null, "old": null, "e": 2.0, "c": "x", "i": 3.0})
            )
            .is_empty()
        );
        complains(
            &a,
            json!({"n": "1"}),
            "/n: is the string \"1\", not integer or null",
        );
        complains(&a, json!({"i": 1.5}), "/i: is the number 1.5, not integer");
        complains(&a, json!({"e": 3}), "/e: is 3, not one of 1, 2");
        complains(&a, json!({"c": "y"}), "/c: is \"y\", not \"x\"");
        complains(
            &api(json!({"type": "string"}), json!({})),
            json!(null),
            "(root): is null, not string",
        );
    }

    #[test]
    fn lengths_counts_bounds_and_uniqueness() {
        let a = api(
            json!({"type": "object", "properties": {
                "s": {"type": "string", "minLength": 1, "maxLength": 3},
                "a": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true},
                "n": {"type": "integer", "minimum": 0, "maximum": 18014398509481983_u64},
                "x": {"type": "number", "exclusiveMinimum": 0},
                "o": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
            }}),
            json!({}),
        );
        assert!(errors(&a, json!({"s": "äöü", "a": [1, 2], "n": 18014398509481983_u64, "x": 0.5, "o": {"k": "v"}})).is_empty());
        complains(
            &a,
            json!({"s": ""}),
            "/s: has 0 characters, fewer than minLength 1",
        );
        complains(
            &a,
            json!({"a": []}),
            "/a: has 0 items, fewer than minItems 1",
        );
        complains(
            &a,
            json!({"a": [1, 2, 3]}),
            "/a: has 3 items, more than maxItems 2",
        );
        complains(&a, json!({"a": [1, 1]}), "/a/1: repeats item 0");
        complains(
            &a,
            json!({"n": 18014398509481984_u64}),
            "/n: is 18014398509481984, more than maximum",
        );
        complains(&a, json!({"n": -1}), "/n: is -1, less than minimum 0");
        complains(
            &a,
            json!({"x": 0}),
            "/x: is 0, not more than exclusiveMinimum 0",
        );
        complains(
            &a,
            json!({"o": {"a": "1", "b": "2"}}),
            "/o: has 2 properties, more than maxProperties 1",
        );
        complains(
            &a,
            json!({"o": {"a": 1}}),
            "/o/a: is the number 1, not string",
        );
    }

    #[test]
    fn formats_patterns_and_unknown_keywords() {
        let a = api(
            json!({"type": "object", "properties": {
                "id": {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "format": "snowflake"},
                "url": {"type": "string", "format": "uri"},
                "at": {"type": "string", "format": "date-time"},
                "small": {"type": "integer", "format": "int32"}
            }}),
            json!({}),
        );
        assert!(errors(&a, json!({"id": "0", "url": "attachment://a.png", "at": "2026-11-24T10:00:00Z", "small": 5})).is_empty());
        complains(
            &a,
            json!({"id": "01"}),
            "/id: is \"01\", which does not match the pattern",
        );
        complains(
            &a,
            json!({"id": "99999999999999999999"}),
            "not a valid snowflake",
        );
        complains(
            &a,
            json!({"url": "no scheme"}),
            "/url: is \"no scheme\", not a valid uri",
        );
        complains(&a, json!({"at": "yesterday"}), "not a valid date-time");
        complains(
            &a,
            json!({"small": 2_147_483_648_u64}),
            "/small: is 2147483648, outside int32",
        );
        let odd = api(json!({"type": "string", "format": "hostname"}), json!({}));
        complains(
            &odd,
            json!("x"),
            "format `hostname`, which this checker does not know",
        );
        let new = api(
            json!({"type": "object", "dependentRequired": {}}),
            json!({}),
        );
        complains(
            &new,
            json!({}),
            "keyword `dependentRequired`, which this checker does not implement",
        );
        let annotated = api(
            json!({"title": "T", "description": "D", "x-discord-union": "oneOf"}),
            json!({}),
        );
        assert!(errors(&annotated, json!(1)).is_empty());
    }

    #[test]
    fn all_any_and_one_of() {
        let a = api(
            json!({"type": "object", "properties": {
                "all": {"allOf": [{"type": "integer"}, {"minimum": 2}]},
                "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "one": {"oneOf": [{"type": "integer"}, {"minimum": 10}]},
                "row": {"oneOf": [{"$ref": "#/components/schemas/Button"}, {"$ref": "#/components/schemas/Row"}]}
            }}),
            json!({
                "Row": {"type": "object", "properties": {"type": {"const": 1}, "components": {"type": "array", "items": {"$ref": "#/components/schemas/Button"}}}, "required": ["type"]},
                "Button": {"type": "object", "properties": {"type": {"const": 2}, "label": {"type": "string", "maxLength": 3}}, "required": ["type"]}
            }),
        );
        assert!(errors(&a, json!({"all": 3, "any": "x", "one": 5, "row": {"type": 1, "components": [{"type": 2}]}})).is_empty());
        complains(&a, json!({"all": 1}), "/all: is 1, less than minimum 2");
        complains(
            &a,
            json!({"any": null}),
            "/any: matches none of the 2 anyOf alternatives",
        );
        complains(
            &a,
            json!({"one": 11}),
            "/one: matches 2 of the oneOf alternatives",
        );
        // The closest alternative's complaint is reported with its pointer.
        let e = errors(
            &a,
            json!({"row": {"type": 1, "components": [{"type": 2, "label": "long"}]}}),
        );
        assert!(e[0].contains("the closest, Row, objects"), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.starts_with("/row/components/0/label: has 4 characters")),
            "{e:?}"
        );
    }

    #[test]
    fn properties_no_schema_describes_are_reported() {
        let a = api(
            json!({"anyOf": [
                {"type": "object", "properties": {"type": {"const": 1}}, "required": ["type"]},
                {"type": "object", "properties": {"type": {"const": 4}, "data": {"type": "object", "properties": {"content": {"type": "string"}}}}, "required": ["type"]}
            ]}),
            json!({}),
        );
        assert!(errors(&a, json!({"type": 4, "data": {"content": "x"}})).is_empty());
        complains(
            &a,
            json!({"type": 1, "data": {}}),
            "/data: is not a property Discord's schema describes here",
        );
        complains(
            &a,
            json!({"type": 4, "data": {"ephemeral": true}}),
            "/data/ephemeral: is not a property",
        );
        // A free-form object (no properties listed) takes anything.
        let free = api(json!({"type": "object"}), json!({}));
        assert!(errors(&free, json!({"anything": 1})).is_empty());
    }
}
