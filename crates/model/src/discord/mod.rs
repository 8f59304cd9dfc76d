//! The subset of Discord's interaction API the bot speaks.
//!
//! Request types are tolerant by design: every field Discord may omit is
//! optional and unknown fields are ignored, because a strict model that
//! rejects a PING after a Discord schema change takes the endpoint offline.

pub mod command;
pub mod interaction;
pub mod response;
pub mod snowflake;
pub mod token;
pub mod webhook;

pub use interaction::{
    ApplicationCommandData, CommandOption, Interaction, InteractionType, Member,
    MessageComponentData, ModalSubmitData, OptionValue, User,
};
pub use response::{
    AllowedMentions, AttachmentRef, Choice, Component, Embed, EmbedField, EmbedFooter, EmbedImage,
    Emoji, InteractionResponse, MessagePayload, ResponseData, ResponseType, flags,
};
pub use snowflake::Snowflake;

/// The `User-Agent` Discord requires on REST calls: `DiscordBot ($url, $version)`.
pub fn user_agent() -> String {
    format!(
        "DiscordBot ({}, {})",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}
