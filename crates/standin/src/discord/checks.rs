//! The checks Discord applies to a message body and its files, with errors
//! in Discord's shape (`{"code":50035,"message":"Invalid Form Body","errors":{...}}`).

use std::collections::HashSet;

use serde_json::{Value, json};

/// Discord's documented limits.
pub const CONTENT_MAX: usize = 2000;
pub const EMBEDS_MAX: usize = 10;
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const ROWS_MAX: usize = 5;
pub const BUTTONS_PER_ROW_MAX: usize = 5;
pub const CUSTOM_ID_MAX: usize = 100;
pub const LABEL_MAX: usize = 80;
pub const FILE_MAX: usize = 10 * 1024 * 1024;
pub const ATTACHMENT_DESCRIPTION_MAX: usize = 1024;

/// Field errors collected while checking, keyed by JSON path.
#[derive(Debug, Default)]
pub struct FormErrors(Vec<(String, &'static str, String)>);

impl FormErrors {
    pub fn add(&mut self, path: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.0.push((path.into(), code, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One line for logs and [`super::RecordedRequest::error`].
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(p, _, m)| format!("{p}: {m}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Discord's nested `errors` object: `{"embeds":{"0":{"title":{"_errors":[..]}}}}`.
    pub fn to_json(&self) -> Value {
        let mut root = json!({});
        for (path, code, message) in &self.0 {
            let mut node = &mut root;
            for segment in path.split('.') {
                // Only objects (or fresh nulls, which become objects) are ever indexed.
                if !node.is_object() {
                    *node = json!({});
                }
                node = &mut node[segment];
            }
            if !node.is_object() {
                *node = json!({});
            }
            let errors = &mut node["_errors"];
            if !errors.is_array() {
                *errors = json!([]);
            }
            if let Some(list) = errors.as_array_mut() {
                list.push(json!({"code": code, "message": message}));
            }
        }
        root
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn max_len(errors: &mut FormErrors, v: &Value, path: &str, max: usize) {
    match v {
        Value::Null => {}
        Value::String(s) if s.chars().count() <= max => {}
        Value::String(_) => errors.add(
            path,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        ),
        _ => errors.add(path, "BASE_TYPE_STRING", "Must be a string."),
    }
}

/// Checks `payload_json` (or a JSON body). Returns the attachment file
/// names embeds refer to with `attachment://`, for the caller to resolve.
pub fn message(payload: &Value, errors: &mut FormErrors) -> Vec<(String, String)> {
    let mut attachment_refs = Vec::new();
    let Some(obj) = payload.as_object() else {
        errors.add(
            "_root",
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return attachment_refs;
    };
    if let Some(c) = obj.get("content") {
        max_len(errors, c, "content", CONTENT_MAX);
    }
    if let Some(embeds) = obj.get("embeds").filter(|v| !v.is_null()) {
        message_embeds(embeds, errors, &mut attachment_refs);
    }
    if let Some(rows) = obj.get("components").filter(|v| !v.is_null()) {
        components(rows, errors);
    }
    if let Some(am) = obj.get("allowed_mentions").filter(|v| !v.is_null()) {
        allowed_mentions(am, errors);
    }
    if let Some(atts) = obj.get("attachments").filter(|v| !v.is_null()) {
        attachments(atts, errors);
    }
    if let Some(flags) = obj.get("flags").filter(|v| !v.is_null())
        && !flags.is_u64()
    {
        errors.add("flags", "NUMBER_TYPE_COERCE", "Value is not int.");
    }
    attachment_refs
}

/// At most ten embeds, each checked, and 6,000 characters across all of them.
fn message_embeds(embeds: &Value, errors: &mut FormErrors, refs: &mut Vec<(String, String)>) {
    match embeds.as_array() {
        None => errors.add("embeds", "BASE_TYPE_ARRAY", "Must be an array."),
        Some(list) if list.len() > EMBEDS_MAX => {
            errors.add(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {EMBEDS_MAX} or fewer in length."),
            );
        }
        Some(list) => {
            let mut total = 0;
            for (i, e) in list.iter().enumerate() {
                total += embed(e, &format!("embeds.{i}"), errors, refs);
            }
            if total > EMBED_TOTAL_MAX {
                errors.add(
                    "embeds",
                    "MAX_EMBED_SIZE_EXCEEDED",
                    "Embed size exceeds maximum size of 6000",
                );
            }
        }
    }
}

/// `allowed_mentions.parse`: an array of the three kinds Discord knows.
fn allowed_mentions(am: &Value, errors: &mut FormErrors) {
    match am.get("parse").map(|p| p.as_array()) {
        None => {}
        Some(None) => errors.add(
            "allowed_mentions.parse",
            "BASE_TYPE_ARRAY",
            "Must be an array.",
        ),
        Some(Some(list)) => {
            for (i, p) in list.iter().enumerate() {
                if !matches!(p.as_str(), Some("roles" | "users" | "everyone")) {
                    errors.add(
                        format!("allowed_mentions.parse.{i}"),
                        "BASE_TYPE_CHOICES",
                        "Value must be one of ('roles', 'users', 'everyone').",
                    );
                }
            }
        }
    }
}

/// The `attachments` entries: each with an id, and description and file
/// name within their lengths.
fn attachments(atts: &Value, errors: &mut FormErrors) {
    let Some(list) = atts.as_array() else {
        errors.add("attachments", "BASE_TYPE_ARRAY", "Must be an array.");
        return;
    };
    for (i, a) in list.iter().enumerate() {
        if attachment_id(a).is_none() {
            errors.add(
                format!("attachments.{i}.id"),
                "BASE_TYPE_REQUIRED",
                "This field is required",
            );
        }
        if let Some(d) = a.get("description") {
            max_len(
                errors,
                d,
                &format!("attachments.{i}.description"),
                ATTACHMENT_DESCRIPTION_MAX,
            );
        }
        if let Some(f) = a.get("filename") {
            max_len(errors, f, &format!("attachments.{i}.filename"), 1024);
        }
    }
}

/// An attachment entry's id (`0` and `"0"` are both accepted, as by Discord).
pub fn attachment_id(a: &Value) -> Option<String> {
    match a.get("id")? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn embed(
    e: &Value,
    path: &str,
    errors: &mut FormErrors,
    refs: &mut Vec<(String, String)>,
) -> usize {
    if !e.is_object() {
        errors.add(
            path,
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        );
        return 0;
    }
    let field = |name: &str| e.get(name).unwrap_or(&Value::Null);
    max_len(errors, field("title"), &format!("{path}.title"), 256);
    max_len(
        errors,
        field("description"),
        &format!("{path}.description"),
        4096,
    );
    let mut total = chars(field("title")) + chars(field("description"));
    if let Some(footer) = e.get("footer").filter(|f| !f.is_null()) {
        max_len(
            errors,
            footer.get("text").unwrap_or(&Value::Null),
            &format!("{path}.footer.text"),
            2048,
        );
        total += chars(footer.get("text").unwrap_or(&Value::Null));
    }
    if let Some(fields) = e.get("fields").and_then(Value::as_array) {
        if fields.len() > 25 {
            errors.add(
                format!("{path}.fields"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            );
        }
        for (i, f) in fields.iter().enumerate() {
            max_len(
                errors,
                f.get("name").unwrap_or(&Value::Null),
                &format!("{path}.fields.{i}.name"),
                256,
            );
            max_len(
                errors,
                f.get("value").unwrap_or(&Value::Null),
                &format!("{path}.fields.{i}.value"),
                1024,
            );
            total += chars(f.get("name").unwrap_or(&Value::Null))
                + chars(f.get("value").unwrap_or(&Value::Null));
        }
    }
    for media in ["image", "thumbnail"] {
        let Some(m) = e.get(media).filter(|m| !m.is_null()) else {
            continue;
        };
        let p = format!("{path}.{media}.url");
        match m.get("url").and_then(Value::as_str) {
            None => errors.add(p, "BASE_TYPE_REQUIRED", "This field is required"),
            Some(url) => {
                if let Some(name) = url.strip_prefix("attachment://") {
                    refs.push((p, name.to_owned()));
                } else if !(url.starts_with("https://") || url.starts_with("http://")) {
                    errors.add(
                        p,
                        "URL_TYPE_INVALID_PROTOCOL",
                        "Scheme must be one of ('http', 'https', 'attachment').",
                    );
                }
            }
        }
    }
    total
}

/// Top-level `components`: at most five action rows of buttons, custom
/// ids unique across the whole message.
fn components(rows: &Value, errors: &mut FormErrors) {
    let Some(rows) = rows.as_array() else {
        errors.add("components", "BASE_TYPE_ARRAY", "Must be an array.");
        return;
    };
    if rows.len() > ROWS_MAX {
        errors.add(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {ROWS_MAX} or fewer in length."),
        );
    }
    let mut seen_ids = HashSet::new();
    for (r, row) in rows.iter().enumerate() {
        action_row(row, &format!("components.{r}"), &mut seen_ids, errors);
    }
}

/// One action row: type 1, holding one to five buttons.
fn action_row(row: &Value, path: &str, seen_ids: &mut HashSet<String>, errors: &mut FormErrors) {
    if row.get("type").and_then(Value::as_u64) != Some(1) {
        errors.add(
            format!("{path}.type"),
            "BASE_TYPE_CHOICES",
            "Top-level components must be action rows (type 1).",
        );
        return;
    }
    let Some(buttons) = row.get("components").and_then(Value::as_array) else {
        errors.add(
            format!("{path}.components"),
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
        return;
    };
    if buttons.is_empty() || buttons.len() > BUTTONS_PER_ROW_MAX {
        errors.add(
            format!("{path}.components"),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {BUTTONS_PER_ROW_MAX} in length."),
        );
    }
    for (b, button) in buttons.iter().enumerate() {
        check_button(button, &format!("{path}.components.{b}"), seen_ids, errors);
    }
}

/// One button: a known style, a label or an emoji, and the target its
/// style needs.
fn check_button(
    button: &Value,
    path: &str,
    seen_ids: &mut HashSet<String>,
    errors: &mut FormErrors,
) {
    if button.get("type").and_then(Value::as_u64) != Some(2) {
        errors.add(
            format!("{path}.type"),
            "BASE_TYPE_CHOICES",
            "Only buttons (type 2) are checked by this stand-in.",
        );
        return;
    }
    let style = button.get("style").and_then(Value::as_u64).unwrap_or(0);
    if !(1..=6).contains(&style) {
        errors.add(
            format!("{path}.style"),
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, 3, 4, 5, 6}.",
        );
    }
    if let Some(label) = button.get("label") {
        max_len(errors, label, &format!("{path}.label"), LABEL_MAX);
    }
    if button.get("label").is_none() && button.get("emoji").is_none() {
        errors.add(
            format!("{path}.label"),
            "BASE_TYPE_REQUIRED",
            "A button needs a label or an emoji.",
        );
    }
    button_target(button, path, style, seen_ids, errors);
}

/// A link button (style 5) has a url and no custom id; every other style
/// a unique custom id of 1–100 characters and no url.
fn button_target(
    button: &Value,
    path: &str,
    style: u64,
    seen_ids: &mut HashSet<String>,
    errors: &mut FormErrors,
) {
    let custom_id = button.get("custom_id").and_then(Value::as_str);
    let url = button.get("url").and_then(Value::as_str);
    match (style, custom_id, url) {
        (5, None, Some(_)) => {}
        (5, _, _) => errors.add(
            format!("{path}.url"),
            "BUTTON_COMPONENT_URL_REQUIRED",
            "A link button needs a url and no custom_id.",
        ),
        (_, Some(id), None) => {
            if id.is_empty() || id.chars().count() > CUSTOM_ID_MAX {
                errors.add(
                    format!("{path}.custom_id"),
                    "BASE_TYPE_BAD_LENGTH",
                    format!("Must be between 1 and {CUSTOM_ID_MAX} in length."),
                );
            }
            if !seen_ids.insert(id.to_owned()) {
                errors.add(
                    format!("{path}.custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                );
            }
        }
        _ => errors.add(
            format!("{path}.custom_id"),
            "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
            "A non-link button needs a custom_id and no url.",
        ),
    }
}

/// Checks one uploaded file: size, and that an image is what it claims to be.
/// `Err((status, code, message))`.
pub fn file(
    filename: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<(u32, u32), (u16, u64, String)> {
    if bytes.len() > FILE_MAX {
        return Err((
            413,
            40005,
            format!(
                "Request entity too large: {filename} is {} bytes (limit {FILE_MAX})",
                bytes.len()
            ),
        ));
    }
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let declared = content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let kind = match (declared.as_deref(), ext.as_str()) {
        (Some("image/png"), _) | (None, "png") => Some(image::ImageFormat::Png),
        (Some("image/webp"), _) | (None, "webp") => Some(image::ImageFormat::WebP),
        _ => None,
    };
    if let Some(format) = kind {
        let decoded = image::load_from_memory_with_format(bytes, format).map_err(|e| {
            (
                400,
                50035,
                format!("{filename} is not a valid {format:?} image: {e}"),
            )
        })?;
        return Ok((decoded.width(), decoded.height()));
    }
    if declared.as_deref() == Some("image/svg+xml") || ext == "svg" {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| (400, 50035, format!("{filename} is not UTF-8 SVG")))?;
        if !text.contains("<svg") {
            return Err((400, 50035, format!("{filename} has no <svg> element")));
        }
    }
    Ok((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_enforced_with_discord_style_paths() {
        let mut errors = FormErrors::default();
        let payload = json!({
            "content": "x".repeat(2001),
            "embeds": [{"title": "t", "image": {"url": "ftp://x"}}],
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 2, "label": "a", "custom_id": "x".repeat(101)},
                {"type": 2, "style": 2, "label": "b", "custom_id": "same"},
                {"type": 2, "style": 2, "label": "c", "custom_id": "same"}
            ]}]
        });
        message(&payload, &mut errors);
        let j = errors.to_json();
        assert_eq!(j["content"]["_errors"][0]["code"], "BASE_TYPE_MAX_LENGTH");
        assert_eq!(
            j["embeds"]["0"]["image"]["url"]["_errors"][0]["code"],
            "URL_TYPE_INVALID_PROTOCOL"
        );
        assert_eq!(
            j["components"]["0"]["components"]["0"]["custom_id"]["_errors"][0]["code"],
            "BASE_TYPE_BAD_LENGTH"
        );
        assert_eq!(
            j["components"]["0"]["components"]["2"]["custom_id"]["_errors"][0]["code"],
            "COMPONENT_CUSTOM_ID_DUPLICATED"
        );
    }

    #[test]
    fn images_must_decode() {
        assert!(file("a.png", Some("image/png"), b"\x89PNG nope").is_err());
        let mut png = Vec::new();
        image::RgbaImage::new(3, 2)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(file("a.png", Some("image/png"), &png).unwrap(), (3, 2));
        assert_eq!(
            file("big.bin", None, &vec![0; FILE_MAX + 1]).unwrap_err().0,
            413
        );
    }
}
