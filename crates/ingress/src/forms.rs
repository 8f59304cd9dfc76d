//! Submitted forms: the Remix modal.
//!
//! The modal's `custom_id` is the Remix button's state — the image the form
//! was opened on — and its inputs are untrusted text. A form that does not
//! parse, or asks for something the renderer refuses, gets a private answer
//! naming the field; a good one queues a new job like the slash command.

use mandala_model::discord::{Interaction, InteractionResponse};
use mandala_model::i18n::fill;
use mandala_model::job::JobKind;
use mandala_model::{ButtonAction, ButtonState, GridKind, remix};

use tokio::time::Instant;

use crate::answer::{Answered, Rejection, answer, for_command};
use crate::outcome::Outcome;
use crate::request::{self, RenderRequest, strings};
use crate::state::AppState;

pub(crate) async fn submit(
    state: &AppState,
    interaction: &Interaction,
    deadline: Instant,
) -> Answered {
    let s = strings(interaction);
    let data = interaction
        .modal_data()
        .map_err(|e| Rejection::bad_data("modal submission", &e))?;
    let reply = match ButtonState::parse(&data.custom_id) {
        Ok(ButtonState {
            action: ButtonAction::Remix,
            spec: original,
        }) => match remix::apply(&original, &data.values(), s) {
            Ok(spec) => {
                // An emptied seed field asks for a new one.
                let spec = spec.with_seed_from(interaction.id.as_bytes());
                request::render(
                    state,
                    interaction,
                    RenderRequest {
                        spec,
                        grid: state.grid.remix.then_some(GridKind::Candidates),
                        kind: JobKind::Remix,
                        ack: s.ack_remix.to_owned(),
                        invalid_outcome: Outcome::BadForm,
                    },
                    deadline,
                )
                .await
            }
            Err(e) => answer(
                InteractionResponse::ephemeral(e.explain(s)),
                Outcome::BadForm,
            ),
        },
        Ok(_) | Err(_) => answer(
            InteractionResponse::ephemeral(fill(
                s.bad_button,
                &[("error", "the form is not a Remix form")],
            )),
            Outcome::UnknownForm,
        ),
    };
    for_command(reply, "form:remix".to_owned())
}
