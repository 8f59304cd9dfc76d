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
//! Then one handler per interaction type builds the answer. Every request
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
use mandala_model::discord::command::{COMMAND_NAME, palette_choices, spec_from_options};
use mandala_model::discord::token;
use mandala_model::discord::{Interaction, InteractionResponse, InteractionType};
use mandala_model::job::JobKind;
use mandala_model::{
    ButtonAction, ButtonState, InteractionReply, Job, RenderSpec, Reply, Requester, ResolvedSpec,
};
use time::OffsetDateTime;

use crate::admission::{self, Decision};
use crate::publish::{self, JobPublisher, PublishError};
use crate::replay::{Seen, SeenIds};
use crate::signing::{PublicKey, SignatureHeaders};

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub key: PublicKey,
    pub application_id: Option<String>,
    pub max_age_secs: u64,
    pub max_body_bytes: usize,
    pub publish_timeout: Duration,
    pub seen: SeenIds,
    pub publisher: JobPublisher,
    /// The queue ledger: per-user caps and wait estimates.
    pub ledger: mandala_ledger::Ledger,
}

/// The user-facing text when a job could not be queued.
pub const TRY_AGAIN: &str = "Could not queue your mandala, please try again.";

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
struct Handled {
    answer: Answer,
    outcome: &'static str,
    /// The interaction, once parsed.
    id: Option<String>,
    kind: Option<InteractionType>,
    command: Option<String>,
    /// What admission estimated, for the log line.
    estimate: Option<mandala_ledger::Estimate>,
}

enum Answer {
    Json(InteractionResponse),
    Reject(StatusCode, String),
}

