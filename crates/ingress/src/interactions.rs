//! `POST /interactions`: verify, answer, publish.
//!
//! The order of checks is the contract with Discord:
//! 1. both signature headers present and well-formed, else 401;
//! 2. the body within `MAX_BODY_BYTES`, else 413;
//! 3. the Ed25519 signature over timestamp ‖ raw body, else 401 — nothing
//!    is parsed before this;
//! 4. the timestamp within `SIGNATURE_MAX_AGE_SECS`, else 401;
//! 5. the JSON, else 400 with a short reason;
//! 6. the application id (when configured), else 401;
//! 7. the interaction id not seen before, else 401 (see [`handle`]); when
//!    the replay memory is full, the ephemeral try-again.
//!
//! Then one handler per interaction type builds the answer: [`commands`]
//! (the slash command and the context menus), [`buttons`] and [`forms`]
//! (the Remix modal); autocomplete is answered here. Every request
//! ends in exactly one log line with the interaction id, type, command,
//! outcome, status, latency and trace id. Tokens are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mandala_model::discord::command::palette_choices;
use mandala_model::discord::{Interaction, InteractionResponse, InteractionType};
use time::OffsetDateTime;

use crate::publish::JobPublisher;
use crate::replay::{Seen, SeenIds};
use crate::signing::{PublicKey, SignatureHeaders};
use crate::{buttons, commands, forms};

/// What every request handler shares.
pub struct AppState {
    pub key: PublicKey,
    pub application_id: Option<String>,
    pub max_age_secs: u64,
    pub max_body_bytes: usize,
    /// Every interaction is answered within this, from its arrival.
    pub answer_budget: Duration,
    /// Publishing one job takes at most this (and what is left of the
    /// answer budget).
    pub publish_timeout: Duration,
    pub seen: SeenIds,
    pub publisher: JobPublisher,
    /// The queue ledger: per-user caps and wait estimates.
    pub ledger: mandala_ledger::Ledger,
    /// Which commands make a grid by default.
    pub grid: crate::config::GridDefaults,
    /// A worker in this process that answers cheap jobs with their image.
    pub inline: Option<std::sync::Arc<dyn crate::inline::InlineAnswer>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("publisher", &self.publisher)
            .field("inline", &self.inline.is_some())
            .finish_non_exhaustive()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/interactions", post(interactions))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// How a request ended, for the response and the log line.
pub(crate) struct Handled {
    pub(crate) answer: Answer,
    pub(crate) outcome: &'static str,
    /// The interaction, once parsed.
    pub(crate) id: Option<String>,
    pub(crate) kind: Option<InteractionType>,
    pub(crate) command: Option<String>,
    /// What admission estimated, for the log line.
    pub(crate) estimate: Option<mandala_ledger::Estimate>,
}

pub(crate) enum Answer {
    Json(InteractionResponse),
    /// The interaction was answered through Discord's callback endpoint
    /// (with the image): 202 and no body, as Discord asks.
    Accepted,
    Reject(StatusCode, String),
}

impl Handled {
    pub(crate) fn reject(
        status: StatusCode,
        reason: impl Into<String>,
        outcome: &'static str,
    ) -> Self {
        Handled {
            answer: Answer::Reject(status, reason.into()),
            outcome,
            id: None,
            kind: None,
            command: None,
            estimate: None,
        }
    }

