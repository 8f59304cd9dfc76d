//! The playground page and its small JSON API.
//!
//! The page never talks to the services' internals: it asks this module to
//! sign an interaction with the development key and POST it to the real
//! `/interactions` endpoint over HTTP, then reads what the worker sent to the
//! Discord stand-in — the same round trip a Discord client makes.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use mandala_model::discord::command;
use mandala_model::palette;
use mandala_standin::discord::DiscordStandin;
use serde_json::{Value, json};

use super::client;
use super::store::StoreLocation;

const PAGE: &str = include_str!("playground.html");
/// How many images the gallery lists.
const GALLERY_LIMIT: usize = 120;

#[derive(Clone)]
pub struct Playground {
    pub interactions_url: String,
    pub application_id: String,
    pub public_key_hex: String,
    pub signing_key: Option<SigningKey>,
    pub standin: Option<DiscordStandin>,
    pub store: StoreLocation,
    pub client: reqwest::Client,
    /// The ingress's queue ledger, shown as a user would feel it.
    pub ledger: mandala_ledger::Ledger,
    /// The design the stack runs (`pubsub`, `single`, …), for the banner.
    pub design: &'static str,
}

type ApiError = (StatusCode, Json<Value>);

fn api_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    (status, Json(json!({"error": message.into()})))
}

impl Playground {
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/playground/state", get(state))
            .route("/playground/interact", post(interact))
            .route("/playground/click", post(click))
            .route("/playground/submit", post(submit))
            .route("/playground/menu", post(menu))
            .route("/playground/messages/{token}", get(message))
            .route(
                "/playground/attachments/{token}/{filename}",
                get(attachment),
            )
            .route("/playground/gallery", get(gallery))
            .route("/playground/queue", get(queue))
            .route("/playground/store/{*path}", get(stored_image))
            .with_state(self)
    }

    async fn send(&self, outgoing: &client::Outgoing) -> Result<Json<Value>, ApiError> {
        let key = self.signing_key.as_ref().ok_or_else(|| {
            api_error(
                StatusCode::CONFLICT,
                "a real Discord application is configured: use /mandala in Discord",
            )
        })?;
        let answer = client::send(&self.client, &self.interactions_url, key, outgoing)
            .await
            .map_err(|e| {
                api_error(
                    StatusCode::BAD_GATEWAY,
                    format!("could not reach the ingress: {e}"),
                )
            })?;
        Ok(Json(json!({
            "status": answer.status,
            "response": answer.response,
            "text": answer.text,
            "token": outgoing.token,
        })))
    }
}

async fn state(State(p): State<Playground>) -> Json<Value> {
    let palettes: Vec<Value> = palette::PALETTES
        .iter()
        .map(|x| json!({"name": x.name, "description": x.description}))
        .chain(std::iter::once(json!({"name": palette::HARMONY, "description": "a harmonious palette picked by the seed"})))
        .collect();
    Json(json!({
        "mode": if p.standin.is_some() && p.signing_key.is_some() { "local" } else { "discord" },
        "application_id": p.application_id,
        "public_key": p.public_key_hex,
        "design": p.design,
        "palettes": palettes,
    }))
}

/// Turns the form's strings into typed command options, using the types the
/// registered command declares (so the playground sends what Discord would).
fn form_to_options(form: &serde_json::Map<String, Value>) -> Result<Vec<Value>, ApiError> {
    let definition = command::definition();
    let declared = definition["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut options = Vec::new();
    for (name, value) in form {
        let Some(text) = value.as_str().map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        let Some(kind) = declared
            .iter()
            .find(|o| o["name"] == name.as_str())
            .and_then(|o| o["type"].as_u64())
        else {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                format!("unknown option {name}"),
            ));
        };
        let typed = match kind {
            4 => json!(text.parse::<i64>().map_err(|_| api_error(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a whole number")
            ))?),
            5 => json!(text == "true"),
            _ => json!(text),
        };
        options.push(json!({"name": name, "type": kind, "value": typed}));
    }
    Ok(options)
}

/// The client's language, as the page's language menu set it.
fn locale(body: &Value) -> &str {
    body["locale"]
        .as_str()
        .filter(|l| !l.is_empty())
        .unwrap_or("en-US")
}

async fn interact(
    State(p): State<Playground>,
    Json(mut form): Json<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let lang = form.remove("locale").unwrap_or(Value::Null);
    let options = form_to_options(&form)?;
    let outgoing = client::command_with_options(&p.application_id, &options);
    p.send(&client::in_locale(
        outgoing,
        locale(&json!({ "locale": lang })),
    ))
    .await
}

