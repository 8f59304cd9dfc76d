//! Interaction responses, and the modals they open.

use std::collections::HashSet;

use serde_json::Value;

use super::commands::choice_value;
use super::messages::message_in;
use super::{EPHEMERAL, SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, Via, at, chars, complaint, list};

/// An interaction response (`POST /interactions/{id}/{token}/callback`).
pub fn interaction_response(response: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let data = response.get("data").filter(|d| !d.is_null());
    match response.get("type").and_then(Value::as_u64) {
        Some(4 | 7) => match data {
            Some(d) => message_in(d, Via::InteractionResponse, "/data", &mut out),
            None if response["type"] == 4 => {
                out.push(complaint("", "a type 4 response needs data with a message"));
            }
            None => {}
        },
        Some(5) => {
            if let Some(flags) = data.and_then(|d| d.get("flags")).and_then(Value::as_u64)
                && flags & !(EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS) != 0
            {
                out.push(complaint("/data/flags", format!("{flags} sets flags a deferred response cannot carry (IS_COMPONENTS_V2 goes on the later edit)")));
            }
        }
        Some(8) => {
            for (i, c) in list(data.and_then(|d| d.get("choices"))).iter().enumerate() {
                choice_value(c, &at("/data/choices", i), &mut out);
            }
        }
        Some(9) => modal(data.unwrap_or(&Value::Null), &mut out),
        _ => {}
    }
    out
}

fn modal(data: &Value, out: &mut Vec<String>) {
    let title = chars(data.get("title"));
    if !(1..=45).contains(&title) {
        out.push(complaint(
            "/data/title",
            format!("has {title} characters; a modal title has 1 to 45"),
        ));
    }
    let id = chars(data.get("custom_id"));
    if !(1..=100).contains(&id) {
        out.push(complaint(
            "/data/custom_id",
            format!("has {id} characters; a custom id has 1 to 100"),
        ));
    }
    let rows = list(data.get("components"));
    if !(1..=5).contains(&rows.len()) {
        out.push(complaint(
            "/data/components",
            format!("has {} components; a modal has 1 to 5", rows.len()),
        ));
    }
    let mut ids = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let p = format!("/data/components/{i}");
        // Each row holds one text input: in an action row (type 1) or a
        // label (type 18), the two layouts Discord documents.
        let input = match row.get("type").and_then(Value::as_u64) {
            Some(1) => match list(row.get("components")) {
                [one] => Some((one, at(&at(&p, "components"), 0))),
                other => {
                    out.push(complaint(
                        &p,
                        format!(
                            "holds {} components; a modal's action row holds one text input",
                            other.len()
                        ),
                    ));
                    None
                }
            },
            Some(18) => row.get("component").map(|c| (c, at(&p, "component"))),
            other => {
                out.push(complaint(
                    &p,
                    format!(
                        "is of type {other:?}; a modal row is an action row (1) or a label (18)"
                    ),
                ));
                None
            }
        };
        if let Some((input, ip)) = input {
            text_input(input, &ip, &mut ids, out);
        }
    }
}

/// One text input of a modal: its id, label, style and lengths.
fn text_input(c: &Value, p: &str, ids: &mut HashSet<String>, out: &mut Vec<String>) {
    if c.get("type").and_then(Value::as_u64) != Some(4) {
        out.push(complaint(p, "is not a text input (type 4)"));
        return;
    }
    let id = c
        .get("custom_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !(1..=100).contains(&id.chars().count()) {
        out.push(complaint(
            &at(p, "custom_id"),
            format!(
                "has {} characters; a custom id has 1 to 100",
                id.chars().count()
            ),
        ));
    } else if !ids.insert(id.to_owned()) {
        out.push(complaint(
            &at(p, "custom_id"),
            format!("{id:?} is used twice; custom ids are unique within a modal"),
        ));
    }
    if let Some(label) = c.get("label") {
        let n = chars(Some(label));
        if !(1..=45).contains(&n) {
            out.push(complaint(
                &at(p, "label"),
                format!("has {n} characters; a text input's label has 1 to 45"),
            ));
        }
    }
    if !matches!(c.get("style").and_then(Value::as_u64), Some(1 | 2)) {
        out.push(complaint(
            &at(p, "style"),
            "must be 1 (short) or 2 (paragraph)",
        ));
    }
    let max = c.get("max_length").and_then(Value::as_u64).unwrap_or(4000);
    if !(1..=4000).contains(&max) {
        out.push(complaint(
            &at(p, "max_length"),
            format!("is {max}; a text input's max_length is 1 to 4000"),
        ));
    }
    let min = c.get("min_length").and_then(Value::as_u64).unwrap_or(0);
    if min > 4000 || min > max {
        out.push(complaint(
            &at(p, "min_length"),
            format!("is {min}; it is 0 to 4000 and at most max_length"),
        ));
    }
    let value = chars(c.get("value"));
    if value > max as usize {
        out.push(complaint(
            &at(p, "value"),
            format!("has {value} characters, more than its max_length {max}"),
        ));
    }
    let placeholder = chars(c.get("placeholder"));
    if placeholder > 100 {
        out.push(complaint(
            &at(p, "placeholder"),
            format!("has {placeholder} characters; a placeholder has at most 100"),
        ));
    }
}
