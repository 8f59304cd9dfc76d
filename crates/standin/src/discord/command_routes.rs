//! The command routes: overwrite and list an application's global and
//! guild commands, with a bot token, each definition checked.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::commands;
use super::errors::{form_error, invalid_form, ok_json, refuse, unknown};
use super::state::DiscordStandin;
use super::view::is_snowflake;

pub(super) fn bot_token(headers: &HeaderMap) -> Result<(), Response> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bot "))
        .is_some_and(|t| !t.trim().is_empty());
    if ok {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            0,
            "401: Unauthorized",
            None,
            "missing `Authorization: Bot <token>`".into(),
        ))
    }
}

pub(super) fn overwrite_commands(
    standin: &DiscordStandin,
    app: String,
    guild: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Err(r) = bot_token(headers) {
        return r;
    }
    if !is_snowflake(&app) || guild.as_deref().is_some_and(|g| !is_snowflake(g)) {
        return unknown(10002, "Application");
    }
    let definitions: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return form_error("_root", "JSON_INVALID", format!("body is not JSON: {e}")),
    };
    let errors = commands::check(&definitions);
    if !errors.is_empty() {
        return invalid_form(&errors);
    }
    let stored: Vec<Value> = definitions
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let mut d = d.clone();
            d["id"] = json!(standin.next_id());
            d["application_id"] = json!(app);
            d["version"] = json!(standin.next_id());
            if let Some(g) = &guild {
                d["guild_id"] = json!(g);
            }
            if d.get("type").is_none() {
                d["type"] = json!(1);
            }
            d
        })
        .collect();
    standin.with(|s| s.commands.insert((app, guild), stored.clone()));
    standin.changed();
    ok_json(Value::Array(stored))
}

pub(super) async fn put_commands(
    State(standin): State<DiscordStandin>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    overwrite_commands(&standin, app, None, &headers, &body)
}

pub(super) async fn put_guild_commands(
    State(standin): State<DiscordStandin>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    overwrite_commands(&standin, app, Some(guild), &headers, &body)
}

pub(super) fn list_commands(
    standin: &DiscordStandin,
    app: String,
    guild: Option<String>,
    headers: &HeaderMap,
) -> Response {
    if let Err(r) = bot_token(headers) {
        return r;
    }
    ok_json(Value::Array(standin.with(|s| {
        s.commands.get(&(app, guild)).cloned().unwrap_or_default()
    })))
}

pub(super) async fn get_commands(
    State(standin): State<DiscordStandin>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    list_commands(&standin, app, None, &headers)
}

pub(super) async fn get_guild_commands(
    State(standin): State<DiscordStandin>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    list_commands(&standin, app, Some(guild), &headers)
}