impl Handled {
    fn reject(status: StatusCode, reason: impl Into<String>, outcome: &'static str) -> Self {
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
    fn bad_data(expected: &str, e: &serde_json::Error) -> Self {
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
    let handled = handle(&state, &headers, body).await;
    let status = match &handled.answer {
        Answer::Json(_) => StatusCode::OK,
        Answer::Reject(s, _) => *s,
    };
    let trace = mandala_service::trace::trace_id(&headers)
        .map(|t| mandala_service::logging::cloud_trace(&t));
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let reason = match &handled.answer {
        Answer::Reject(_, r) => Some(r.as_str()),
        Answer::Json(_) => None,
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
        Answer::Reject(status, reason) => (status, reason).into_response(),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
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
    let mut handled = dispatch(state, &interaction).await;
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

async fn dispatch(state: &AppState, interaction: &Interaction) -> Handled {
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
            return answer(
                InteractionResponse::ephemeral(TRY_AGAIN),
                "replay_memory_full",
            );
        }
    }
    match interaction.kind {
        InteractionType::ApplicationCommand => command(state, interaction, id).await,
        InteractionType::MessageComponent => component(state, interaction, id).await,
        InteractionType::Autocomplete => autocomplete(interaction),
        InteractionType::ModalSubmit => answer(
            InteractionResponse::ephemeral("This form is not supported."),
            "unsupported_modal",
        ),
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

fn answer(response: InteractionResponse, outcome: &'static str) -> Handled {
    Handled {
        answer: Answer::Json(response),
        outcome,
        id: None,
        kind: None,
        command: None,
        estimate: None,
    }
}

fn requester(interaction: &Interaction) -> Requester {
    let user = interaction.invoker();
    Requester {
        user_id: user.map(|u| u.id.clone()).filter(|i| !i.is_empty()),
        username: user.and_then(|u| u.username.clone().or_else(|| u.global_name.clone())),
        guild_id: interaction.guild_id.clone(),
        channel_id: interaction.channel_id.clone(),
    }
}

/// The reply target: this interaction's token and application.
fn reply_to(state: &AppState, interaction: &Interaction) -> Result<Reply, Box<Handled>> {
    let token = interaction
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Box::new(Handled::reject(
                StatusCode::BAD_REQUEST,
                "interaction has no token",
                "bad_json",
            ))
        })?;
    // The token becomes a path segment of the worker's reply URL.
    if !token::is_plausible(&token) {
        return Err(Box::new(Handled::reject(
            StatusCode::BAD_REQUEST,
            format!("interaction token is not a Discord token ({})", token::RULE),
            "bad_token",
        )));
    }
    let application_id = interaction
        .application_id
        .clone()
        .or_else(|| state.application_id.clone())
        .ok_or_else(|| {
            Box::new(Handled::reject(
                StatusCode::BAD_REQUEST,
                "interaction has no application_id",
                "bad_json",
            ))
        })?;
    Ok(Reply::Interaction(InteractionReply {
        application_id,
        interaction_id: interaction.id.clone(),
        token,
    }))
}

/// Publishes within the budget; the visible acknowledgement on success,
/// the ephemeral try-again otherwise.
async fn queue(
    state: &AppState,
    job: Job,
    spec_hash: String,
    interaction_id: &str,
    ack: String,
) -> Handled {
    let attributes = publish::attributes(&job, interaction_id, &spec_hash);
    match state
        .publisher
        .publish_within(state.publish_timeout, &job, attributes)
        .await
    {
        Ok(message_id) => {
            tracing::debug!(%message_id, %spec_hash, kind = job.kind.as_str(), "job published");
            answer(InteractionResponse::message(ack), "queued")
        }
        Err(PublishError::TooSlow(budget)) => {
            tracing::error!(
                interaction_id,
                budget_ms = budget.as_millis() as u64,
                "publishing the job took too long; cancelling it"
            );
            // The message may still reach Pub/Sub: the ledger entry is what
            // makes the worker render it, so removing it cancels the job,
            // as the user is told.
            admission::cancel(state, &job).await;
            answer(InteractionResponse::ephemeral(TRY_AGAIN), "publish_timeout")
        }
        Err(e) => {
            tracing::error!(error = %e, interaction_id, "could not publish the job");
            admission::cancel(state, &job).await;
            answer(InteractionResponse::ephemeral(TRY_AGAIN), "publish_failed")
        }
    }
}

async fn command(state: &AppState, interaction: &Interaction, _id: u64) -> Handled {
    let data = match interaction.command_data() {
        Ok(d) => d,
        Err(e) => return Handled::bad_data("command", &e),
    };
    let name = Some(data.name.clone());
    let mut handled = command_inner(state, interaction, &data).await;
    handled.command = name;
    handled
}

async fn command_inner(
    state: &AppState,
    interaction: &Interaction,
    data: &mandala_model::discord::ApplicationCommandData,
) -> Handled {
    if data.name != COMMAND_NAME {
        return answer(
            InteractionResponse::ephemeral("unknown command"),
            "unknown_command",
        );
    }
    let spec = match spec_from_options(&data.leaf_options()) {
        Ok(s) => s,
        Err(e) => return answer(InteractionResponse::ephemeral(e.to_string()), "bad_option"),
    };
    // The interaction id picks the seed when the user did not: the seed is
    // shown in the acknowledgement, and a redelivered job draws the same image.
    let spec = spec.with_seed_from(interaction.id.as_bytes());
    request_render(
        state,
        interaction,
        spec,
        JobKind::Command,
        "bad_option",
        |r| format!("🌀 Rendering mandala · {}", r.summary()),
    )
    .await
}

/// Resolves the spec, builds the job replying to this interaction, passes
/// it through admission and queues it; `ack` phrases the visible
/// acknowledgement from the resolved spec (admission adds when to expect it).
async fn request_render(
    state: &AppState,
    interaction: &Interaction,
    spec: RenderSpec,
    kind: JobKind,
    invalid_outcome: &'static str,
    ack: impl FnOnce(&ResolvedSpec) -> String,
) -> Handled {
    let resolved = match spec.resolve() {
        Ok(r) => r,
        Err(e) => {
            return answer(
                InteractionResponse::ephemeral(format!("Cannot draw that: {e}")),
                invalid_outcome,
            );
        }
    };
    let reply = match reply_to(state, interaction) {
        Ok(r) => r,
        Err(h) => return *h,
    };
    let job = Job {
        requested_at: Some(OffsetDateTime::now_utc()),
        requested_by: Some(requester(interaction)),
        ..Job::new(spec, reply, kind)
    };
    match admission::admit(state, job, &resolved, ack(&resolved)).await {
        Decision::Queue {
            job,
            text,
            estimate,
        } => {
            let mut handled = queue(
                state,
                *job,
                resolved.hash().to_string(),
                &interaction.id,
                text,
            )
            .await;
            handled.estimate = estimate;
            handled
        }
        Decision::Refuse { response, outcome } => answer(response, outcome),
    }
}

async fn component(state: &AppState, interaction: &Interaction, id: u64) -> Handled {
    let data = match interaction.component_data() {
        Ok(d) => d,
        Err(e) => return Handled::bad_data("component", &e),
    };
    let button = match ButtonState::parse(&data.custom_id) {
        Ok(b) => b,
        Err(e) => {
            return answer(
                InteractionResponse::ephemeral(format!(
                    "This button does not work any more ({e}). Run /mandala again."
                )),
                "bad_button",
            );
        }
    };
    let mut handled = button_inner(state, interaction, id, &button).await;
    handled.command = Some(format!(
        "button:{}",
        button.action.label().to_ascii_lowercase()
    ));
    handled
}

async fn button_inner(
    state: &AppState,
    interaction: &Interaction,
    id: u64,
    button: &ButtonState,
) -> Handled {
    if !button.is_useful() {
        return answer(
            InteractionResponse::ephemeral("This image is already at the largest size."),
            "useless_button",
        );
    }
    // The click's id is the entropy: a replayed click asks for the same image.
    let spec = button.next_spec(id);
    let kind = match button.action {
        ButtonAction::Reroll => JobKind::Reroll,
        ButtonAction::Variation => JobKind::Variation,
        ButtonAction::Upscale => JobKind::Upscale,
    };
    request_render(state, interaction, spec, kind, "bad_button", |r| {
        let what = match button.action {
            ButtonAction::Reroll => "🔄 Re-rolling ·".to_owned(),
            ButtonAction::Variation => "✨ Varying ·".to_owned(),
            ButtonAction::Upscale => format!("🔍 Upscaling to {} px ·", r.size),
        };
        format!("{what} {}", r.summary())
    })
    .await
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
