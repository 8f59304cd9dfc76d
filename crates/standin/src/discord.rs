//! A stand-in for Discord's REST API, for local runs and tests.
//!
//! It serves the routes the bot uses, relative to the API base (mount it
//! with `Router::nest("/api/v10", standin.router())`), and checks requests
//! the way Discord would: method and path, `User-Agent: DiscordBot (url,
//! version)`, the multipart shape (one `payload_json`, `files[n]` parts with
//! file names, every `attachments[].id` matched by a file or a kept
//! attachment, every `attachment://` embed naming an uploaded file), the
//! documented limits, and that uploaded images decode. It answers with
//! Discord's error bodies and records every request (with the JSON it
//! carried, for contract tests) and the current state of every message, so
//! tests can assert on what a user would see. It can be told to fail the
//! next requests with a 429, a 500, a 404 or a 413, or to withhold their
//! answer (with or without acting on them: a timeout whose outcome the
//! sender cannot know).
//!
//! Layout: this file holds the state and the routes; [`multipart`] reads
//! forms, [`checks`] validates message bodies and files, [`commands`]
//! validates slash command definitions.

// Helpers return the finished error `Response` as their `Err`; boxing it
// would only add noise to a test stand-in.
#![allow(clippy::result_large_err)]

mod checks;
mod commands;
mod multipart;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use mandala_model::clock::now_ms;
use mandala_model::discord::{MessagePayload, snowflake};
use serde_json::{Value, json};
use tokio::sync::Notify;

use checks::FormErrors;

/// How the next webhook request should fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 429 with `retry_after` in the body and `Retry-After` as a header.
    RateLimited { retry_after_secs: f64 },
    /// 500.
    ServerError,
    /// 404 `{"code":10015,"message":"Unknown Webhook"}`.
    UnknownWebhook,
    /// 413 `{"code":40005,"message":"Request entity too large"}`: a file over
    /// the channel's upload limit.
    TooLarge,
    /// No answer, ever, and the request has no effect: Discord unreachable
    /// or stalled before it read the request. Recorded with status 0.
    Hang,
    /// The request takes effect (the message is edited or posted), but its
    /// answer never comes: the connection stalls after Discord acted, so
    /// the sender cannot know it succeeded. Recorded with the real status.
    AnswerLost,
}

/// An attachment as stored on a message.
#[derive(Debug, Clone)]
pub struct RecordedAttachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub description: Option<String>,
    pub bytes: Bytes,
    /// Decoded size of an image; 0 for other files.
    pub width: u32,
    pub height: u32,
}

/// The current state of one message.
#[derive(Debug, Clone)]
pub struct RecordedMessage {
    pub id: String,
    /// The application id (interaction messages) or the webhook id.
    pub webhook_id: String,
    /// The interaction or webhook token the message was sent with.
    pub token: Option<String>,
    /// Whether this is an interaction's original response (`@original`).
    pub original: bool,
    /// Successful edits (PATCH) so far.
    pub edits: u32,
    /// When it was last written (created or edited), Unix ms.
    pub updated_ms: u64,
    pub payload: MessagePayload,
    /// The merged JSON body, as Discord would store it.
    pub payload_json: Value,
    pub attachments: Vec<RecordedAttachment>,
}

/// One request as the stand-in answered it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path relative to the API base.
    pub path: String,
    pub status: u16,
    /// Why it was refused, if it was.
    pub error: Option<String>,
    /// The JSON the request carried, exactly as sent: the body of a JSON
    /// request, or the `payload_json` part of a multipart one. `None` when
    /// there was none (GET, DELETE) or it did not parse. Contract tests
    /// validate it against Discord's API description.
    pub json: Option<Value>,
}

#[derive(Default)]
struct Recorded {
    messages: Vec<RecordedMessage>,
    requests: Vec<RecordedRequest>,
    failures: VecDeque<Failure>,
    /// (application, guild) → the last overwritten command set.
    commands: BTreeMap<(String, Option<String>), Vec<Value>>,
    sequence: u64,
}