async fn click(
    State(p): State<Playground>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let custom_id = custom_id(&body)?;
    let outgoing = client::button(&p.application_id, custom_id);
    p.send(&client::in_locale(outgoing, locale(&body))).await
}

/// The `custom_id` of a click or a form, which the page always sends.
fn custom_id(body: &Value) -> Result<&str, ApiError> {
    body["custom_id"]
        .as_str()
        .ok_or_else(|| api_error(StatusCode::BAD_REQUEST, "custom_id is required"))
}

/// A filled-in modal: `{custom_id, values: {input: text}}`.
async fn submit(
    State(p): State<Playground>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let custom_id = custom_id(&body)?;
    let values: Vec<(String, String)> = body["values"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let outgoing = client::modal_submit(&p.application_id, custom_id, &values);
    p.send(&client::in_locale(outgoing, locale(&body))).await
}

/// A context menu: `{menu: "remix", token}` on the bot's message answering
/// `token`, or `{menu: "user"}` on the playground's user.
async fn menu(
    State(p): State<Playground>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let outgoing = match body["menu"].as_str() {
        Some("remix") => {
            let token = body["token"]
                .as_str()
                .ok_or_else(|| api_error(StatusCode::BAD_REQUEST, "token is required"))?;
            let found = standin(&p)?
                .message_for_token(token)
                .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "no such message"))?;
            // The message as Discord resolves it for a message command.
            let message = json!({
                "id": found.id,
                "channel_id": "1000000000000000200",
                "author": {"id": p.application_id, "username": "Mandala Bot", "bot": true},
                "content": found.payload.content,
                "embeds": found.payload.embeds,
                "components": found.payload.components,
            });
            client::context_menu(&p.application_id, command::REMIX_MENU, 3, &message)
        }
        Some("user") => {
            let user = json!({
                "id": client::DEV_USER_ID, "username": "playground", "global_name": "Playground",
                "accent_color": 0x5865f2,
            });
            client::context_menu(&p.application_id, command::USER_MENU, 2, &user)
        }
        _ => {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "menu must be remix or user",
            ));
        }
    };
    p.send(&client::in_locale(outgoing, locale(&body))).await
}

fn standin(p: &Playground) -> Result<&DiscordStandin, ApiError> {
    p.standin.as_ref().ok_or_else(|| {
        api_error(
            StatusCode::NOT_FOUND,
            "no local Discord stand-in in this mode",
        )
    })
}

async fn message(
    State(p): State<Playground>,
    UrlPath(token): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let found = standin(&p)?
        .message_for_token(&token)
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "no reply yet"))?;
    Ok(Json(json!({
        "payload": found.payload,
        "edits": found.edits,
        "attachments": found.attachments.iter().map(|a| json!({"filename": a.filename, "content_type": a.content_type, "size": a.bytes.len()})).collect::<Vec<_>>(),
    })))
}

async fn attachment(
    State(p): State<Playground>,
    UrlPath((token, filename)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let found = standin(&p)?
        .message_for_token(&token)
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "no such message"))?;
    let file = found
        .attachments
        .into_iter()
        .find(|a| a.filename == filename)
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "no such attachment"))?;
    Ok(([(header::CONTENT_TYPE, file.content_type)], file.bytes).into_response())
}

/// What the queue ledger knows now, and what a new default mandala would
/// be told.
async fn queue(State(p): State<Playground>) -> Result<Json<Value>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let snapshot = p
        .ledger
        .snapshot(now)
        .await
        .map_err(|e| api_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let cost = mandala_model::RenderSpec::default()
        .with_seed_from(b"playground")
        .resolve()
        .map_or(1, |r| r.cost().0);
    let estimate = mandala_ledger::estimate::estimate(
        &snapshot,
        &mandala_ledger::entry::Sums::default(),
        cost,
        now,
    );
    let slots: u32 = snapshot
        .workers
        .iter()
        .filter(|w| w.seen_ms + mandala_ledger::estimate::LIVE_WINDOW_MS > now)
        .map(|w| w.slots)
        .sum();
    let t = snapshot.totals;
    Ok(Json(json!({
        "users": t.users,
        "jobs": t.jobs,
        "waiting": t.jobs.saturating_sub(t.running_jobs),
        "rendering": t.running_jobs,
        "render_slots": slots,
        "new_job": mandala_model::wait::ready_in(estimate.wait),
        "others_ahead": estimate.others_ahead,
    })))
}

