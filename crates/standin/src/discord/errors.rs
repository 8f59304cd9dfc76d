//! Discord's error answers, and the ones the stand-in injects.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::checks::FormErrors;
use super::state::Failure;

/// Why a response refused the request, for [`RecordedRequest::error`].
#[derive(Clone)]
pub(super) struct Refusal(pub(super) String);

/// A Discord error response.
pub(super) fn refuse(
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

pub(super) fn invalid_form(errors: &FormErrors) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        50035,
        "Invalid Form Body",
        Some(errors.to_json()),
        errors.summary(),
    )
}

pub(super) fn unknown(code: u64, what: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        code,
        &format!("Unknown {what}"),
        None,
        format!("unknown {what}"),
    )
}

pub(super) fn injected(failure: &Failure) -> Response {
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

pub(super) async fn not_found(method: Method, uri: Uri) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        0,
        "404: Not Found",
        None,
        format!("no route {method} {}", uri.path()),
    )
}

pub(super) fn form_error(path: &str, code: &'static str, message: String) -> Response {
    let mut e = FormErrors::default();
    e.add(path, code, message);
    invalid_form(&e)
}

pub(super) fn ok_json(body: Value) -> Response {
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