struct Inner {
    state: Mutex<Recorded>,
    changed: Notify,
    /// Edits are read-modify-write of one message: one at a time, so
    /// concurrent edits of the same message are never lost.
    edits: tokio::sync::Mutex<()>,
}

/// The stand-in; clones share state.
#[derive(Clone)]
pub struct DiscordStandin {
    inner: Arc<Inner>,
}

impl Default for DiscordStandin {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a response refused the request, for [`RecordedRequest::error`].
#[derive(Clone)]
struct Refusal(String);

/// A Discord error response.
fn refuse(
    status: StatusCode,
    code: u64,
    message: &str,
    errors: Option<Value>,
    detail: String,
) -> Response {
    let mut body = json!({"code": code, "message": message});
    if let Some(e) = errors {
        body["errors"] = e;
    }
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(Refusal(detail));
    response
}

fn invalid_form(errors: &FormErrors) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        50035,
        "Invalid Form Body",
        Some(errors.to_json()),
        errors.summary(),
    )
}

fn unknown(code: u64, what: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        code,
        &format!("Unknown {what}"),
        None,
        format!("unknown {what}"),
    )
}

/// `DiscordBot ($url, $versionNumber)`.
fn valid_user_agent(ua: &str) -> bool {
    ua.strip_prefix("DiscordBot (")
        .and_then(|rest| rest.split_once(')'))
        .and_then(|(inside, _)| inside.split_once(", "))
        .is_some_and(|(url, version)| !url.trim().is_empty() && !version.trim().is_empty())
}

impl DiscordStandin {
    pub fn new() -> Self {
        DiscordStandin {
            inner: Arc::new(Inner {
                state: Mutex::new(Recorded::default()),
                changed: Notify::new(),
                edits: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    fn next_id(&self) -> String {
        let seq = self.with(|s| {
            s.sequence += 1;
            s.sequence
        });
        snowflake::from_timestamp_ms(now_ms(), seq)
    }

    /// Serves the stand-in alone on a free loopback port, mounted at
    /// `/api/v10` like Discord's API, until the runtime stops; returns the
    /// API base URL (`http://127.0.0.1:PORT/api/v10`).
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/api/v10", listener.local_addr()?);
        let app = Router::new().nest("/api/v10", self.router());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Discord stand-in stopped");
            }
        });
        Ok(base)
    }

    /// Routes relative to the API base.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/webhooks/{webhook}/{token}", post(execute_webhook))
            .route(
                "/interactions/{interaction}/{token}/callback",
                post(interaction_callback),
            )
            .route(
                "/webhooks/{webhook}/{token}/messages/{message}",
                get(get_message).patch(edit_message).delete(delete_message),
            )
            .route(
                "/applications/{app}/commands",
                put(put_commands).get(get_commands),
            )
            .route(
                "/applications/{app}/guilds/{guild}/commands",
                put(put_guild_commands).get(get_guild_commands),
            )
            .route(
                "/attachments/{message}/{attachment}/{filename}",
                get(get_attachment),
            )
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(axum::middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }

