//! From "draw this" to a queued job: the path every command, button and
//! form takes once it knows what to draw.
//!
//! 1. resolve the drawing (one mandala, or a grid of four), refusing an
//!    invalid spec privately with the reason;
//! 2. build the job replying to this interaction, in the user's language;
//! 3. pass admission (the per-user cap and the wait estimate);
//! 4. when a worker shares this process and the job is cheap, answer with
//!    the image itself ([`crate::inline`]); otherwise
//! 5. publish within what is left of the answer budget, answering with the
//!    visible acknowledgement or, if publishing failed, the private
//!    try-again (and cancelling the ledger entry, after the answer).
//!
//! One deadline, set when the request arrived (`ANSWER_BUDGET_MS`), bounds
//! all of it: admission gets at most `LEDGER_TIMEOUT_MS` of it and always
//! leaves [`PUBLISH_SHARE`] for publishing; publishing gets the rest, at
//! most `PUBLISH_TIMEOUT_MS`. The job carries the moment past which it was
//! given up (`publish_by_ms`), so a message the queue took after the user
//! was told to try again is dropped by the worker, not rendered.

use std::time::Duration;

use axum::http::StatusCode;
use mandala_model::discord::{Interaction, InteractionResponse, token};
use mandala_model::grid::{self, GridKind};
use mandala_model::i18n::{Strings, fill};
use mandala_model::job::JobKind;
use mandala_model::{
    Drawing, Format, InteractionReply, Job, RenderSpec, Reply, Requester, Snowflake,
};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::admission::{self, Decision};
use crate::answer::{Answer, Answered, Rejection, answer};
use crate::outcome::Outcome;
use crate::state::AppState;
use mandala_queue::PublishError;

/// What to draw, and how to say so.
pub struct RenderRequest {
    /// The user's options with the seed chosen.
    pub spec: RenderSpec,
    /// A grid of this kind, or one image.
    pub grid: Option<GridKind>,
    pub kind: JobKind,
    /// The acknowledgement's first words, e.g. `🌀 Rendering mandala`; the
    /// drawing's summary follows.
    pub ack: String,
    /// The outcome logged when the spec is refused.
    pub invalid_outcome: Outcome,
}

/// The part of the answer budget admission always leaves for publishing.
pub const PUBLISH_SHARE: u32 = 4;

/// Time kept back from an inline answer's budget for the fallback
/// (queueing locally and answering with the acknowledgement).
const INLINE_FALLBACK: Duration = Duration::from_millis(200);

/// The strings for this interaction's user.
pub fn strings(interaction: &Interaction) -> &'static Strings {
    mandala_model::i18n::strings(interaction.locale.as_deref())
}

/// A grid when one is asked for and can be drawn: at least
/// [`grid::MIN_SIZE`] and a raster format; otherwise one image.
pub fn grid_if_possible(spec: &RenderSpec, grid: Option<GridKind>) -> Option<GridKind> {
    let size = spec.size.unwrap_or(mandala_model::bounds::DEFAULT_SIZE);
    grid.filter(|_| size >= grid::MIN_SIZE && spec.format != Some(Format::Svg))
}

