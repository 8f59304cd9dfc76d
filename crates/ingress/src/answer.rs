//! What a handler gives back: [`Handled`], an answer for Discord with what
//! the log line says about it, or a [`Rejection`], a request refused with
//! an HTTP status. Handlers return `Result<Handled, Rejection>` and use `?`;
//! a rejection is a response by itself (axum's error-handling example).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mandala_model::discord::{InteractionResponse, InteractionType};

use crate::outcome::Outcome;

/// A handler's result.
pub type Answered = Result<Handled, Rejection>;

/// An interaction answered (200, or 202 after an inline answer).
#[derive(Debug)]
pub struct Handled {
    pub answer: Answer,
    pub outcome: Outcome,
    /// The interaction, once parsed.
    pub id: Option<String>,
    pub kind: Option<InteractionType>,
    pub command: Option<String>,
    /// What admission estimated, for the log line.
    pub estimate: Option<mandala_ledger::Estimate>,
}

// One per request, built once and moved once: boxing the larger variant
// would only add an allocation to every answer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Answer {
    Json(InteractionResponse),
    /// The interaction was answered through Discord's callback endpoint
    /// (with the image): 202 and no body, as Discord asks.
    Accepted,
}

/// A request refused: the status and a short reason for the client, and
/// what the log line says.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub reason: String,
    pub outcome: Outcome,
    pub id: Option<String>,
    pub kind: Option<InteractionType>,
    pub command: Option<String>,
}

/// Answers with `response`.
pub fn answer(response: InteractionResponse, outcome: Outcome) -> Answered {
    Ok(Handled {
        answer: Answer::Json(response),
        outcome,
        id: None,
        kind: None,
        command: None,
        estimate: None,
    })
}

impl Rejection {
    pub fn new(status: StatusCode, reason: impl Into<String>, outcome: Outcome) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
            outcome,
            id: None,
            kind: None,
            command: None,
        }
    }

    /// 400 for signed JSON whose `data` does not fit the interaction's type.
    pub fn bad_data(expected: &str, e: &serde_json::Error) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("data is not a {expected}: {e}"),
            Outcome::BadJson,
        )
    }

    /// 400: the signed interaction is not what Discord sends.
    pub fn bad_json(reason: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, reason, Outcome::BadJson)
    }

    /// 401 with the one reason a client learns, whatever the signature's
    /// fault was.
    pub fn unauthorized(outcome: Outcome) -> Rejection {
        Rejection::new(
            StatusCode::UNAUTHORIZED,
            "invalid request signature",
            outcome,
        )
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status, self.reason).into_response()
    }
}

/// Names the command (or button, or form) a reply was for, answered or
/// refused.
pub fn for_command(mut reply: Answered, command: String) -> Answered {
    match &mut reply {
        Ok(h) => h.command = Some(command),
        Err(r) => r.command = Some(command),
    }
    reply
}

/// Names the interaction a reply was for, answered or refused.
pub fn for_interaction(mut reply: Answered, id: Option<String>, kind: InteractionType) -> Answered {
    match &mut reply {
        Ok(h) => (h.id, h.kind) = (id, Some(kind)),
        Err(r) => (r.id, r.kind) = (id, Some(kind)),
    }
    reply
}
