//! Builds and sends interactions the way Discord does: a JSON body with a
//! fresh snowflake id and token, signed with Ed25519 over timestamp ‖ body.
//! Used by the playground, `mandala interact` and the end-to-end tests.

use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::SigningKey;
use mandala_model::RenderSpec;
use mandala_model::clock::now_ms;
use mandala_model::discord::{InteractionResponse, snowflake};
use serde_json::{Value, json};

/// A built interaction, ready to sign and send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub token: String,
    pub body: Vec<u8>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn fresh_ids() -> (String, String) {
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let id = snowflake::from_timestamp_ms(now_ms(), seq);
    let mut token = [0u8; 24];
    // A token only has to be unique; fall back to the id if the OS has no randomness.
    let token = match getrandom::fill(&mut token) {
        Ok(()) => format!("dev-{}", hex::encode(token)),
        Err(_) => format!("dev-{id}"),
    };
    (id, token)
}

/// The user every interaction claims to come from unless told otherwise.
pub const DEV_USER_ID: &str = "1000000000000000300";

fn envelope_from(
    kind: u8,
    application_id: &str,
    id: &str,
    token: &str,
    data: &Value,
    user_id: &str,
) -> Value {
    json!({
        "id": id,
        "application_id": application_id,
        "type": kind,
        "token": token,
        "version": 1,
        "data": data,
        "guild_id": "1000000000000000100",
        "channel_id": "1000000000000000200",
        "member": {"user": {"id": user_id, "username": "playground", "global_name": "Playground"}},
        "locale": "en-US",
        "app_permissions": "0",
        "attachment_size_limit": 10_485_760,
        "context": 0
    })
}

/// The options of a `/mandala` command for a spec, as Discord would send them.
pub fn command_options(spec: &RenderSpec) -> Vec<Value> {
    let mut o = Vec::new();
    let mut push = |name: &str, kind: u8, value: Value| {
        o.push(json!({"name": name, "type": kind, "value": value}));
    };
    if let Some(v) = spec.seed {
        push("seed", 3, json!(v.to_string()));
    }
    if let Some(v) = spec.symmetry {
        push("symmetry", 4, json!(v));
    }
    if let Some(v) = spec.layers {
        push("layers", 4, json!(v));
    }
    if let Some(v) = spec.elements {
        push("elements", 4, json!(v));
    }
    if let Some(v) = spec.style {
        push("style", 3, json!(v.name()));
    }
    if let Some(v) = &spec.palette {
        push("palette", 3, json!(v.to_string()));
    }
    if let Some(v) = spec.background {
        push("background", 3, json!(v.to_string()));
    }
    if let Some(v) = spec.size {
        push("size", 4, json!(v));
    }
    if let Some(v) = spec.mirror {
        push("mirror", 5, json!(v));
    }
    if let Some(v) = spec.format {
        push("format", 3, json!(v.extension()));
    }
    o
}

/// A `/mandala` APPLICATION_COMMAND interaction.
pub fn command(application_id: &str, spec: &RenderSpec) -> Outgoing {
    command_with_options(application_id, &command_options(spec))
}

/// A `/mandala` APPLICATION_COMMAND interaction for `spec` from the user `user_id`.
pub fn command_as(application_id: &str, user_id: &str, spec: &RenderSpec) -> Outgoing {
    command_from(application_id, user_id, &command_options(spec))
}

/// A `/mandala` interaction with options given as Discord's JSON.
pub fn command_with_options(application_id: &str, options: &[Value]) -> Outgoing {
    command_from(application_id, DEV_USER_ID, options)
}

/// A `/mandala` interaction from the user `user_id`.
pub fn command_from(application_id: &str, user_id: &str, options: &[Value]) -> Outgoing {
    let (id, token) = fresh_ids();
    let data =
        json!({"id": "1000000000000000400", "name": "mandala", "type": 1, "options": options});
    let body = envelope_from(2, application_id, &id, &token, &data, user_id)
        .to_string()
        .into_bytes();
    Outgoing { id, token, body }
}

/// A button click (MESSAGE_COMPONENT) on a message.
pub fn button(application_id: &str, custom_id: &str) -> Outgoing {
    button_from(application_id, DEV_USER_ID, custom_id)
}

