//! Limits Discord documents but its OpenAPI description does not express:
//! how components nest and count, which flags each kind of message may
//! carry, the names commands and options may have, how long a string
//! choice may be, and the 8,000-character budget of one command.
//!
//! Each function returns every complaint, `<JSON pointer>: <what is
//! wrong>` as [`super::openapi`] writes them; none means the payload keeps
//! within the limits. Sources: discord.com/developers/docs
//! (`interactions/application-commands`, `interactions/receiving-and-responding`,
//! `resources/message`, `resources/webhook`, `components/reference`).
//!
//! By what they check: `responses` (interaction responses and modals),
//! `messages` (message bodies: flags, embeds, components, attachments,
//! mentions) and `commands` (command definitions and their budget).

mod commands;
mod messages;
mod responses;

use serde_json::Value;

pub use commands::{budget, command, command_overwrite};
pub use messages::message;
pub use responses::interaction_response;

/// Message flags.
pub const SUPPRESS_EMBEDS: u64 = 1 << 2;
pub const EPHEMERAL: u64 = 1 << 6;
pub const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
pub const IS_VOICE_MESSAGE: u64 = 1 << 13;
pub const IS_COMPONENTS_V2: u64 = 1 << 15;

/// Combined characters of all embeds of one message.
pub const EMBEDS_TOTAL_MAX: usize = 6000;
/// Action rows of a message without `IS_COMPONENTS_V2`.
pub const ACTION_ROWS_MAX: usize = 5;
/// Components, nested ones included, of a message with `IS_COMPONENTS_V2`.
pub const COMPONENTS_V2_MAX: usize = 40;
/// Characters of a string choice's value (the schema allows 6,000).
pub const STRING_CHOICE_VALUE_MAX: usize = 100;
/// Combined characters of a command's names, descriptions and values.
pub const COMMAND_BUDGET: usize = 8000;
/// Commands of each type per application (or guild): chat input, user, message.
pub const COMMANDS_PER_TYPE_MAX: [(u64, usize); 3] = [(1, 100), (2, 15), (3, 15)];

/// How a message body reaches Discord: it decides the flags it may carry
/// and whether it may carry interactive components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `data` of an interaction response of type 4 or 7.
    InteractionResponse,
    /// An edit of an interaction's message (`PATCH …/messages/@original`),
    /// through the application's own webhook.
    InteractionEdit,
    /// A post through a channel webhook the application does not own.
    ChannelWebhookPost,
    /// An edit of a message posted through such a webhook.
    ChannelWebhookEdit,
}

impl Via {
    fn allowed_flags(self) -> u64 {
        match self {
            Via::InteractionResponse => {
                SUPPRESS_EMBEDS
                    | EPHEMERAL
                    | SUPPRESS_NOTIFICATIONS
                    | IS_VOICE_MESSAGE
                    | IS_COMPONENTS_V2
            }
            Via::ChannelWebhookPost => SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
            Via::InteractionEdit | Via::ChannelWebhookEdit => SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
        }
    }

    fn is_edit(self) -> bool {
        matches!(self, Via::InteractionEdit | Via::ChannelWebhookEdit)
    }

    /// Channel webhooks not owned by the application cannot send
    /// interactive components (Discord drops them).
    fn interactive_allowed(self) -> bool {
        !matches!(self, Via::ChannelWebhookPost | Via::ChannelWebhookEdit)
    }
}

fn at(pointer: &str, key: impl std::fmt::Display) -> String {
    format!("{pointer}/{key}")
}

fn complaint(pointer: &str, message: impl std::fmt::Display) -> String {
    let pointer = if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    };
    format!("{pointer}: {message}")
}

fn chars(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}
