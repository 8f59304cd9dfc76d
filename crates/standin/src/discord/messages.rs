//! The message routes: execute a webhook, answer an interaction through
//! its callback, and get, edit or delete a message — each request checked
//! the way Discord checks it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mandala_model::clock::now_ms;
use mandala_model::discord::MessagePayload;
use serde_json::{Value, json};

use super::body::{Upload, read_body, resolve_attachments};
use super::checks::{self, FormErrors};
use super::errors::{form_error, invalid_form, ok_json, refuse, unknown};
use super::state::{DiscordStandin, Recorded, RecordedAttachment, RecordedMessage};
use super::view::{base_url, is_snowflake, message_json};

/// Validates a payload and its files, returning the new attachment list.
pub(super) fn check_message(
    standin: &DiscordStandin,
    headers: &HeaderMap,
    body: &Bytes,
    existing: &[RecordedAttachment],
    editing: bool,
) -> Result<(Value, Vec<RecordedAttachment>), Response> {
    let (payload, files) = read_body(headers, body)?;
    check_payload(standin, payload, files, existing, editing)
}

pub(super) fn check_payload(
    standin: &DiscordStandin,
    payload: Value,
    files: Vec<Upload>,
    existing: &[RecordedAttachment],
    editing: bool,
) -> Result<(Value, Vec<RecordedAttachment>), Response> {
    let mut errors = FormErrors::default();
    let refs = checks::message(&payload, &mut errors);
    if !errors.is_empty() {
        return Err(invalid_form(&errors));
    }
    if let Err(e) = serde_json::from_value::<MessagePayload>(payload.clone()) {
        return Err(form_error(
            "_root",
            "BASE_TYPE_INVALID",
            format!("payload does not match the message schema: {e}"),
        ));
    }
    let attachments = resolve_attachments(standin, existing, &payload, files, editing)
        .map_err(|e| invalid_form(&e))?;
    let mut errors = FormErrors::default();
    for (path, name) in refs {
        if !attachments.iter().any(|a| a.filename == name) {
            errors.add(
                path,
                "ATTACHMENT_NOT_FOUND",
                format!("attachment://{name} names no attachment of this message"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(invalid_form(&errors));
    }
    Ok((payload, attachments))
}

pub(super) fn is_empty_field(payload: &Value, key: &str) -> bool {
    payload.get(key).is_none_or(|v| {
        v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty)
    })
}

pub(super) async fn execute_webhook(
    State(standin): State<DiscordStandin>,
    Path((webhook, token)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_snowflake(&webhook) {
        return unknown(10015, "Webhook");
    }
    let (payload, attachments) = match check_message(&standin, &headers, &body, &[], false) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if ["content", "embeds", "components"]
        .iter()
        .all(|k| is_empty_field(&payload, k))
        && attachments.is_empty()
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
            None,
            "empty message".into(),
        );
    }
    let message = RecordedMessage {
        id: standin.next_id(),
        webhook_id: webhook,
        token: Some(token),
        original: false,
        edits: 0,
        updated_ms: now_ms(),
        payload: serde_json::from_value(payload.clone()).unwrap_or_default(),
        payload_json: payload,
        attachments,
    };
    let body = message_json(&message, &base_url(&headers, &original, &uri));
    standin.with(|s| s.messages.push(message));
    standin.changed();
    if query.get("wait").is_some_and(|w| w == "true" || w == "1") {
        ok_json(body)
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// `POST /interactions/{id}/{token}/callback`: the interaction's response
/// sent through the API (which, unlike the HTTP answer, can carry files).
/// Type 4 with a message creates the original response; an interaction is
/// answered once, as Discord allows.
pub(super) async fn interaction_callback(
    State(standin): State<DiscordStandin>,
    Path((interaction, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_snowflake(&interaction) {
        return unknown(10062, "interaction");
    }
    let (mut callback, files) = match read_body(&headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if callback["type"].as_u64() != Some(4) {
        return form_error(
            "type",
            "BASE_TYPE_CHOICES",
            "the stand-in answers only CHANNEL_MESSAGE_WITH_SOURCE (4) callbacks".into(),
        );
    }
    let payload = callback
        .get_mut("data")
        .map_or_else(|| json!({}), Value::take);
    let (payload, attachments) = match check_payload(&standin, payload, files, &[], false) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let answered = standin.with(|s| {
        s.messages
            .iter()
            .any(|m| m.original && m.token.as_deref() == Some(token.as_str()))
    });
    if answered {
        return refuse(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
            None,
            "interaction answered twice".into(),
        );
    }
    let message = RecordedMessage {
        id: standin.next_id(),
        // The callback does not name the application.
        webhook_id: String::new(),
        token: Some(token),
        original: true,
        edits: 0,
        updated_ms: now_ms(),
        payload: serde_json::from_value(payload.clone()).unwrap_or_default(),
        payload_json: payload,
        attachments,
    };
    standin.with(|s| s.messages.push(message));
    standin.changed();
    StatusCode::NO_CONTENT.into_response()
}

pub(super) fn find(s: &Recorded, webhook: &str, token: &str, message: &str) -> Option<usize> {
    s.messages.iter().position(|m| {
        (m.webhook_id == webhook || m.webhook_id.is_empty())
            && m.token.as_deref() == Some(token)
            && if message == "@original" {
                m.original
            } else {
                m.id == message
            }
    })
}

pub(super) async fn edit_message(
    State(standin): State<DiscordStandin>,
    Path((webhook, token, message)): Path<(String, String, String)>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_snowflake(&webhook) {
        return unknown(10015, "Webhook");
    }
    let _one_edit_at_a_time = standin.inner.edits.lock().await;
    let existing =
        standin.with(|s| find(s, &webhook, &token, &message).map(|i| s.messages[i].clone()));
    // The original response exists from the moment the interaction was
    // answered (deferred); the stand-in does not see that, so the first
    // edit creates it.
    let mut current = match (existing, message.as_str()) {
        (Some(m), _) => m,
        (None, "@original") => RecordedMessage {
            id: standin.next_id(),
            webhook_id: webhook.clone(),
            token: Some(token.clone()),
            original: true,
            edits: 0,
            updated_ms: 0,
            payload: MessagePayload::default(),
            payload_json: json!({}),
            attachments: Vec::new(),
        },
        (None, _) => return unknown(10008, "Message"),
    };
    let (patch, attachments) =
        match check_message(&standin, &headers, &body, &current.attachments, true) {
            Ok(x) => x,
            Err(r) => return r,
        };
    // PATCH replaces the fields it names and keeps the others.
    if let (Some(merged), Some(patch)) = (current.payload_json.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            merged.insert(k.clone(), v.clone());
        }
    }
    current.payload = serde_json::from_value(current.payload_json.clone()).unwrap_or_default();
    current.attachments = attachments;
    current.edits += 1;
    current.updated_ms = now_ms();
    let body = message_json(&current, &base_url(&headers, &original, &uri));
    standin.with(|s| match find(s, &webhook, &token, &message) {
        Some(i) => s.messages[i] = current,
        None => s.messages.push(current),
    });
    standin.changed();
    ok_json(body)
}

pub(super) async fn get_message(
    State(standin): State<DiscordStandin>,
    Path((webhook, token, message)): Path<(String, String, String)>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match standin.with(|s| find(s, &webhook, &token, &message).map(|i| s.messages[i].clone())) {
        Some(m) => ok_json(message_json(&m, &base_url(&headers, &original, &uri))),
        None => unknown(10008, "Message"),
    }
}

pub(super) async fn delete_message(
    State(standin): State<DiscordStandin>,
    Path((webhook, token, message)): Path<(String, String, String)>,
) -> Response {
    let removed =
        standin.with(|s| find(s, &webhook, &token, &message).map(|i| s.messages.remove(i)));
    standin.changed();
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => unknown(10008, "Message"),
    }
}

pub(super) async fn get_attachment(
    State(standin): State<DiscordStandin>,
    Path((message, attachment, filename)): Path<(String, String, String)>,
) -> Response {
    let found = standin.with(|s| {
        s.messages
            .iter()
            .filter(|m| m.id == message)
            .flat_map(|m| m.attachments.iter())
            .find(|a| a.id == attachment && a.filename == filename)
            .cloned()
    });
    match found {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response(),
        None => unknown(10008, "Attachment"),
    }
}
