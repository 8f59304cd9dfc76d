//! Following a schema through a body: `$ref`s, objects, arrays, strings
//! and the combinators, with what each location's schemas described, for
//! the strict check.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::PoisonError;

use regex::Regex;
use serde_json::Value;

use super::complaint::{Complaint, child};
use super::keywords::{number_format, numbers, same, string_format, types, values};
use super::{ANNOTATIONS, Api, KEYWORDS, REF_DEPTH};

impl Api {
    /// Where the body's structure moves (the root, a property value, an
    /// item): the schema is evaluated, then properties no schema at this
    /// location described are reported.
    pub(super) fn check(
        &self,
        schema: &Value,
        inst: &Value,
        at: &str,
        errors: &mut Vec<Complaint>,
    ) {
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
