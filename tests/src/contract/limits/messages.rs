//! Message bodies: the flags each way of sending allows, embeds,
//! components and how they nest, attachment references and mentions.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    ACTION_ROWS_MAX, COMPONENTS_V2_MAX, EMBEDS_TOTAL_MAX, IS_COMPONENTS_V2, Via, at, chars,
    complaint, list,
};

/// A message body: `payload_json`, a JSON body, or a response's `data`.
pub fn message(payload: &Value, via: Via) -> Vec<String> {
    let mut out = Vec::new();
    message_in(payload, via, "", &mut out);
    out
}

/// [`message`] for a payload found at pointer `base`.
pub(super) fn message_in(payload: &Value, via: Via, base: &str, out: &mut Vec<String>) {
    let flags = payload.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let stray = flags & !via.allowed_flags();
    if stray != 0 {
        out.push(complaint(
            &at(base, "flags"),
            format!(
                "{flags} sets bits {stray:#x}, which a message sent this way ({via:?}) cannot carry"
            ),
        ));
    }
    let v2 = flags & IS_COMPONENTS_V2 != 0;
    empty(payload, via, base, out);
    embeds(payload, v2, base, out);
    components(payload, via, v2, base, out);
    attachment_references(payload, base, out);
    mentions(payload, base, out);
}

/// Discord refuses a message with nothing in it ("Cannot send an empty message").
fn empty(payload: &Value, via: Via, base: &str, out: &mut Vec<String>) {
    let filled = |k: &str| match payload.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(!s.is_empty()),
        Some(Value::Array(a)) => Some(!a.is_empty()),
        Some(_) => Some(true),
    };
    let fields = ["content", "embeds", "components", "attachments", "poll"];
    let empty = if via.is_edit() {
        // An edit keeps what it does not mention: empty only if it clears all.
        fields
            .iter()
            .all(|k| filled(k) == Some(false) || (*k == "poll" && filled(k).is_none()))
    } else {
        fields.iter().all(|k| filled(k) != Some(true))
    };
    if empty {
        out.push(complaint(
            base,
            "is an empty message: no content, embed, component, attachment or poll",
        ));
    }
}

fn embeds(payload: &Value, v2: bool, base: &str, out: &mut Vec<String>) {
    let embeds = list(payload.get("embeds"));
    if v2 && (chars(payload.get("content")) > 0 || !embeds.is_empty()) {
        out.push(complaint(
            base,
            "sets IS_COMPONENTS_V2 but has content or embeds, which such a message cannot have",
        ));
    }
    let total: usize = embeds
        .iter()
        .map(|e| {
            let fields: usize = list(e.get("fields"))
                .iter()
                .map(|f| chars(f.get("name")) + chars(f.get("value")))
                .sum();
            chars(e.get("title"))
                + chars(e.get("description"))
                + chars(e.pointer("/footer/text"))
                + chars(e.pointer("/author/name"))
                + fields
        })
        .sum();
    if total > EMBEDS_TOTAL_MAX {
        out.push(complaint(
            &at(base, "embeds"),
            format!("have {total} characters together, more than {EMBEDS_TOTAL_MAX}"),
        ));
    }
}

const ACTION_ROW: u64 = 1;
const BUTTON: u64 = 2;
const SELECTS: [u64; 5] = [3, 5, 6, 7, 8];
const LINK: u64 = 5;
const PREMIUM: u64 = 6;

fn components(payload: &Value, via: Via, v2: bool, base: &str, out: &mut Vec<String>) {
    let top = list(payload.get("components"));
    let rows = at(base, "components");
    let mut ids = HashSet::new();
    if v2 {
        let mut count = 0;
        for (i, c) in top.iter().enumerate() {
            walk(c, &at(&rows, i), via, &mut ids, &mut count, out);
        }
        if count > COMPONENTS_V2_MAX {
            out.push(complaint(
                &rows,
                format!("hold {count} components, more than {COMPONENTS_V2_MAX}"),
            ));
        }
        return;
    }
    if top.len() > ACTION_ROWS_MAX {
        out.push(complaint(
            &rows,
            format!(
                "has {} rows, more than {ACTION_ROWS_MAX} (without IS_COMPONENTS_V2)",
                top.len()
            ),
        ));
    }
    for (r, row) in top.iter().enumerate() {
        let p = at(&rows, r);
        if row.get("type").and_then(Value::as_u64) != Some(ACTION_ROW) {
            out.push(complaint(
                &p,
                "is not an action row; without IS_COMPONENTS_V2 only action rows may be top-level",
            ));
            continue;
        }
        let children = list(row.get("components"));
        let selects = children
            .iter()
            .filter(|c| {
                c.get("type")
                    .and_then(Value::as_u64)
                    .is_some_and(|t| SELECTS.contains(&t))
            })
            .count();
        if selects > 0 && children.len() > 1 {
            out.push(complaint(
                &at(&p, "components"),
                "mixes a select menu with other components; a select fills its row alone",
            ));
        }
        let mut count = 0;
        for (i, c) in children.iter().enumerate() {
            walk(
                c,
                &at(&at(&p, "components"), i),
                via,
                &mut ids,
                &mut count,
                out,
            );
        }
    }
}

