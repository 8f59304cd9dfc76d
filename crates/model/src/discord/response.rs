//! What the bot sends back: interaction responses and message payloads,
//! serialised exactly as Discord documents them (absent fields omitted).

use serde::{Deserialize, Serialize};

/// Message flag bits.
pub mod flags {
    /// Only the invoking user sees the message.
    pub const EPHEMERAL: u64 = 1 << 6;
    pub const SUPPRESS_EMBEDS: u64 = 1 << 2;
}

/// The interaction callback type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum ResponseType {
    Pong,
    ChannelMessageWithSource,
    DeferredChannelMessageWithSource,
    DeferredUpdateMessage,
    UpdateMessage,
    AutocompleteResult,
    Modal,
}

impl From<ResponseType> for u8 {
    fn from(t: ResponseType) -> u8 {
        match t {
            ResponseType::Pong => 1,
            ResponseType::ChannelMessageWithSource => 4,
            ResponseType::DeferredChannelMessageWithSource => 5,
            ResponseType::DeferredUpdateMessage => 6,
            ResponseType::UpdateMessage => 7,
            ResponseType::AutocompleteResult => 8,
            ResponseType::Modal => 9,
        }
    }
}

impl TryFrom<u8> for ResponseType {
    type Error = String;

    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Ok(match v {
            1 => Self::Pong,
            4 => Self::ChannelMessageWithSource,
            5 => Self::DeferredChannelMessageWithSource,
            6 => Self::DeferredUpdateMessage,
            7 => Self::UpdateMessage,
            8 => Self::AutocompleteResult,
            9 => Self::Modal,
            other => return Err(format!("unknown interaction response type {other}")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionResponse {
    #[serde(rename = "type")]
    pub kind: ResponseType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ResponseData>,
}

/// Callback data: a message (types 4, 7), flags (5), choices (8) or a modal (9).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseData {
    #[serde(flatten)]
    pub message: MessagePayload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Choice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A message body, as sent in a response, a webhook execution or an edit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeds: Option<Vec<Embed>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Component>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mentions: Option<AllowedMentions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentRef>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<EmbedImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<EmbedFooter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EmbedField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedImage {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedFooter {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedField {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub inline: bool,
}

/// A message component: an action row (type 1) or a button (type 2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Component {
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<Emoji>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Component>>,
    /// A text input's value: pre-filled when sent, typed when submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emoji {
    pub name: String,
}

impl Component {
    pub const ACTION_ROW: u8 = 1;
    pub const BUTTON: u8 = 2;
    pub const SECONDARY: u8 = 2;
    pub const PRIMARY: u8 = 1;
    pub const LINK: u8 = 5;

    pub fn row(components: Vec<Component>) -> Self {
        Component {
            kind: Self::ACTION_ROW,
            components: Some(components),
            ..Default::default()
        }
    }

    /// A one-line text input in a modal.
    pub const TEXT_INPUT: u8 = 4;
    pub const SHORT: u8 = 1;

    /// A button; an empty label is left out (the emoji alone shows).
    pub fn button(style: u8, label: &str, emoji: Option<&str>, custom_id: String) -> Self {
        Component {
            kind: Self::BUTTON,
            style: Some(style),
            label: Some(label.to_owned()).filter(|l| !l.is_empty()),
            emoji: emoji.map(|e| Emoji { name: e.to_owned() }),
            custom_id: Some(custom_id),
            ..Default::default()
        }
    }

    /// A one-line, optional text input, pre-filled with `value`.
    pub fn text_input(
        custom_id: &str,
        label: &str,
        value: Option<String>,
        placeholder: &str,
        max_length: u16,
    ) -> Self {
        Component {
            kind: Self::TEXT_INPUT,
            style: Some(Self::SHORT),
            label: Some(label.to_owned()),
            custom_id: Some(custom_id.to_owned()),
            value: value.filter(|v| !v.is_empty()),
            placeholder: Some(placeholder.to_owned()).filter(|p| !p.is_empty()),
            required: Some(false),
            max_length: Some(max_length),
            ..Default::default()
        }
    }

    pub fn link(label: &str, url: String) -> Self {
        Component {
            kind: Self::BUTTON,
            style: Some(Self::LINK),
            label: Some(label.to_owned()),
            url: Some(url),
            ..Default::default()
        }
    }
}

/// `{"parse": []}` stops any mention in echoed text from pinging anyone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllowedMentions {
    pub parse: Vec<String>,
}

impl AllowedMentions {
    pub fn none() -> Self {
        Self { parse: Vec::new() }
    }
}

/// An entry of `attachments`: `id` is the index `n` of the `files[n]` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The attachment's id: for a new file, the index of its `files[n]`
    /// part. Discord's API schema types it as a snowflake string (`"0"`);
    /// a number is read too, as Discord does.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub filename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(t) => t,
        Id::Number(n) => n.to_string(),
    })
}

/// An autocomplete choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub name: String,
    pub value: serde_json::Value,
}