    /// The current state of every message, oldest first.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.with(|s| s.messages.clone())
    }

    /// The interaction response for `token`, or else the newest message sent with it.
    pub fn message_for_token(&self, token: &str) -> Option<RecordedMessage> {
        self.with(|s| {
            let with_token = || {
                s.messages
                    .iter()
                    .filter(|m| m.token.as_deref() == Some(token))
            };
            with_token()
                .find(|m| m.original)
                .or_else(|| with_token().next_back())
                .cloned()
        })
    }

    /// Every request, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Makes the next `n` webhook requests fail this way (after any queued failures).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.with(|s| s.failures.extend(std::iter::repeat_n(failure, n)));
    }

    /// The registered commands: global ones, then guild ones (with `guild_id`).
    pub fn commands(&self) -> Vec<Value> {
        self.with(|s| s.commands.values().flatten().cloned().collect())
    }

    /// Waits until at least `n` messages exist (or the timeout passes) and returns them.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<RecordedMessage> {
        self.wait_until(timeout, |s| s.messages.len() >= n).await;
        self.messages()
    }

    /// Waits until at least `n` messages carry a file (or the timeout passes)
    /// and returns those. Waiting notices also create messages (an edit of a
    /// not yet seen `@original`), so tests waiting for images count these.
    pub async fn wait_for_images(&self, n: usize, timeout: Duration) -> Vec<RecordedMessage> {
        self.wait_until(timeout, |s| {
            s.messages
                .iter()
                .filter(|m| !m.attachments.is_empty())
                .count()
                >= n
        })
        .await;
        self.messages()
            .into_iter()
            .filter(|m| !m.attachments.is_empty())
            .collect()
    }

    /// Waits until `n` requests have been answered (or the timeout passes) and returns them.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_until(timeout, |s| s.requests.len() >= n).await;
        self.requests()
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Recorded) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.with(|s| done(s)) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }
}

fn injected(failure: &Failure) -> Response {
    match *failure {
        Failure::RateLimited { retry_after_secs } => {
            let body = json!({"message": "You are being rate limited.", "retry_after": retry_after_secs, "global": false});
            let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            r.extensions_mut().insert(Refusal(format!(
                "injected 429 (retry_after {retry_after_secs})"
            )));
            let h = r.headers_mut();
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.ceil().max(0.0) as u64),
            );
            h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            if let Ok(v) = HeaderValue::from_str(&format!("{retry_after_secs:.3}")) {
                h.insert("x-ratelimit-reset-after", v);
            }
            r
        }
        Failure::ServerError => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            0,
            "500: Internal Server Error",
            None,
            "injected 500".into(),
        ),
        Failure::UnknownWebhook => unknown(10015, "Webhook"),
        Failure::TooLarge => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            40005,
            "Request entity too large",
            None,
            "injected 413".into(),
        ),
        // Handled in `gate`: these withhold the answer.
        Failure::Hang | Failure::AnswerLost => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Discord's request limit is 25 MiB; files are checked one by one below it.
const BODY_LIMIT: usize = 26 * 1024 * 1024;

/// A request's `Content-Type`, whole and as its bare media type.
fn content_type(headers: &HeaderMap) -> (&str, &str) {
    let whole = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (whole, whole.split(';').next().unwrap_or_default().trim())
}

/// The JSON a request body carries: the body itself, or a multipart
/// form's `payload_json` part.
fn sent_json(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let (content_type, mime) = content_type(headers);
    if mime.eq_ignore_ascii_case("application/json") {
        return serde_json::from_slice(body).ok();
    }
    let boundary = multipart::boundary(content_type).ok()?;
    let parts = multipart::parse(body, &boundary).ok()?;
    let part = parts.iter().find(|p| p.name == "payload_json")?;
    serde_json::from_slice(&part.body).ok()
}