/// A button click by the user `user_id`.
pub fn button_from(application_id: &str, user_id: &str, custom_id: &str) -> Outgoing {
    let (id, token) = fresh_ids();
    let data = json!({"custom_id": custom_id, "component_type": 2});
    let body = envelope_from(3, application_id, &id, &token, &data, user_id)
        .to_string()
        .into_bytes();
    Outgoing { id, token, body }
}

/// A submitted modal (MODAL_SUBMIT): `values` are the text inputs by
/// `custom_id`, in action rows as Discord sends them.
pub fn modal_submit(
    application_id: &str,
    custom_id: &str,
    values: &[(String, String)],
) -> Outgoing {
    let (id, token) = fresh_ids();
    let rows: Vec<Value> = values
        .iter()
        .map(|(k, v)| json!({"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}))
        .collect();
    let data = json!({"custom_id": custom_id, "components": rows});
    let body = envelope_from(5, application_id, &id, &token, &data, DEV_USER_ID)
        .to_string()
        .into_bytes();
    Outgoing { id, token, body }
}

/// A context-menu command: `kind` 3 on the message `target` (a Discord
/// message object), or 2 on the user `target` (a user object).
pub fn context_menu(application_id: &str, name: &str, kind: u8, target: &Value) -> Outgoing {
    let (id, token) = fresh_ids();
    let target_id = target["id"].as_str().unwrap_or_default().to_owned();
    let collection = if kind == 3 { "messages" } else { "users" };
    let data = json!({
        "id": "1000000000000000401", "name": name, "type": kind, "target_id": target_id,
        "resolved": {collection: {target_id.clone(): target}}
    });
    let body = envelope_from(2, application_id, &id, &token, &data, DEV_USER_ID)
        .to_string()
        .into_bytes();
    Outgoing { id, token, body }
}

/// The same interaction from a client in `locale` (e.g. `de`, `pt-BR`).
pub fn in_locale(mut out: Outgoing, locale: &str) -> Outgoing {
    if let Ok(mut v) = serde_json::from_slice::<Value>(&out.body) {
        v["locale"] = json!(locale);
        out.body = v.to_string().into_bytes();
    }
    out
}

/// Signs `body` at the current time with the ingress's own signing
/// function: the two header values Discord sends (signature, timestamp).
pub fn sign(key: &SigningKey, body: &[u8]) -> (String, String) {
    let timestamp = (now_ms() / 1000).to_string();
    (
        mandala_ingress::signing::sign(key, &timestamp, body),
        timestamp,
    )
}

/// What the endpoint answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub response: Option<InteractionResponse>,
    pub text: String,
}

/// Signs and POSTs an interaction to `url` (the ingress's `/interactions`).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    key: &SigningKey,
    outgoing: &Outgoing,
) -> Result<Answer, reqwest::Error> {
    let (signature, timestamp) = sign(key, &outgoing.body);
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Signature-Ed25519", signature)
        .header("X-Signature-Timestamp", timestamp)
        .body(outgoing.body.clone())
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok(Answer {
        status,
        response: serde_json::from_str(&text).ok(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;
    use mandala_model::discord::{Interaction, InteractionType, command::spec_from_options};

    #[test]
    fn built_commands_parse_back_into_the_same_spec() {
        let spec = RenderSpec {
            seed: Some(42),
            symmetry: Some(9),
            mirror: Some(false),
            palette: Some("ocean".parse().unwrap()),
            format: Some(mandala_model::Format::Png),
            ..Default::default()
        };
        let out = command("123", &spec);
        let i: Interaction = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(i.kind, InteractionType::ApplicationCommand);
        let data = i.command_data().unwrap();
        assert_eq!(spec_from_options(&data.leaf_options()).unwrap(), spec);
        assert!(snowflake::timestamp_ms(&i.id).is_some());
        assert_ne!(command("123", &spec).id, out.id, "ids must be unique");
    }

    #[test]
    fn signatures_verify_over_timestamp_and_body() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let out = button("1", "m1:r:1::::::::::");
        let (sig, ts) = sign(&key, &out.body);
        let sig = ed25519_dalek::Signature::from_slice(&hex::decode(sig).unwrap()).unwrap();
        let mut msg = ts.into_bytes();
        msg.extend_from_slice(&out.body);
        key.verifying_key().verify(&msg, &sig).unwrap();
    }
}