impl InteractionResponse {
    pub fn pong() -> Self {
        Self {
            kind: ResponseType::Pong,
            data: None,
        }
    }

    /// A visible message (type 4).
    pub fn message(content: impl Into<String>) -> Self {
        Self::with_message(ResponseType::ChannelMessageWithSource, content.into(), None)
    }

    /// A message only the invoking user sees (type 4, flag 64).
    pub fn ephemeral(content: impl Into<String>) -> Self {
        Self::with_message(
            ResponseType::ChannelMessageWithSource,
            content.into(),
            Some(flags::EPHEMERAL),
        )
    }

    /// A pop-up form (type 9): `rows` are action rows of text inputs.
    pub fn modal(custom_id: String, title: &str, rows: Vec<Component>) -> Self {
        Self {
            kind: ResponseType::Modal,
            data: Some(ResponseData {
                message: MessagePayload {
                    components: Some(rows),
                    ..Default::default()
                },
                custom_id: Some(custom_id),
                title: Some(title.to_owned()),
                ..Default::default()
            }),
        }
    }

    /// "Thinking…" now, the real message later through PATCH @original (type 5).
    pub fn deferred() -> Self {
        Self {
            kind: ResponseType::DeferredChannelMessageWithSource,
            data: None,
        }
    }

    pub fn autocomplete(choices: Vec<Choice>) -> Self {
        Self {
            kind: ResponseType::AutocompleteResult,
            data: Some(ResponseData {
                choices: Some(choices),
                ..Default::default()
            }),
        }
    }

    fn with_message(kind: ResponseType, content: String, flags: Option<u64>) -> Self {
        Self {
            kind,
            data: Some(ResponseData {
                message: MessagePayload {
                    content: Some(content),
                    flags,
                    allowed_mentions: Some(AllowedMentions::none()),
                    ..Default::default()
                },
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pong_is_exactly_type_1() {
        assert_eq!(
            serde_json::to_value(InteractionResponse::pong()).unwrap(),
            json!({"type": 1})
        );
        assert_eq!(
            serde_json::to_value(InteractionResponse::deferred()).unwrap(),
            json!({"type": 5})
        );
    }

    #[test]
    fn ephemeral_message_shape() {
        assert_eq!(
            serde_json::to_value(InteractionResponse::ephemeral("no")).unwrap(),
            json!({"type": 4, "data": {"content": "no", "flags": 64, "allowed_mentions": {"parse": []}}})
        );
    }

    #[test]
    fn autocomplete_and_buttons() {
        let r = InteractionResponse::autocomplete(vec![Choice {
            name: "ocean".into(),
            value: json!("ocean"),
        }]);
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"type": 8, "data": {"choices": [{"name": "ocean", "value": "ocean"}]}})
        );
        let row = Component::row(vec![Component::button(
            Component::SECONDARY,
            "Re-roll",
            Some("🔄"),
            "m1:r".into(),
        )]);
        assert_eq!(
            serde_json::to_value(row).unwrap(),
            json!({"type": 1, "components": [{"type": 2, "style": 2, "label": "Re-roll", "emoji": {"name": "🔄"}, "custom_id": "m1:r"}]})
        );
    }

    #[test]
    fn every_documented_response_type_serialises_as_its_number() {
        for (t, n) in [
            (ResponseType::Pong, 1),
            (ResponseType::ChannelMessageWithSource, 4),
            (ResponseType::DeferredChannelMessageWithSource, 5),
            (ResponseType::DeferredUpdateMessage, 6),
            (ResponseType::UpdateMessage, 7),
            (ResponseType::AutocompleteResult, 8),
            (ResponseType::Modal, 9),
        ] {
            assert_eq!(
                serde_json::to_value(InteractionResponse {
                    kind: t,
                    data: None
                })
                .unwrap(),
                json!({"type": n})
            );
        }
    }
}
