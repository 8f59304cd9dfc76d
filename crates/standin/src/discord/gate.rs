//! The gate every request passes: the User-Agent Discord requires, the
//! failures queued for the next requests, and the record of what was sent
//! and answered.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::errors::{Refusal, injected, refuse};
use super::multipart;
use super::state::{DiscordStandin, Failure, RecordedRequest};

/// `DiscordBot ($url, $versionNumber)`.
pub(super) fn valid_user_agent(ua: &str) -> bool {
    ua.strip_prefix("DiscordBot (")
        .and_then(|rest| rest.split_once(')'))
        .and_then(|(inside, _)| inside.split_once(", "))
        .is_some_and(|(url, version)| !url.trim().is_empty() && !version.trim().is_empty())
}

/// Discord's request limit is 25 MiB; files are checked one by one below it.
pub(super) const BODY_LIMIT: usize = 26 * 1024 * 1024;

/// A request's `Content-Type`, whole and as its bare media type.
pub(super) fn content_type(headers: &HeaderMap) -> (&str, &str) {
    let whole = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (whole, whole.split(';').next().unwrap_or_default().trim())
}

/// The JSON a request body carries: the body itself, or a multipart
/// form's `payload_json` part.
pub(super) fn sent_json(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
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
pub(super) async fn gate(
    State(standin): State<DiscordStandin>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let (json, response, withheld) = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Err(e) => {
            let refused = refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                40005,
                "Request entity too large",
                None,
                format!("unreadable body: {e}"),
            );
            (None, refused, None)
        }
        Ok(body) => {
            let json = sent_json(&parts.headers, &body);
            let (response, withheld) = answer(&standin, parts, body, next).await;
            (json, response, withheld)
        }
    };
    record(&standin, method, path, &response, withheld.as_ref(), json);
    if withheld.is_some() {
        // The sender waits until it gives up; the connection is never answered.
        std::future::pending::<()>().await;
    }
    response
}

/// The answer to a readable request: refused for its User-Agent, a
/// queued failure, or the route's own. A failure whose answer the sender
/// must never see (a hang, or a lost answer) comes back beside it.
async fn answer(
    standin: &DiscordStandin,
    parts: Parts,
    body: Bytes,
    next: Next,
) -> (Response, Option<Failure>) {
    let ua = user_agent(&parts.headers);
    let is_api = !parts.uri.path().starts_with("/attachments/");
    // Failures are queued for the webhook routes only; one is used up
    // even when the request is refused for its User-Agent.
    let failure = if parts.uri.path().starts_with("/webhooks/") {
        standin.with(|s| s.failures.pop_front())
    } else {
        None
    };
    if is_api && !valid_user_agent(&ua) {
        let refused = refuse(
            StatusCode::FORBIDDEN,
            40333,
            "internal network error",
            None,
            format!("User-Agent {ua:?} is not `DiscordBot ($url, $versionNumber)`"),
        );
        return (refused, None);
    }
    match failure {
        Some(Failure::Hang) => (
            StatusCode::GATEWAY_TIMEOUT.into_response(),
            Some(Failure::Hang),
        ),
        Some(Failure::AnswerLost) => (route(parts, body, next).await, Some(Failure::AnswerLost)),
        Some(failure) => (injected(&failure), None),
        None => (route(parts, body, next).await, None),
    }
}

/// The request's User-Agent, empty when missing or not text.
fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Hands the request, its body read already, on to its route.
async fn route(parts: Parts, body: Bytes, next: Next) -> Response {
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    next.run(request).await
}

/// Records what was sent and answered: a hang as status 0, a lost
/// answer with the status the sender never saw.
fn record(
    standin: &DiscordStandin,
    method: String,
    path: String,
    response: &Response,
    withheld: Option<&Failure>,
    json: Option<Value>,
) {
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
}