/// Checks the User-Agent, injects queued failures, records the outcome
/// and the JSON the request carried.
async fn gate(State(standin): State<DiscordStandin>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let mut withheld: Option<Failure> = None;
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_api = !path.starts_with("/attachments/");
    let (json, response) = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Err(e) => (
            None,
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                40005,
                "Request entity too large",
                None,
                format!("unreadable body: {e}"),
            ),
        ),
        Ok(body) => {
            let json = sent_json(&parts.headers, &body);
            let failure = if path.starts_with("/webhooks/") {
                standin.with(|s| s.failures.pop_front())
            } else {
                None
            };
            let response = if is_api && !valid_user_agent(&ua) {
                refuse(
                    StatusCode::FORBIDDEN,
                    40333,
                    "internal network error",
                    None,
                    format!("User-Agent {ua:?} is not `DiscordBot ($url, $versionNumber)`"),
                )
            } else if let Some(failure @ (Failure::Hang | Failure::AnswerLost)) = &failure {
                withheld = Some(failure.clone());
                if *failure == Failure::Hang {
                    StatusCode::GATEWAY_TIMEOUT.into_response()
                } else {
                    let request = Request::from_parts(parts, axum::body::Body::from(body));
                    next.run(request).await
                }
            } else if let Some(failure) = failure {
                injected(&failure)
            } else {
                let request = Request::from_parts(parts, axum::body::Body::from(body));
                next.run(request).await
            };
            (json, response)
        }
    };
    let mut error = response.extensions().get::<Refusal>().map(|r| r.0.clone());
    let mut status = response.status().as_u16();
    match withheld {
        Some(Failure::Hang) => {
            status = 0;
            error = Some("injected hang: not applied, never answered".to_owned());
        }
        Some(Failure::AnswerLost) => {
            error = Some(format!(
                "injected lost answer: applied ({status}), never answered"
            ));
        }
        _ => {}
    }
    if let Some(e) = &error {
        tracing::debug!(%method, status, "discord stand-in refused a request: {e}");
    }
    standin.with(|s| {
        s.requests.push(RecordedRequest {
            method,
            path,
            status,
            error,
            json,
        });
    });
    standin.changed();
    if withheld.is_some() {
        // The sender waits until it gives up; the connection is never answered.
        std::future::pending::<()>().await;
    }
    response
}

async fn not_found(method: Method, uri: Uri) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        0,
        "404: Not Found",
        None,
        format!("no route {method} {}", uri.path()),
    )
}

/// A file from a `files[n]` part.
struct Upload {
    index: u64,
    filename: String,
    content_type: String,
    bytes: Bytes,
    width: u32,
    height: u32,
}

fn form_error(path: &str, code: &'static str, message: String) -> Response {
    let mut e = FormErrors::default();
    e.add(path, code, message);
    invalid_form(&e)
}

/// Reads a JSON or multipart message body into `payload_json` and files.
fn read_body(headers: &HeaderMap, body: &Bytes) -> Result<(Value, Vec<Upload>), Response> {
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
            payload = Some(serde_json::from_slice::<Value>(&part.body).map_err(|e| {
                form_error(
                    "payload_json",
                    "JSON_INVALID",
                    format!("payload_json is not JSON: {e}"),
                )
            })?);
            continue;
        }
        let index = part
            .name
            .strip_prefix("files[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
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
        if files.iter().any(|f| f.index == index) {
            return Err(form_error(
                &part.name,
                "DUPLICATE",
                format!("{} sent twice", part.name),
            ));
        }
        let (width, height) = checks::file(&filename, part.content_type.as_deref(), &part.body)
            .map_err(|(status, code, message)| {
                if status == 413 {
                    refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        code,
                        "Request entity too large",
                        None,
                        message,
                    )
                } else {
                    form_error(&part.name, "FILE_INVALID", message)
                }
            })?;
        files.push(Upload {
            index,
            filename,
            content_type: part
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: part.body,
            width,
            height,
        });
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

