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
use std::time::Instant;

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

use crate::answer::{Answer, Answered, Handled, Rejection, answer, for_command, for_interaction};
use crate::outcome::Outcome;
use crate::replay::Seen;
use crate::signing::SignatureHeaders;
use crate::state::AppState;
use crate::{buttons, commands, forms};

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
    // The job queued here carries the request's trace to the worker.
    let handling = std::pin::pin!(handle(&state, &headers, body, deadline));
    let reply =
        mandala_queue::with_request_trace(mandala_service::trace::trace_id(&headers), handling)
            .await;
    log(&reply, &headers, started);
    match reply {
        Ok(Handled {
            answer: Answer::Json(r),
            ..
        }) => axum::Json(r).into_response(),
        Ok(Handled {
            answer: Answer::Accepted,
            ..
        }) => StatusCode::ACCEPTED.into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// The one log line of a request.
fn log(reply: &Answered, headers: &HeaderMap, started: Instant) {
    let trace = mandala_service::trace::trace_id(headers)
        .map(|t| mandala_service::logging::cloud_trace(&t));
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (status, outcome, reason, id, kind, command, estimate) = match reply {
        Ok(h) => (
            match h.answer {
                Answer::Json(_) => StatusCode::OK,
                Answer::Accepted => StatusCode::ACCEPTED,
            },
            h.outcome,
            None,
            &h.id,
            h.kind,
            &h.command,
            h.estimate,
        ),
        Err(r) => (
            r.status,
            r.outcome,
            Some(r.reason.as_str()),
            &r.id,
            r.kind,
            &r.command,
            None,
        ),
    };
    tracing::info!(
        interaction_id = id.as_deref(),
        interaction_type = kind.map(InteractionType::name),
        command = command.as_deref(),
        outcome = outcome.as_str(),
        status = status.as_u16(),
        reason,
        latency_us,
        wait_ms = estimate.map(|e| e.wait.as_millis() as u64),
        others_ahead = estimate.map(|e| e.others_ahead),
        yours_ahead = estimate.map(|e| e.yours_ahead),
        "logging.googleapis.com/trace" = trace.as_deref(),
        "interaction"
    );
}

/// Checks 1–5 of the module's order, then the interaction's handler.
async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    deadline: tokio::time::Instant,
) -> Answered {
    let unauthorized = |e: crate::signing::SignatureError| {
        tracing::debug!(error = %e, "rejected signature");
        Rejection::unauthorized(Outcome::BadSignature)
    };
    let sig = SignatureHeaders::from_headers(headers).map_err(unauthorized)?;
    let body = body.map_err(|rejection| body_rejection(state, &rejection))?;
    sig.verify(&state.key, &body).map_err(unauthorized)?;
    sig.check_age(
        OffsetDateTime::now_utc().unix_timestamp(),
        state.max_age_secs,
    )
    .map_err(|e| {
        tracing::debug!(note = %e, "rejected");
        Rejection::unauthorized(Outcome::Stale)
    })?;
    let interaction: Interaction = serde_json::from_slice(&body)
        .map_err(|e| Rejection::bad_json(format!("body is not an interaction: {e}")))?;
    let id = Some(interaction.id.to_string()).filter(|i| !i.is_empty());
    let kind = interaction.kind;
    for_interaction(dispatch(state, &interaction, deadline).await, id, kind)
}

/// Why the body could not be read.
fn body_rejection(state: &AppState, rejection: &BytesRejection) -> Rejection {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} bytes", state.max_body_bytes),
            Outcome::TooLarge,
        );
    }
    // The server cut a body that came too slowly (the client got 408).
    if mandala_service::server::body_timed_out(rejection) {
        return Rejection::new(
            StatusCode::REQUEST_TIMEOUT,
            rejection.body_text(),
            Outcome::BodyTimeout,
        );
    }
    Rejection::new(
        StatusCode::BAD_REQUEST,
        rejection.body_text(),
        Outcome::UnreadableBody,
    )
}

/// Checks 6 and 7, then one handler per interaction type.
async fn dispatch(
    state: &AppState,
    interaction: &Interaction,
    deadline: tokio::time::Instant,
) -> Answered {
    if let Some(expected) = &state.application_id
        && interaction.application_id.as_deref() != Some(expected.as_str())
    {
        return Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            "interaction is for another application",
            Outcome::WrongApplication,
        ));
    }
    if interaction.kind == InteractionType::Ping {
        return answer(InteractionResponse::pong(), Outcome::Pong);
    }
    let id = interaction
        .id
        .parse::<u64>()
        .map_err(|_| Rejection::bad_json("interaction id is not a snowflake"))?;
    // A second copy of a signed interaction inside the window is a replay:
    // Discord does not redeliver interactions. It gets 401, the answer for
    // a request we refuse to act on, so a replayer learns nothing and no job
    // is queued twice. PINGs have no effect and are exempt above.
    match state.seen.check(id, Instant::now()) {
        Seen::First => {}
        Seen::Again => {
            return Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "interaction already received",
                Outcome::Replay,
            ));
        }
        // Remembering no more ids, a replay could not be told apart: take
        // nothing on, as when the job queue is full.
        Seen::Full => {
            let s = mandala_model::i18n::strings(interaction.locale.as_deref());
            return answer(
                InteractionResponse::ephemeral(s.try_again),
                Outcome::ReplayMemoryFull,
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
        InteractionType::Ping | InteractionType::Unknown(_) => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported interaction type {}",
                u8::from(interaction.kind)
            ),
            Outcome::UnsupportedType,
        )),
    }
}

fn autocomplete(interaction: &Interaction) -> Answered {
    let data = interaction
        .command_data()
        .map_err(|e| Rejection::bad_data("command", &e))?;
    let choices = match data.focused() {
        Some(o) if o.name == "palette" => {
            palette_choices(o.value.as_ref().and_then(|v| v.as_str()).unwrap_or(""))
        }
        _ => Vec::new(),
    };
    for_command(
        answer(
            InteractionResponse::autocomplete(choices),
            Outcome::Autocomplete,
        ),
        data.name,
    )
}
