//! Button clicks. Each button carries its whole state in its `custom_id`
//! ([`ButtonState`]), so any instance can act on any click, forever:
//!
//! | button            | under   | makes                                   |
//! |-------------------|---------|-----------------------------------------|
//! | `U n`             | a grid  | cell n alone, at the grid's size         |
//! | `V n`             | a grid  | a grid of four variations of cell n      |
//! | 🔄                | a grid  | a grid of four new candidates            |
//! | Vary (Subtle)     | one     | colours and fine detail moved            |
//! | Vary (Strong)     | one     | a new structure in the same look         |
//! | Upscale           | one     | twice the edge (up to the maximum)       |
//! | Re-roll           | one     | a new seed, the same options             |
//! | Remix             | either  | the Remix form, pre-filled               |
//!
//! The click's interaction id is the entropy for new seeds and variants:
//! a replayed click (refused anyway) would ask for the same image.

use mandala_model::discord::{Interaction, InteractionResponse};
use mandala_model::i18n::{Strings, fill};
use mandala_model::job::JobKind;
use mandala_model::{ButtonAction, ButtonState, remix};

use tokio::time::Instant;

use crate::answer::{Answered, Rejection, answer, for_command};
use crate::outcome::Outcome;
use crate::request::{self, RenderRequest, strings};
use crate::state::AppState;

pub(crate) async fn click(
    state: &AppState,
    interaction: &Interaction,
    id: u64,
    deadline: Instant,
) -> Answered {
    let s = strings(interaction);
    let data = interaction
        .component_data()
        .map_err(|e| Rejection::bad_data("component", &e))?;
    let button = match ButtonState::parse(&data.custom_id) {
        Ok(b) => b,
        Err(e) => {
            return answer(
                InteractionResponse::ephemeral(fill(s.bad_button, &[("error", &e.to_string())])),
                Outcome::BadButton,
            );
        }
    };
    let reply = act(state, interaction, id, &button, s, deadline).await;
    for_command(reply, format!("button:{}", button.action.name()))
}

async fn act(
    state: &AppState,
    interaction: &Interaction,
    id: u64,
    button: &ButtonState,
    s: &Strings,
    deadline: Instant,
) -> Answered {
    if !button.is_useful() {
        return answer(
            InteractionResponse::ephemeral(s.largest_size),
            Outcome::UselessButton,
        );
    }
    let Some(next) = button.next(id) else {
        // Remix: the form, not a job.
        return match remix::modal(&button.spec, s) {
            Ok(modal) => answer(modal, Outcome::RemixForm),
            Err(e) => answer(
                InteractionResponse::ephemeral(fill(s.bad_button, &[("error", &e.to_string())])),
                Outcome::BadButton,
            ),
        };
    };
    let size = next
        .spec
        .size
        .unwrap_or(mandala_model::bounds::DEFAULT_SIZE);
    let (kind, ack) = match button.action {
        ButtonAction::Reroll => (JobKind::Reroll, s.ack_reroll.to_owned()),
        ButtonAction::Variation => (JobKind::Variation, s.ack_vary.to_owned()),
        ButtonAction::Subtle => (JobKind::Subtle, s.ack_subtle.to_owned()),
        ButtonAction::Strong => (JobKind::Strong, s.ack_strong.to_owned()),
        ButtonAction::Upscale => (
            JobKind::Upscale,
            fill(s.ack_upscale, &[("px", &size.to_string())]),
        ),
        ButtonAction::NewGrid => (JobKind::Reroll, s.ack_new_grid.to_owned()),
        ButtonAction::Pick(_, n) => (JobKind::Pick, fill(s.ack_pick, &[("n", &n.to_string())])),
        ButtonAction::VaryCell(_, n) => (
            JobKind::Variation,
            fill(s.ack_vary_cell, &[("n", &n.to_string())]),
        ),
        ButtonAction::Remix => (JobKind::Remix, s.ack_remix.to_owned()),
    };
    request::render(
        state,
        interaction,
        RenderRequest {
            spec: next.spec,
            grid: next.grid,
            kind,
            ack,
            invalid_outcome: Outcome::BadButton,
        },
        deadline,
    )
    .await
}