    /// 400 for signed JSON whose `data` does not fit the interaction's type.
    pub(crate) fn bad_data(expected: &str, e: &serde_json::Error) -> Self {
        Handled::reject(
            StatusCode::BAD_REQUEST,
            format!("data is not a {expected}: {e}"),
            "bad_json",
        )
    }
}

async fn interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    // The one deadline of this request: everything it waits on (the queue
    // ledger, the publisher) gets what is left of it, and nothing else
    // (cancels, late writes) is waited for before the answer.
    let deadline = tokio::time::Instant::from_std(started) + state.answer_budget;
    let handled = handle(&state, &headers, body, deadline).await;
    let status = match &handled.answer {
        Answer::Json(_) => StatusCode::OK,
        Answer::Accepted => StatusCode::ACCEPTED,
        Answer::Reject(s, _) => *s,
    };
    let trace = mandala_service::trace::trace_id(&headers)
        .map(|t| mandala_service::logging::cloud_trace(&t));
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let reason = match &handled.answer {
        Answer::Reject(_, r) => Some(r.as_str()),
        Answer::Json(_) | Answer::Accepted => None,
    };
    tracing::info!(
        interaction_id = handled.id.as_deref(),
        interaction_type = handled.kind.map(InteractionType::name),
        command = handled.command.as_deref(),
        outcome = handled.outcome,
        status = status.as_u16(),
        reason,
        latency_us,
        wait_ms = handled.estimate.map(|e| e.wait.as_millis() as u64),
        others_ahead = handled.estimate.map(|e| e.others_ahead),
        yours_ahead = handled.estimate.map(|e| e.yours_ahead),
        "logging.googleapis.com/trace" = trace.as_deref(),
        "interaction"
    );
    match handled.answer {
        Answer::Json(r) => axum::Json(r).into_response(),
        Answer::Accepted => StatusCode::ACCEPTED.into_response(),
        Answer::Reject(status, reason) => (status, reason).into_response(),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: tokio::time::Instant,
) -> Handled {
    let unauthorized = |e: crate::signing::SignatureError| {
        tracing::debug!(error = %e, "rejected signature");
        Handled::reject(
            StatusCode::UNAUTHORIZED,
            "invalid request signature",
            "bad_signature",
        )
    };
    let sig = match SignatureHeaders::from_headers(headers) {
        Ok(s) => s,
        Err(e) => return unauthorized(e),
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Handled::reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {} bytes", state.max_body_bytes),
                "too_large",
            );
        }
        // The server cut a body that came too slowly (the client got 408).
        Err(rejection) if mandala_service::server::body_timed_out(&rejection) => {
            return Handled::reject(
                StatusCode::REQUEST_TIMEOUT,
                rejection.body_text(),
                "body_timeout",
            );
        }
        Err(rejection) => {
            return Handled::reject(
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
                "unreadable_body",
            );
        }
    };
    if let Err(e) = sig.verify(&state.key, &body) {
        return unauthorized(e);
    }
    if let Err(e) = sig.check_age(
        OffsetDateTime::now_utc().unix_timestamp(),
        state.max_age_secs,
    ) {
        return Handled::reject(
            StatusCode::UNAUTHORIZED,
            "invalid request signature",
            "stale",
        )
        .with_note(&e.to_string());
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return Handled::reject(
                StatusCode::BAD_REQUEST,
                format!("body is not an interaction: {e}"),
                "bad_json",
            );
        }
    };
    let mut handled = dispatch(state, &interaction, deadline).await;
    handled.id = Some(interaction.id.clone()).filter(|i| !i.is_empty());
    handled.kind = Some(interaction.kind);
    handled
}

impl Handled {
    fn with_note(self, note: &str) -> Self {
        tracing::debug!(note, "rejected");
        self
    }
}

async fn dispatch(
    state: &AppState,
    interaction: &Interaction,
    deadline: tokio::time::Instant,
) -> Handled {
    if let Some(expected) = &state.application_id
        && interaction.application_id.as_deref() != Some(expected.as_str())
    {
        return Handled::reject(
            StatusCode::UNAUTHORIZED,
            "interaction is for another application",
            "wrong_application",
        );
    }
    if interaction.kind == InteractionType::Ping {
        return answer(InteractionResponse::pong(), "pong");
    }
    let Ok(id) = interaction.id.parse::<u64>() else {
        return Handled::reject(
            StatusCode::BAD_REQUEST,
            "interaction id is not a snowflake",
            "bad_json",
        );
    };
    // A second copy of a signed interaction inside the window is a replay:
    // Discord does not redeliver interactions. It gets 401, the answer for
    // a request we refuse to act on, so a replayer learns nothing and no job
    // is queued twice. PINGs have no effect and are exempt above.
    match state.seen.check(id, Instant::now()) {
        Seen::First => {}
        Seen::Again => {
            return Handled::reject(
                StatusCode::UNAUTHORIZED,
                "interaction already received",
                "replay",
            );
        }
        // Remembering no more ids, a replay could not be told apart: take
        // nothing on, as when the job queue is full.
        Seen::Full => {
            let s = mandala_model::i18n::strings(interaction.locale.as_deref());
            return answer(
                InteractionResponse::ephemeral(s.try_again),
                "replay_memory_full",
            );
        }
    }
    match interaction.kind {
        InteractionType::ApplicationCommand => {
            commands::command(state, interaction, deadline).await
        }
        InteractionType::MessageComponent => buttons::click(state, interaction, id, deadline).await,
        InteractionType::Autocomplete => autocomplete(interaction),
        InteractionType::ModalSubmit => forms::submit(state, interaction, deadline).await,
        InteractionType::Ping | InteractionType::Unknown(_) => Handled::reject(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported interaction type {}",
                u8::from(interaction.kind)
            ),
            "unsupported_type",
        ),
    }
}

pub(crate) fn answer(response: InteractionResponse, outcome: &'static str) -> Handled {
    Handled {
        answer: Answer::Json(response),
        outcome,
        id: None,
        kind: None,
        command: None,
        estimate: None,
    }
}

fn autocomplete(interaction: &Interaction) -> Handled {
    let data = match interaction.command_data() {
        Ok(d) => d,
        Err(e) => return Handled::bad_data("command", &e),
    };
    let choices = match data.focused() {
        Some(o) if o.name == "palette" => {
            palette_choices(o.value.as_ref().and_then(|v| v.as_str()).unwrap_or(""))
        }
        _ => Vec::new(),
    };
    let mut handled = answer(InteractionResponse::autocomplete(choices), "autocomplete");
    handled.command = Some(data.name);
    handled
}
