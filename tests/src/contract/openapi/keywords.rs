//! The checks on values: types, `const` and `enum`, numeric bounds, and
//! the formats Discord uses.

use serde_json::Value;

use super::complaint::{Complaint, describe, truncate};

pub(super) fn types(
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

pub(super) fn values(
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

pub(super) fn numbers(
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

/// JSON equality, with numbers compared by value (`1` equals `1.0`).
pub(super) fn same(a: &Value, b: &Value) -> bool {
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
pub(super) fn string_format(format: &str, s: &str, at: &str, errors: &mut Vec<Complaint>) {
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
pub(super) fn number_format(format: &str, inst: &Value, at: &str, errors: &mut Vec<Complaint>) {
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
