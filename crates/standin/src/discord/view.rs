//! A message as Discord answers with it: its JSON, with attachment URLs
//! and timestamps.

use axum::http::{HeaderMap, Uri, header};
use mandala_model::discord::snowflake;
use serde_json::{Value, json};

use super::state::{RecordedAttachment, RecordedMessage};

/// Absolute URL prefix of the stand-in, from the Host header and the mount point.
pub(super) fn base_url(headers: &HeaderMap, original: &Uri, nested: &Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let prefix = original
        .path()
        .strip_suffix(nested.path())
        .unwrap_or_default();
    format!("http://{host}{prefix}")
}

pub(super) fn attachment_url(base: &str, message: &str, a: &RecordedAttachment) -> String {
    format!("{base}/attachments/{message}/{}/{}", a.id, a.filename)
}

/// The message as Discord returns it.
pub(super) fn message_json(m: &RecordedMessage, base: &str) -> Value {
    let attachments: Vec<Value> = m
        .attachments
        .iter()
        .map(|a| {
            let url = attachment_url(base, &m.id, a);
            let mut j = json!({"id": a.id, "filename": a.filename, "size": a.bytes.len(),
                               "url": url, "proxy_url": url, "content_type": a.content_type});
            if let Some(d) = &a.description {
                j["description"] = json!(d);
            }
            if a.width > 0 {
                j["width"] = json!(a.width);
                j["height"] = json!(a.height);
            }
            j
        })
        .collect();
    let mut embeds = m
        .payload_json
        .get("embeds")
        .cloned()
        .unwrap_or_else(|| json!([]));
    if let Some(list) = embeds.as_array_mut() {
        for e in list {
            let Some(url) = e
                .pointer("/image/url")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            if let Some(name) = url.strip_prefix("attachment://")
                && let Some(a) = m.attachments.iter().find(|a| a.filename == name)
            {
                let real = attachment_url(base, &m.id, a);
                e["image"] =
                    json!({"url": real, "proxy_url": real, "width": a.width, "height": a.height});
            }
        }
    }
    let field = |k: &str, default: Value| m.payload_json.get(k).cloned().unwrap_or(default);
    json!({
        "id": m.id,
        "type": if m.original { 20 } else { 0 },
        "content": field("content", json!("")),
        "channel_id": "1",
        "author": {"id": m.webhook_id, "username": "Mandala", "bot": true, "discriminator": "0000"},
        "embeds": embeds,
        "attachments": attachments,
        "components": field("components", json!([])),
        "mentions": [], "mention_roles": [], "mention_everyone": false, "pinned": false, "tts": false,
        "timestamp": snowflake_time(&m.id),
        "edited_timestamp": if m.edits > 0 { json!(snowflake_time(&m.id)) } else { Value::Null },
        "flags": field("flags", json!(0)),
        "webhook_id": m.webhook_id,
        "application_id": m.webhook_id,
    })
}

pub(super) fn snowflake_time(id: &str) -> String {
    let ms = snowflake::timestamp_ms(id).unwrap_or(0);
    let secs = ms / 1000;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

pub(super) fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}
