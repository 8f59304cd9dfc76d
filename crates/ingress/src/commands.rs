//! Application commands: `/mandala` and the two context menus.
//!
//! - `/mandala`: the options become a spec; the interaction id picks the
//!   seed when the user did not; a grid of four unless `grid:false` (or the
//!   configuration says otherwise).
//! - "Remix mandala" (on a message): the message's buttons carry the spec
//!   it was drawn from, so the Remix form opens on it. Messages without a
//!   mandala button are not ours to remix, and are told so privately.
//! - "Mandala for this user" (on a user): seeded from their id, coloured
//!   from their profile colour.

use mandala_model::discord::command::{
    COMMAND_NAME, REMIX_MENU, USER_MENU, grid_option, spec_from_options,
};
use mandala_model::discord::{ApplicationCommandData, Interaction, InteractionResponse};
use mandala_model::i18n::fill;
use mandala_model::job::JobKind;
use mandala_model::{ButtonState, GridKind, portrait, remix};

use tokio::time::Instant;

use crate::answer::{Answered, Rejection, answer, for_command};
use crate::outcome::Outcome;
use crate::request::{self, RenderRequest, strings};
use crate::state::AppState;

pub(crate) async fn command(
    state: &AppState,
    interaction: &Interaction,
    deadline: Instant,
) -> Answered {
    let data = interaction
        .command_data()
        .map_err(|e| Rejection::bad_data("command", &e))?;
    let reply = match data.name.as_str() {
        COMMAND_NAME => slash(state, interaction, &data, deadline).await,
        REMIX_MENU => remix_message(interaction, &data),
        USER_MENU => for_user(state, interaction, &data, deadline).await,
        _ => answer(
            InteractionResponse::ephemeral(strings(interaction).unknown_command),
            Outcome::UnknownCommand,
        ),
    };
    for_command(reply, data.name)
}

fn grid(on: bool) -> Option<GridKind> {
    on.then_some(GridKind::Candidates)
}

async fn slash(
    state: &AppState,
    interaction: &Interaction,
    data: &ApplicationCommandData,
    deadline: Instant,
) -> Answered {
    let s = strings(interaction);
    let options = data.leaf_options();
    let spec = match spec_from_options(&options) {
        Ok(s) => s,
        Err(e) => {
            return answer(
                InteractionResponse::ephemeral(e.to_string()),
                Outcome::BadOption,
            );
        }
    };
    // The interaction id picks the seed when the user did not: the seed is
    // shown in the acknowledgement, and a redelivered job draws the same image.
    let spec = spec.with_seed_from(interaction.id.as_bytes());
    // What will actually come: a grid needs room and pixels, so an SVG or a
    // small size gets one image whatever was asked, and the answer says so.
    let grid = request::grid_if_possible(
        &spec,
        grid(grid_option(&options).unwrap_or(state.grid.mandala)),
    );
    request::render(
        state,
        interaction,
        RenderRequest {
            spec,
            grid,
            kind: JobKind::Command,
            ack: if grid.is_some() {
                s.ack_grid
            } else {
                s.ack_render
            }
            .to_owned(),
            invalid_outcome: Outcome::BadOption,
        },
        deadline,
    )
    .await
}

/// Opens the Remix form on a message of this bot.
fn remix_message(interaction: &Interaction, data: &ApplicationCommandData) -> Answered {
    let s = strings(interaction);
    // Every button under a mandala carries the spec it was drawn from.
    let spec = data.target_message().and_then(|m| {
        let rows = m["components"].as_array()?;
        rows.iter()
            .flat_map(|r| r["components"].as_array().into_iter().flatten())
            .filter_map(|c| c["custom_id"].as_str())
            .find_map(|id| ButtonState::parse(id).ok())
            .map(|b| b.spec)
    });
    let Some(spec) = spec else {
        return answer(
            InteractionResponse::ephemeral(s.not_my_mandala),
            Outcome::NotAMandala,
        );
    };
    match remix::modal(&spec, s) {
        Ok(modal) => answer(modal, Outcome::RemixForm),
        Err(e) => answer(
            InteractionResponse::ephemeral(fill(s.bad_button, &[("error", &e.to_string())])),
            Outcome::BadButton,
        ),
    }
}

async fn for_user(
    state: &AppState,
    interaction: &Interaction,
    data: &ApplicationCommandData,
    deadline: Instant,
) -> Answered {
    let s = strings(interaction);
    let (spec, name) = data
        .target_user()
        .and_then(portrait::for_user)
        .ok_or_else(|| Rejection::bad_json("user command without its resolved target user"))?;
    let ack = fill(s.ack_for_user, &[("name", &escape_markdown(&name))]);
    request::render(
        state,
        interaction,
        RenderRequest {
            spec,
            grid: grid(state.grid.user),
            kind: JobKind::ForUser,
            ack,
            invalid_outcome: Outcome::BadTarget,
        },
        deadline,
    )
    .await
}

/// A display name as plain text in a message: markdown and mentions inert.
fn escape_markdown(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().take(64) {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '~'
                | '`'
                | '|'
                | '>'
                | '#'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '@'
                | ':'
                | '-'
        ) {
            out.push('\\');
        }
        if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_as_typed_not_interpreted() {
        assert_eq!(
            escape_markdown("**bold** @everyone"),
            "\\*\\*bold\\*\\* \\@everyone"
        );
        assert_eq!(escape_markdown("a\nb"), "ab");
    }
}
