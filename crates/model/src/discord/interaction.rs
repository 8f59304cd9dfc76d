//! What Discord POSTs to the interactions endpoint.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Snowflake;

/// An incoming interaction. Only `type` is required; everything else is
/// optional so that partial or future payloads still parse.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interaction {
    #[serde(default)]
    pub id: Snowflake,
    #[serde(default)]
    pub application_id: Option<Snowflake>,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    /// Parsed per type through the accessors below.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    #[serde(default)]
    pub channel_id: Option<Snowflake>,
    /// Sent when invoked in a guild.
    #[serde(default)]
    pub member: Option<Member>,
    /// Sent when invoked in a DM.
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub guild_locale: Option<String>,
    #[serde(default)]
    pub app_permissions: Option<String>,
    #[serde(default)]
    pub attachment_size_limit: Option<u64>,
    #[serde(default)]
    pub context: Option<u8>,
    #[serde(default)]
    pub authorizing_integration_owners: Option<HashMap<String, String>>,
    /// For components: the message the component is attached to.
    #[serde(default)]
    pub message: Option<serde_json::Value>,
}

/// The interaction `type`, keeping unknown values instead of failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u8", into = "u8")]
pub enum InteractionType {
    #[default]
    Ping,
    ApplicationCommand,
    MessageComponent,
    Autocomplete,
    ModalSubmit,
    Unknown(u8),
}

impl From<u8> for InteractionType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Ping,
            2 => Self::ApplicationCommand,
            3 => Self::MessageComponent,
            4 => Self::Autocomplete,
            5 => Self::ModalSubmit,
            other => Self::Unknown(other),
        }
    }
}

impl From<InteractionType> for u8 {
    fn from(t: InteractionType) -> u8 {
        match t {
            InteractionType::Ping => 1,
            InteractionType::ApplicationCommand => 2,
            InteractionType::MessageComponent => 3,
            InteractionType::Autocomplete => 4,
            InteractionType::ModalSubmit => 5,
            InteractionType::Unknown(v) => v,
        }
    }
}

impl InteractionType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::ApplicationCommand => "command",
            Self::MessageComponent => "component",
            Self::Autocomplete => "autocomplete",
            Self::ModalSubmit => "modal",
            Self::Unknown(_) => "unknown",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub nick: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    #[serde(default)]
    pub id: Snowflake,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub global_name: Option<String>,
}

/// `data` of APPLICATION_COMMAND and APPLICATION_COMMAND_AUTOCOMPLETE.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplicationCommandData {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<u8>,
    #[serde(default)]
    pub options: Vec<CommandOption>,
    #[serde(default)]
    pub guild_id: Option<String>,
    #[serde(default)]
    pub target_id: Option<String>,
    /// Users, members and messages the command refers to, by id (a context
    /// menu's target is here). Kept raw: only a few fields are read.
    #[serde(default)]
    pub resolved: Option<serde_json::Value>,
}

/// One option; subcommands and groups nest further options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandOption {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<OptionValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<CommandOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focused: Option<bool>,
}

/// A typed option value: string, integer, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Bool(bool),
    Integer(i64),
    Number(f64),
    String(String),
}

impl OptionValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OptionValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// `data` of MESSAGE_COMPONENT.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageComponentData {
    pub custom_id: String,
    #[serde(default)]
    pub component_type: u8,
    #[serde(default)]
    pub values: Vec<String>,
}

/// `data` of MODAL_SUBMIT; components are kept raw (their nesting differs
/// between the old ActionRow and the new Label layouts).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModalSubmitData {
    pub custom_id: String,
    #[serde(default)]
    pub components: Vec<serde_json::Value>,
}

impl ModalSubmitData {
    /// Each text input's value by its `custom_id`, from either layout: an
    /// action row holding inputs, or a label holding one.
    pub fn values(&self) -> std::collections::HashMap<String, String> {
        fn walk(v: &serde_json::Value, out: &mut std::collections::HashMap<String, String>) {
            if let (Some(id), Some(value)) = (v["custom_id"].as_str(), v["value"].as_str()) {
                out.insert(id.to_owned(), value.to_owned());
            }
            for child in v["components"].as_array().into_iter().flatten() {
                walk(child, out);
            }
            if v["component"].is_object() {
                walk(&v["component"], out);
            }
        }
        let mut out = std::collections::HashMap::new();
        for c in &self.components {
            walk(c, &mut out);
        }
        out
    }
}

/// The target of a context menu, found in `resolved`.
impl ApplicationCommandData {
    /// The message a message command was used on.
    pub fn target_message(&self) -> Option<&serde_json::Value> {
        let id = self.target_id.as_deref()?;
        self.resolved.as_ref()?.get("messages")?.get(id)
    }

    /// The user a user command was used on.
    pub fn target_user(&self) -> Option<&serde_json::Value> {
        let id = self.target_id.as_deref()?;
        self.resolved.as_ref()?.get("users")?.get(id)
    }
}

impl Interaction {
    fn typed_data<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let data = self.data.clone().unwrap_or(serde_json::Value::Null);
        serde_json::from_value(data)
    }

    pub fn command_data(&self) -> Result<ApplicationCommandData, serde_json::Error> {
        self.typed_data()
    }

    pub fn component_data(&self) -> Result<MessageComponentData, serde_json::Error> {
        self.typed_data()
    }

    pub fn modal_data(&self) -> Result<ModalSubmitData, serde_json::Error> {
        self.typed_data()
    }

    /// The invoking user: `member.user` in guilds, `user` in DMs.
    pub fn invoker(&self) -> Option<&User> {
        self.member
            .as_ref()
            .and_then(|m| m.user.as_ref())
            .or(self.user.as_ref())
    }
}

impl ApplicationCommandData {
    /// Options flattened through subcommands and groups.
    pub fn leaf_options(&self) -> Vec<&CommandOption> {
        fn walk<'a>(opts: &'a [CommandOption], out: &mut Vec<&'a CommandOption>) {
            for o in opts {
                if o.kind == 1 || o.kind == 2 {
                    walk(&o.options, out);
                } else {
                    out.push(o);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.options, &mut out);
        out
    }

    pub fn focused(&self) -> Option<&CommandOption> {
        self.leaf_options()
            .into_iter()
            .find(|o| o.focused == Some(true))
    }
}
