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

use crate::interactions::{AppState, Handled, answer};
use crate::request::{self, RenderRequest, strings};

pub(crate) async fn submit(
    state: &AppState,
    interaction: &Interaction,
    deadline: Instant,
) -> Handled {
    let s = strings(interaction);
    let data = match interaction.modal_data() {
        Ok(d) => d,
        Err(e) => return Handled::bad_data("modal submission", &e),
    };
    let mut handled = match ButtonState::parse(&data.custom_id) {
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
                        invalid_outcome: "bad_form",
                    },
                    deadline,
                )
                .await
            }
            Err(e) => answer(InteractionResponse::ephemeral(e.explain(s)), "bad_form"),
        },
        Ok(_) | Err(_) => answer(
            InteractionResponse::ephemeral(fill(
                s.bad_button,
                &[("error", "the form is not a Remix form")],
            )),
            "unknown_form",
        ),
    };
    handled.command = Some("form:remix".to_owned());
    handled
}