/// Checks one component and what it contains, counting them.
fn walk(
    c: &Value,
    p: &str,
    via: Via,
    ids: &mut HashSet<String>,
    count: &mut usize,
    out: &mut Vec<String>,
) {
    *count += 1;
    let kind = c.get("type").and_then(Value::as_u64).unwrap_or(0);
    if let Some(id) = c.get("custom_id").and_then(Value::as_str)
        && !ids.insert(id.to_owned())
    {
        out.push(complaint(
            &at(p, "custom_id"),
            format!("{id:?} is used twice; custom ids are unique within a message"),
        ));
    }
    if kind == BUTTON {
        button(c, p, via, out);
    } else if SELECTS.contains(&kind) && !via.interactive_allowed() {
        out.push(complaint(
            p,
            "is a select menu, which a channel webhook the application does not own cannot send",
        ));
    }
    for key in ["components", "accessory"] {
        let nested: Vec<&Value> = match c.get(key) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        for (i, n) in nested.into_iter().enumerate() {
            let np = if key == "accessory" {
                at(p, key)
            } else {
                at(&at(p, key), i)
            };
            walk(n, &np, via, ids, count, out);
        }
    }
}

fn button(b: &Value, p: &str, via: Via, out: &mut Vec<String>) {
    let style = b.get("style").and_then(Value::as_u64).unwrap_or(0);
    let has = |k: &str| b.get(k).is_some_and(|v| !v.is_null());
    match style {
        LINK => {
            if !has("url") || has("custom_id") {
                out.push(complaint(
                    p,
                    "is a link button: it needs a url and no custom_id",
                ));
            }
        }
        PREMIUM => {
            if !has("sku_id") || has("custom_id") || has("url") || has("label") || has("emoji") {
                out.push(complaint(
                    p,
                    "is a premium button: it needs a sku_id and no custom_id, url, label or emoji",
                ));
            }
        }
        _ => {
            if !has("custom_id") || has("url") {
                out.push(complaint(
                    p,
                    "is an interactive button: it needs a custom_id and no url",
                ));
            }
            if !via.interactive_allowed() {
                out.push(complaint(p, "is an interactive button, which a channel webhook the application does not own cannot send"));
            }
        }
    }
    if style != PREMIUM && !has("label") && !has("emoji") {
        out.push(complaint(p, "has neither a label nor an emoji"));
    }
}

/// Every `attachment://name` in the embeds names an attachment the payload lists.
fn attachment_references(payload: &Value, base: &str, out: &mut Vec<String>) {
    let Some(Value::Array(attachments)) = payload.get("attachments") else {
        return;
    };
    let names: HashSet<&str> = attachments
        .iter()
        .filter_map(|a| a.get("filename").and_then(Value::as_str))
        .collect();
    let mut ids = HashSet::new();
    for (i, a) in attachments.iter().enumerate() {
        if let Some(id) = a.get("id").map(ToString::to_string)
            && !ids.insert(id.clone())
        {
            out.push(complaint(
                &at(&at(&at(base, "attachments"), i), "id"),
                format!("{id} is listed twice"),
            ));
        }
    }
    for (i, e) in list(payload.get("embeds")).iter().enumerate() {
        for key in [
            "/image/url",
            "/thumbnail/url",
            "/footer/icon_url",
            "/author/icon_url",
        ] {
            if let Some(name) = e
                .pointer(key)
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("attachment://"))
                && !names.contains(name)
            {
                out.push(complaint(
                    &format!("{base}/embeds/{i}{key}"),
                    format!(
                        "names attachment://{name}, which is not among the message's attachments"
                    ),
                ));
            }
        }
    }
}

fn mentions(payload: &Value, base: &str, out: &mut Vec<String>) {
    let Some(am) = payload.get("allowed_mentions").filter(|a| a.is_object()) else {
        return;
    };
    let parse: Vec<&str> = list(am.get("parse"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (kind, ids) in [("users", "users"), ("roles", "roles")] {
        if parse.contains(&kind) && !list(am.get(ids)).is_empty() {
            out.push(complaint(
                &at(base, "allowed_mentions"),
                format!("parses all {kind} and lists {ids} too; Discord refuses the two together"),
            ));
        }
    }
}