/// Newest images in the local store (the gallery).
pub fn stored_images(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(
        dir.join("renders")
            .join(format!("v{}", mandala_model::RENDER_VERSION)),
    ) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "png" || e == "webp" || e == "svg")
        })
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
        .into_iter()
        .map(|(_, p)| p)
        .take(GALLERY_LIMIT)
        .collect()
}

async fn gallery(State(p): State<Playground>) -> Json<Value> {
    let dir = match &p.store {
        StoreLocation::Directory(dir) => dir,
        StoreLocation::Bucket { endpoint, bucket } => {
            return Json(json!(bucket_images(&p.client, endpoint, bucket).await));
        }
    };
    let items: Vec<Value> = stored_images(dir)
        .iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(dir).ok()?.to_string_lossy().replace('\\', "/");
            Some(json!({"name": path.file_name()?.to_string_lossy(), "url": format!("/playground/store/{rel}")}))
        })
        .collect();
    Json(json!(items))
}

/// The newest images in the bucket (Cloud Storage's JSON API, which the
/// emulators speak too), newest first.
async fn bucket_images(client: &reqwest::Client, endpoint: &str, bucket: &str) -> Vec<Value> {
    let url = format!(
        "{}/storage/v1/b/{bucket}/o?prefix=renders/",
        endpoint.trim_end_matches('/')
    );
    let listed: Value = match client.get(&url).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the bucket for the gallery");
            Value::Null
        }
    };
    let mut items: Vec<(&str, &str)> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["name"].as_str()?, o["updated"].as_str().unwrap_or(""))))
        .filter(|(name, _)| image_type(name).is_some())
        .collect();
    // RFC 3339 times of one format sort as text.
    items.sort_by(|a, b| b.1.cmp(a.1));
    items
        .into_iter()
        .take(GALLERY_LIMIT)
        .map(|(name, _)| {
            json!({
                "name": name.rsplit('/').next().unwrap_or(name),
                "url": format!("/playground/store/{name}"),
            })
        })
        .collect()
}

/// The content type of a stored image, by its name; `None` if it is not one.
fn image_type(name: &str) -> Option<&'static str> {
    match name.rsplit('.').next()? {
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

async fn stored_image(
    State(p): State<Playground>,
    UrlPath(rel): UrlPath<String>,
) -> Result<Response, ApiError> {
    // Only plain relative paths inside the store: no `..`, no absolute paths.
    let safe = rel
        .split('/')
        .all(|part| !part.is_empty() && part != ".." && part != "." && !part.contains('\\'));
    if !safe {
        return Err(api_error(StatusCode::BAD_REQUEST, "bad path"));
    }
    let content_type =
        image_type(&rel).ok_or_else(|| api_error(StatusCode::NOT_FOUND, "not an image"))?;
    let bytes = match &p.store {
        StoreLocation::Directory(dir) => tokio::fs::read(dir.join(&rel))
            .await
            .map_err(|_| api_error(StatusCode::NOT_FOUND, "no such image"))?,
        StoreLocation::Bucket { endpoint, bucket } => {
            let mut url = reqwest::Url::parse(endpoint)
                .map_err(|e| api_error(StatusCode::BAD_GATEWAY, e.to_string()))?;
            url.path_segments_mut()
                .map_err(|()| api_error(StatusCode::BAD_GATEWAY, "the endpoint takes no path"))?
                .pop_if_empty()
                .extend(["storage", "v1", "b", bucket, "o", &rel]);
            url.set_query(Some("alt=media"));
            p.client
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|_| api_error(StatusCode::NOT_FOUND, "no such image"))?
                .bytes()
                .await
                .map_err(|e| api_error(StatusCode::BAD_GATEWAY, e.to_string()))?
                .to_vec()
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_get_the_declared_types() {
        let form: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"seed": "rosebud", "symmetry": "8", "mirror": "false", "palette": "", "size": "256"})).unwrap();
        let options = form_to_options(&form).unwrap();
        assert!(options.contains(&json!({"name": "seed", "type": 3, "value": "rosebud"})));
        assert!(options.contains(&json!({"name": "symmetry", "type": 4, "value": 8})));
        assert!(options.contains(&json!({"name": "mirror", "type": 5, "value": false})));
        assert!(
            !options.iter().any(|o| o["name"] == "palette"),
            "empty fields are left out"
        );
        let bad: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"symmetry": "eight"})).unwrap();
        assert_eq!(
            form_to_options(&bad).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }
}