/// The attachments a message has after this request (Discord's v10 rules:
/// `attachments` lists everything kept, by uploaded index or existing id;
/// uploads it does not list are appended).
fn resolve_attachments(
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

/// Absolute URL prefix of the stand-in, from the Host header and the mount point.
fn base_url(headers: &HeaderMap, original: &Uri, nested: &Uri) -> String {
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

fn attachment_url(base: &str, message: &str, a: &RecordedAttachment) -> String {
    format!("{base}/attachments/{message}/{}/{}", a.id, a.filename)
}

/// The message as Discord returns it.
fn message_json(m: &RecordedMessage, base: &str) -> Value {
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

fn snowflake_time(id: &str) -> String {
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

fn ok_json(body: Value) -> Response {
    let mut r = (StatusCode::OK, axum::Json(body)).into_response();
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4"));
    h.insert("x-ratelimit-reset-after", HeaderValue::from_static("1.000"));
    h.insert(
        "x-ratelimit-bucket",
        HeaderValue::from_static("standin-webhook"),
    );
    r
}

fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Validates a payload and its files, returning the new attachment list.
fn check_message(
    standin: &DiscordStandin,
    headers: &HeaderMap,
    body: &Bytes,
    existing: &[RecordedAttachment],
    editing: bool,
) -> Result<(Value, Vec<RecordedAttachment>), Response> {
    let (payload, files) = read_body(headers, body)?;
    check_payload(standin, payload, files, existing, editing)
}

fn check_payload(
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

fn is_empty_field(payload: &Value, key: &str) -> bool {
    payload.get(key).is_none_or(|v| {
        v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty)
    })
}

async fn execute_webhook(
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
async fn interaction_callback(
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

fn find(s: &Recorded, webhook: &str, token: &str, message: &str) -> Option<usize> {
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

async fn edit_message(
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

async fn get_message(
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

async fn delete_message(
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

async fn get_attachment(
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

fn bot_token(headers: &HeaderMap) -> Result<(), Response> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bot "))
        .is_some_and(|t| !t.trim().is_empty());
    if ok {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            0,
            "401: Unauthorized",
            None,
            "missing `Authorization: Bot <token>`".into(),
        ))
    }
}

fn overwrite_commands(
    standin: &DiscordStandin,
    app: String,
    guild: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Err(r) = bot_token(headers) {
        return r;
    }
    if !is_snowflake(&app) || guild.as_deref().is_some_and(|g| !is_snowflake(g)) {
        return unknown(10002, "Application");
    }
    let definitions: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return form_error("_root", "JSON_INVALID", format!("body is not JSON: {e}")),
    };
    let errors = commands::check(&definitions);
    if !errors.is_empty() {
        return invalid_form(&errors);
    }
    let stored: Vec<Value> = definitions
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let mut d = d.clone();
            d["id"] = json!(standin.next_id());
            d["application_id"] = json!(app);
            d["version"] = json!(standin.next_id());
            if let Some(g) = &guild {
                d["guild_id"] = json!(g);
            }
            if d.get("type").is_none() {
                d["type"] = json!(1);
            }
            d
        })
        .collect();
    standin.with(|s| s.commands.insert((app, guild), stored.clone()));
    standin.changed();
    ok_json(Value::Array(stored))
}

async fn put_commands(
    State(standin): State<DiscordStandin>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    overwrite_commands(&standin, app, None, &headers, &body)
}

async fn put_guild_commands(
    State(standin): State<DiscordStandin>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    overwrite_commands(&standin, app, Some(guild), &headers, &body)
}

fn list_commands(
    standin: &DiscordStandin,
    app: String,
    guild: Option<String>,
    headers: &HeaderMap,
) -> Response {
    if let Err(r) = bot_token(headers) {
        return r;
    }
    ok_json(Value::Array(standin.with(|s| {
        s.commands.get(&(app, guild)).cloned().unwrap_or_default()
    })))
}

async fn get_commands(
    State(standin): State<DiscordStandin>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    list_commands(&standin, app, None, &headers)
}

async fn get_guild_commands(
    State(standin): State<DiscordStandin>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    list_commands(&standin, app, Some(guild), &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents() {
        assert!(valid_user_agent(
            "DiscordBot (https://github.com/x/y, 0.1.0)"
        ));
        assert!(!valid_user_agent("reqwest/0.13"));
        assert!(!valid_user_agent("DiscordBot (https://x)"));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let id = snowflake::from_timestamp_ms(1_764_000_000_123, 0);
        assert_eq!(snowflake_time(&id), "2025-11-24T16:00:00.123000+00:00");
    }
}