/// Resolves, admits and queues; the answer for Discord.
pub(crate) async fn render(
    state: &AppState,
    interaction: &Interaction,
    request: RenderRequest,
    deadline: Instant,
) -> Answered {
    let s = strings(interaction);
    let grid = grid_if_possible(&request.spec, request.grid);
    let drawing = match Drawing::resolve(&request.spec, grid) {
        Ok(d) => d,
        Err(e) => {
            return answer(
                InteractionResponse::ephemeral(fill(s.cannot_draw, &[("error", &e.to_string())])),
                request.invalid_outcome,
            );
        }
    };
    let job = Job {
        requested_at: Some(OffsetDateTime::now_utc()),
        requested_by: Some(requester(interaction)),
        grid,
        locale: interaction.locale.clone().filter(|l| !l.is_empty()),
        ..Job::new(request.spec, reply_to(state, interaction)?, request.kind)
    };
    let label = format!("{} · {}", request.ack, drawing.summary());
    let admit_by = deadline - state.answer_budget / PUBLISH_SHARE;
    match admission::admit(state, job, &drawing, label, s, admit_by).await {
        Decision::Queue {
            job,
            text,
            estimate,
        } => {
            let mut handled = queue(state, *job, &interaction.id, text, s, deadline).await;
            if let Ok(h) = &mut handled {
                h.estimate = estimate;
            }
            handled
        }
        Decision::Refuse { response, outcome } => answer(response, outcome),
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
fn reply_to(state: &AppState, interaction: &Interaction) -> Result<Reply, Rejection> {
    let token = interaction
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Rejection::bad_json("interaction has no token"))?;
    // The token becomes a path segment of the worker's reply URL.
    if !token::is_plausible(&token) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("interaction token is not a Discord token ({})", token::RULE),
            Outcome::BadToken,
        ));
    }
    let application_id = interaction
        .application_id
        .clone()
        .or_else(|| state.application_id.as_deref().map(Snowflake::from))
        .ok_or_else(|| Rejection::bad_json("interaction has no application_id"))?;
    Ok(Reply::Interaction(InteractionReply {
        application_id,
        interaction_id: interaction.id.clone(),
        token,
    }))
}

/// Publishes within the budget; the visible acknowledgement on success,
/// the private try-again otherwise.
async fn queue(
    state: &AppState,
    mut job: Job,
    interaction_id: &str,
    ack: String,
    s: &Strings,
    deadline: Instant,
) -> Answered {
    let inline_budget = crate::inline::BUDGET.min(
        deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(INLINE_FALLBACK),
    );
    if let Some(inline) = &state.inline
        && !inline_budget.is_zero()
        && inline.answer(&job, interaction_id, inline_budget).await
    {
        // Done: the image was the answer. The job leaves the ledger.
        admission::cancel(state, &job);
        let mut handled = answer(InteractionResponse::message(ack), Outcome::AnsweredInline);
        if let Ok(h) = &mut handled {
            h.answer = Answer::Accepted;
        }
        return handled;
    }
    let budget = state
        .publish_timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    job.publish_by_ms = Some(crate::now_ms() + budget.as_millis() as u64);
    let attributes = mandala_queue::attributes(&job, interaction_id);
    match state
        .publisher
        .publish_within(budget, &job, attributes)
        .await
    {
        Ok(message_id) => {
            tracing::debug!(%message_id, kind = job.kind.as_str(), "job published");
            answer(InteractionResponse::message(ack), Outcome::Queued)
        }
        Err(e) => {
            let outcome = match e {
                PublishError::TooSlow(budget) => {
                    tracing::error!(
                        interaction_id,
                        budget_ms = budget.as_millis() as u64,
                        "publishing the job took too long; cancelling it"
                    );
                    Outcome::PublishTimeout
                }
                e => {
                    tracing::error!(error = %e, interaction_id, "could not publish the job");
                    Outcome::PublishFailed
                }
            };
            // The message may still reach the queue: its `publish_by_ms`
            // has passed by then, and the worker drops it; the ledger entry
            // goes too, so it does not count against the user.
            admission::cancel(state, &job);
            answer(InteractionResponse::ephemeral(s.try_again), outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_need_room_and_pixels() {
        let spec = |size, format| RenderSpec {
            size,
            format,
            ..Default::default()
        };
        let c = Some(GridKind::Candidates);
        assert_eq!(grid_if_possible(&spec(None, None), c), c);
        assert_eq!(grid_if_possible(&spec(Some(256), None), c), c);
        assert_eq!(grid_if_possible(&spec(Some(255), None), c), None);
        assert_eq!(grid_if_possible(&spec(None, Some(Format::Svg)), c), None);
        assert_eq!(grid_if_possible(&spec(None, None), None), None);
    }
}
