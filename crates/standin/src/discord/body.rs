//! Reading a message request: a JSON body, or a multipart form with its
//! `payload_json` and `files[n]`, and the attachments it keeps or adds.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::checks;
use super::checks::FormErrors;
use super::errors::{form_error, refuse};
use super::gate::content_type;
use super::multipart;
use super::state::{DiscordStandin, RecordedAttachment};

/// A file from a `files[n]` part.
pub(super) struct Upload {
    index: u64,
    filename: String,
    content_type: String,
    bytes: Bytes,
    width: u32,
    height: u32,
}

/// Reads a JSON or multipart message body into `payload_json` and files.
pub(super) fn read_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Value, Vec<Upload>), Response> {
    let (content_type, mime) = content_type(headers);
    if mime.eq_ignore_ascii_case("application/json") {
        let payload = serde_json::from_slice(body)
            .map_err(|e| form_error("_root", "JSON_INVALID", format!("body is not JSON: {e}")))?;
        return Ok((payload, Vec::new()));
    }
    let boundary = multipart::boundary(content_type)
        .map_err(|e| form_error("_root", "CONTENT_TYPE_INVALID", e))?;
    let parts = multipart::parse(body, &boundary)
        .map_err(|e| form_error("_root", "MULTIPART_INVALID", e))?;
    let mut payload = None;
    let mut files: Vec<Upload> = Vec::new();
    for part in parts {
        if part.name == "payload_json" {
            if payload.is_some() {
                return Err(form_error(
                    "payload_json",
                    "DUPLICATE",
                    "payload_json sent twice".into(),
                ));
            }
            payload = Some(payload_json(&part.body)?);
            continue;
        }
        let upload = upload(part, &files)?;
        files.push(upload);
    }
    let payload = payload.ok_or_else(|| {
        form_error(
            "payload_json",
            "BASE_TYPE_REQUIRED",
            "multipart body without payload_json".into(),
        )
    })?;
    Ok((payload, files))
}

/// The `payload_json` part, parsed.
fn payload_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body).map_err(|e| {
        form_error(
            "payload_json",
            "JSON_INVALID",
            format!("payload_json is not JSON: {e}"),
        )
    })
}

/// A `files[n]` part: named, not sent before (`uploaded` holds the parts
/// read so far), and a file Discord would take.
fn upload(part: multipart::Part, uploaded: &[Upload]) -> Result<Upload, Response> {
    let index = file_index(&part.name).ok_or_else(|| {
        form_error(
            &part.name,
            "UNKNOWN_FIELD",
            format!("unexpected form field {:?}", part.name),
        )
    })?;
    let filename = part.filename.filter(|f| !f.is_empty()).ok_or_else(|| {
        form_error(
            &part.name,
            "FILENAME_REQUIRED",
            format!("{} has no filename", part.name),
        )
    })?;
    if uploaded.iter().any(|f| f.index == index) {
        return Err(form_error(
            &part.name,
            "DUPLICATE",
            format!("{} sent twice", part.name),
        ));
    }
    let (width, height) = checks::file(&filename, part.content_type.as_deref(), &part.body)
        .map_err(|(status, code, message)| file_refused(&part.name, status, code, message))?;
    Ok(Upload {
        index,
        filename,
        content_type: part
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        bytes: part.body,
        width,
        height,
    })
}

/// `n` of a part named `files[n]`.
fn file_index(name: &str) -> Option<u64> {
    name.strip_prefix("files[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse::<u64>().ok())
}

/// Discord's answer to a file it refuses: 413 for one over the size
/// limit, a form error on the part for anything else.
fn file_refused(part_name: &str, status: u16, code: u64, message: String) -> Response {
    if status == 413 {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            code,
            "Request entity too large",
            None,
            message,
        )
    } else {
        form_error(part_name, "FILE_INVALID", message)
    }
}

/// The attachments a message has after this request (Discord's v10 rules:
/// `attachments` lists everything kept, by uploaded index or existing id;
/// uploads it does not list are appended).
pub(super) fn resolve_attachments(
    standin: &DiscordStandin,
    existing: &[RecordedAttachment],
    payload: &Value,
    files: Vec<Upload>,
    editing: bool,
) -> Result<Vec<RecordedAttachment>, FormErrors> {
    let mut errors = FormErrors::default();
    let mut files: Vec<Option<Upload>> = files.into_iter().map(Some).collect();
    let mut result = Vec::new();
    let from_upload =
        |u: Upload, filename: Option<&str>, description: Option<&str>| RecordedAttachment {
            id: standin.next_id(),
            filename: filename.map_or_else(|| u.filename.clone(), str::to_owned),
            content_type: u.content_type,
            description: description.map(str::to_owned),
            bytes: u.bytes,
            width: u.width,
            height: u.height,
        };
    match payload.get("attachments").and_then(Value::as_array) {
        Some(list) => {
            for (i, entry) in list.iter().enumerate() {
                let Some(id) = checks::attachment_id(entry) else {
                    continue;
                };
                let filename = entry.get("filename").and_then(Value::as_str);
                let description = entry.get("description").and_then(Value::as_str);
                let upload = files
                    .iter_mut()
                    .find(|f| f.as_ref().is_some_and(|f| f.index.to_string() == id))
                    .and_then(Option::take);
                if let Some(u) = upload {
                    result.push(from_upload(u, filename, description));
                } else if let Some(kept) = existing.iter().find(|a| a.id == id) {
                    let mut kept = kept.clone();
                    if let Some(d) = description {
                        kept.description = Some(d.to_owned());
                    }
                    result.push(kept);
                } else {
                    errors.add(
                        format!("attachments.{i}.id"),
                        "ATTACHMENT_NOT_FOUND",
                        format!(
                            "attachment {id} is neither an uploaded files[{id}] nor an existing attachment"
                        ),
                    );
                }
            }
        }
        None if editing => result.extend(existing.iter().cloned()),
        None => {}
    }
    for u in files.into_iter().flatten() {
        result.push(from_upload(u, None, None));
    }
    if result.len() > 10 {
        errors.add(
            "attachments",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        );
    }
    if errors.is_empty() {
        Ok(result)
    } else {
        Err(errors)
    }
}
