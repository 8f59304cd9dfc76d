#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! Every kind of payload the bot sends Discord, as the code really produces
//! it, checked against Discord's own OpenAPI description (the request-body
//! schema of the operation it goes to, `$ref`s resolved) and against the
//! documented limits the description does not express
//! (`mandala_e2e::contract`):
//!
//! - the command definitions (`/mandala` and both context menus, with their
//!   localizations), as `mandala register-commands` PUTs them;
//! - every interaction response the ingress gives, from its real router,
//!   in every language the bot speaks: PONG, the visible queued answers with
//!   their estimate (a grid, one image, every kind of click, the user menu,
//!   a Remix form submitted), the Remix forms (modals), the private
//!   refusals, autocomplete;
//! - every message the worker sends, captured by the Discord stand-in, in
//!   every language: the image edits of `@original` (a grid with U/V
//!   buttons, one image with its five, an SVG without an embedded image),
//!   the channel webhook post and a redelivery's edit of it, and the last
//!   words, sent (an invalid spec, a dead letter) and built for every ending;
//! - the waiting notice the ledger's sweeper PATCHes, in every language.
//!
//! Each kind of check is also shown to fail: a test breaks a valid payload
//! and expects the specific complaint. Without the description (read from
//! `../shared/anchors/discord-openapi/`, never copied here) the suite is
//! skipped, loudly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use ed25519_dalek::SigningKey;
use mandala_cli::dev::client;
use mandala_e2e::contract::{self, Api, limits, limits::Via};
use mandala_model::discord::snowflake;
use mandala_model::i18n::Lang;
use mandala_model::job::{JobKind, Requester};
use mandala_model::{
    ButtonAction, ButtonState, Format, GridKind, InteractionReply, Job, PushEnvelope, RenderSpec,
    Reply,
};
use mandala_standin::discord::{DiscordStandin, RecordedRequest};
use serde_json::{Value, json};

const APP_ID: &str = "1380486651436073092";

/// The description, or `None` after reporting the suite skipped.
fn api() -> Option<&'static Api> {
    let commit: String = contract::discord_api_commit().map_or_else(
        || "unknown commit".to_owned(),
        |c| c.chars().take(12).collect(),
    );
    mandala_standin::suites::require(
        &format!("contracts vs Discord's OpenAPI description (discord-api-spec {commit})"),
        contract::discord_api(),
    )
}

/// Schema and limits complaints about one payload, labelled.
fn problems(
    api: &Api,
    label: &str,
    operation: &str,
    body: &Value,
    limits: Vec<String>,
) -> Vec<String> {
    let mut all = api.validate(operation, body).err().unwrap_or_default();
    all.extend(limits);
    all.into_iter()
        .map(|p| format!("{label} ({operation}): {p}"))
        .collect()
}

#[track_caller]
fn assert_clean(found: &[String]) {
    assert!(
        found.is_empty(),
        "payloads Discord would refuse or ignore:\n{}",
        found.join("\n")
    );
}

/// Asserts a complaint mentions every fragment.
#[track_caller]
fn assert_complaint(found: &[String], fragments: &[&str]) {
    assert!(
        found
            .iter()
            .any(|p| fragments.iter().all(|f| p.contains(f))),
        "expected a complaint mentioning {fragments:?}, got:\n{}",
        found.join("\n")
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// One Discord locale per language the bot speaks.
fn locales() -> Vec<&'static str> {
    Lang::ALL
        .iter()
        .map(|l| l.discord_locales().first().copied().unwrap_or("en-US"))
        .collect()
}

/// The JSON each request to the stand-in carried, with its method and path.
fn sent(standin: &DiscordStandin) -> Vec<(RecordedRequest, Value)> {
    standin
        .requests()
        .into_iter()
        .filter_map(|r| r.json.clone().map(|j| (r, j)))
        .collect()
}

// ------------------------------------------------------------------ command definitions

/// What `mandala register-commands` PUTs, globally and to a guild.
async fn registered() -> Vec<(&'static str, Value)> {
    let standin = DiscordStandin::new();
    let base = standin.serve().await.unwrap();
    for guild in [None, Some("1000000000000000100".to_owned())] {
        mandala_cli::commands::register_commands::run(
            mandala_cli::commands::register_commands::Args {
                application_id: Some(APP_ID.into()),
                guild,
                dry_run: false,
                bot_token: Some("contract-test-token".into()),
                api_base: base.clone(),
            },
        )
        .await
        .unwrap();
    }
    let puts: Vec<(&'static str, Value)> = sent(&standin)
        .into_iter()
        .filter(|(r, _)| r.method == "PUT")
        .map(|(r, j)| {
            let op = if r.path.contains("/guilds/") {
                contract::BULK_SET_GUILD_COMMANDS
            } else {
                contract::BULK_SET_COMMANDS
            };
            (op, j)
        })
        .collect();
    assert_eq!(puts.len(), 2, "one global and one guild registration");
    puts
}

#[tokio::test]
async fn the_registered_command_definition_is_valid() {
    let Some(api) = api() else { return };
    let mut found = Vec::new();
    for (op, body) in registered().await {
        assert_eq!(body, mandala_model::discord::command::definitions());
        assert_eq!(
            body.as_array()
                .unwrap()
                .iter()
                .map(|c| c["type"].as_u64())
                .collect::<Vec<_>>(),
            [Some(1), Some(3), Some(2)],
            "/mandala, the message menu and the user menu"
        );
        found.extend(problems(
            api,
            "register-commands",
            op,
            &body,
            limits::command_overwrite(&body),
        ));
    }
    assert_clean(&found);
}

/// The definitions, `/mandala` broken by `f`, and what the checks say.
fn broken_definition(api: &Api, f: impl FnOnce(&mut Value)) -> Vec<String> {
    broken_definitions(api, |d| f(&mut d[0]))
}

/// The definitions broken by `f`, and what the checks say about them.
fn broken_definitions(api: &Api, f: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut body = mandala_model::discord::command::definitions();
    f(&mut body);
    problems(
        api,
        "broken",
        contract::BULK_SET_COMMANDS,
        &body,
        limits::command_overwrite(&body),
    )
}

fn option<'a>(def: &'a mut Value, name: &str) -> &'a mut Value {
    def["options"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["name"] == name)
        .unwrap()
}

#[test]
fn the_command_checks_catch_broken_definitions() {
    let Some(api) = api() else { return };
    // Schema: lengths, counts, types, and properties Discord does not know.
    let p = broken_definition(api, |d| d["name"] = json!("m".repeat(33)));
    assert_complaint(&p, &["/0/name: has 33 characters, more than maxLength 32"]);
    let p = broken_definition(api, |d| {
        option(d, "style")["choices"] = json!(
            (0..26)
                .map(|i| json!({"name": format!("s{i}"), "value": format!("s{i}")}))
                .collect::<Vec<_>>()
        );
    });
    assert_complaint(
        &p,
        &["/0/options/4/choices: has 26 items, more than maxItems 25"],
    );
    let p = broken_definition(api, |d| option(d, "seed")["description"] = json!(""));
    assert_complaint(
        &p,
        &["/0/options/0/description: has 0 characters, fewer than minLength 1"],
    );
    let p = broken_definition(api, |d| option(d, "size")["type"] = json!(99));
    assert_complaint(
        &p,
        &["/0/options/7: matches none of the 11 oneOf alternatives"],
    );
    let p = broken_definition(api, |d| option(d, "seed")["max_len"] = json!(64));
    assert_complaint(
        &p,
        &["/0/options/0/max_len: is not a property Discord's schema describes"],
    );
    let p = broken_definition(api, |d| d["contexts"] = json!([0, 0]));
    assert_complaint(&p, &["/0/contexts/1: repeats item 0"]);

    // Limits the schema does not express.
    let p = broken_definition(api, |d| option(d, "seed")["name"] = json!("Seed"));
    assert_complaint(&p, &["/0/options/0/name", "must be lowercase"]);
    let p = broken_definition(api, |d| option(d, "seed")["name"] = json!("the seed"));
    assert_complaint(&p, &["/0/options/0/name", "is not a valid option name"]);
    let p = broken_definition(api, |d| option(d, "layers")["name"] = json!("symmetry"));
    assert_complaint(&p, &["/0/options/2/name", "used twice"]);
    let p = broken_definition(api, |d| d["description"] = json!(""));
    assert_complaint(&p, &["/0/description: has 0 characters"]);
    let p = broken_definition(api, |d| option(d, "mirror")["required"] = json!(true));
    assert_complaint(
        &p,
        &["/0/options/8/required", "required options come first"],
    );
    let p = broken_definition(api, |d| {
        option(d, "style")["choices"][0]["value"] = json!("v".repeat(101));
    });
    assert_complaint(
        &p,
        &["/0/options/4/choices/0/value: has 101 characters, more than 100"],
    );
    let p = broken_definition(api, |d| {
        option(d, "palette")["choices"] = json!([{"name": "ocean", "value": "ocean"}]);
    });
    assert_complaint(&p, &["/0/options/5/autocomplete", "one or the other"]);
    let p = broken_definition(api, |d| option(d, "symmetry")["min_value"] = json!(100));
    assert_complaint(&p, &["/0/options/1/max_value", "below min_value"]);
    // 25 choices of 100 + 100 characters on two options: 10,000 > 8,000.
    let p = broken_definition(api, |d| {
        let choices: Vec<Value> = (0..25)
            .map(|i| json!({"name": format!("{i:0>100}"), "value": format!("{i:0>100}")}))
            .collect();
        option(d, "style")["choices"] = json!(choices);
        option(d, "background")["choices"] = json!(choices);
    });
    assert_complaint(&p, &["/0: spends", "more than 8000"]);
    let p = broken_definition(api, |d| {
        option(d, "seed")["name_localizations"]["de"] = json!("Startwert");
    });
    assert_complaint(
        &p,
        &["/0/options/0/name_localizations/de", "must be lowercase"],
    );

    // The context menus.
    let p = broken_definitions(api, |d| {
        d[2]["name_localizations"]["de"] = json!("m".repeat(33));
    });
    assert_complaint(
        &p,
        &["/2/name_localizations/de: has 33 characters, more than maxLength 32"],
    );
    let p = broken_definitions(api, |d| d[1]["description"] = json!("Remix it"));
    assert_complaint(
        &p,
        &["/1: is a user or message command: it has no description"],
    );
    let p = broken_definitions(api, |d| {
        d[2]["type"] = json!(3);
        d[2]["name"] = d[1]["name"].clone();
    });
    assert_complaint(&p, &["/2/name", "used twice"]);
}

// ------------------------------------------------------------------ interaction responses

/// A push endpoint that takes jobs and never answers, so every queued job
/// stays queued: the per-user cap and the full delivery queue are reached
/// deterministically.
async fn hanging_push_endpoint() -> String {
    let router = axum::Router::new().route(
        "/pubsub/push",
        axum::routing::post(std::future::pending::<()>),
    );
    format!("{}/pubsub/push", serve(router).await)
}

/// A real ingress: at most `per_user` jobs per user, `capacity` held by
/// the delivery.
async fn ingress(key: &SigningKey, dir: &std::path::Path, capacity: u32, per_user: u32) -> String {
    let push = hanging_push_endpoint().await;
    let args = [
        "mandala-ingress".to_owned(),
        format!(
            "--discord-public-key={}",
            hex::encode(key.verifying_key().to_bytes())
        ),
        format!("--discord-application-id={APP_ID}"),
        format!("--local-push-url={push}"),
        format!("--local-push-queue-capacity={capacity}"),
        format!("--max-queued-per-user={per_user}"),
        format!("--local-spool-file={}", dir.join("pending.jsonl").display()),
        format!(
            "--local-dead-letter-file={}",
            dir.join("dead.jsonl").display()
        ),
        "--discord-api-base=http://127.0.0.1:9/api/v10".into(),
    ];
    let config = mandala_ingress::config::Config::try_parse_from(args).unwrap();
    let ingress = mandala_ingress::Ingress::start(config).await.unwrap();
    let base = serve(ingress.router()).await;
    // The ingress lives as long as the test's runtime.
    std::mem::forget(ingress);
    format!("{base}/interactions")
}

/// An interaction of `kind` with `data` from `user`, signed and sent; the
/// answer's raw JSON.
async fn interact(url: &str, key: &SigningKey, kind: u8, data: Value, user: &str) -> Value {
    interact_in(url, key, kind, data, user, "en-US").await
}

/// [`interact`] from a user whose Discord speaks `locale`.
async fn interact_in(
    url: &str,
    key: &SigningKey,
    kind: u8,
    data: Value,
    user: &str,
    locale: &str,
) -> Value {
    let id = snowflake::from_timestamp_ms(now_ms(), u64::from(kind) * 1000 + rand_seq());
    let body = json!({
        "id": id, "application_id": APP_ID, "type": kind, "token": format!("contract-{id}"),
        "version": 1, "guild_id": "1000000000000000100", "channel_id": "1000000000000000200",
        "member": {"user": {"id": user, "username": "ada"}},
        "data": data, "locale": locale, "app_permissions": "0"
    });
    let outgoing = client::Outgoing {
        id,
        token: String::new(),
        body: body.to_string().into_bytes(),
    };
    let answer = client::send(&reqwest::Client::new(), url, key, &outgoing)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    serde_json::from_str(&answer.text).unwrap()
}

fn rand_seq() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn command_data(options: &Value) -> Value {
    json!({"id": "1000000000000000400", "name": "mandala", "type": 1, "options": options})
}

fn click_data(action: ButtonAction, spec: RenderSpec) -> Value {
    let id = ButtonState { action, spec }.encode_lossy().unwrap();
    json!({"custom_id": id, "component_type": 2})
}

/// Every kind of answer the ingress gives, labelled, in the order sent.
async fn ingress_answers() -> Vec<(&'static str, Value)> {
    let key = SigningKey::from_bytes(&[42; 32]);
    let dir = tempfile::tempdir().unwrap();
    let url = ingress(&key, dir.path(), 3, 2).await;
    let ada = "1000000000000000301";
    let bob = "1000000000000000302";
    let cyd = "1000000000000000303";
    let seed = |s: &str| json!([{"name": "seed", "type": 3, "value": s}]);
    let spec = RenderSpec {
        seed: Some(42),
        size: Some(1024),
        ..Default::default()
    };
    let at_max = RenderSpec {
        size: Some(4096),
        ..spec.clone()
    };
    let mut answers = vec![("pong", interact(&url, &key, 1, Value::Null, ada).await)];
    // Two jobs for ada fill her share; the third is refused.
    for label in ["queued", "queued (second)", "refused: your queue is full"] {
        answers.push((
            label,
            interact(&url, &key, 2, command_data(&seed("rose")), ada).await,
        ));
    }
    answers.push((
        "queued: re-roll click",
        interact(
            &url,
            &key,
            3,
            click_data(ButtonAction::Reroll, spec.clone()),
            bob,
        )
        .await,
    ));
    // The delivery now holds 3 jobs, its capacity: the next cannot be queued.
    answers.push((
        "refused: try again",
        interact(&url, &key, 2, command_data(&json!([])), cyd).await,
    ));
    answers.push((
        "refused: bad option",
        interact(
            &url,
            &key,
            2,
            command_data(&json!([{"name": "symmetry", "type": 4, "value": 99}])),
            cyd,
        )
        .await,
    ));
    answers.push((
        "refused: unknown command",
        interact(
            &url,
            &key,
            2,
            json!({"id": "1", "name": "other", "type": 1}),
            cyd,
        )
        .await,
    ));
    answers.push((
        "refused: stale button",
        interact(
            &url,
            &key,
            3,
            json!({"custom_id": "m0:zz", "component_type": 2}),
            cyd,
        )
        .await,
    ));
    answers.push((
        "refused: upscale at the largest size",
        interact(
            &url,
            &key,
            3,
            click_data(ButtonAction::Upscale, at_max),
            cyd,
        )
        .await,
    ));
    for (label, typed) in [("autocomplete: everything", ""), ("autocomplete: oc", "oc")] {
        let data =
            command_data(&json!([{"name": "palette", "type": 3, "value": typed, "focused": true}]));
        answers.push((label, interact(&url, &key, 4, data, cyd).await));
    }
    answers.push((
        "refused: modal",
        interact(
            &url,
            &key,
            5,
            json!({"custom_id": "form", "components": []}),
            cyd,
        )
        .await,
    ));
    answers
}

/// What a user sees of the grid, the buttons, the Remix form and the
/// context menus, in `locale`, labelled.
async fn experience_answers(locale: &str) -> Vec<(String, Value)> {
    let key = SigningKey::from_bytes(&[43; 32]);
    let dir = tempfile::tempdir().unwrap();
    let url = ingress(&key, dir.path(), 1000, 1000).await;
    let ada = "1000000000000000301";
    let spec = RenderSpec {
        seed: Some(42),
        size: Some(1024),
        symmetry: Some(9),
        palette: Some(mandala_model::PaletteChoice::Named("ocean".into())),
        ..Default::default()
    };
    let mut answers = Vec::new();
    let mut ask = async |label: &str, kind: u8, data: Value| {
        let v = interact_in(&url, &key, kind, data, ada, locale).await;
        answers.push((format!("{locale}: {label}"), v));
    };
    ask("queued: a grid", 2, command_data(&json!([]))).await;
    ask(
        "queued: one image",
        2,
        command_data(&json!([{"name": "grid", "type": 5, "value": false}])),
    )
    .await;
    let mut actions = ButtonAction::SINGLE.to_vec();
    actions.extend([ButtonAction::Variation, ButtonAction::NewGrid]);
    for k in [GridKind::Candidates, GridKind::Variations] {
        actions.extend([ButtonAction::Pick(k, 2), ButtonAction::VaryCell(k, 3)]);
    }
    for action in actions {
        let label = if action == ButtonAction::Remix {
            "click remix: the form".to_owned()
        } else {
            format!("click {}", action.name())
        };
        ask(&label, 3, click_data(action, spec.clone())).await;
    }
    // The Remix form, then the form submitted: good and bad.
    let form_id = ButtonState {
        action: ButtonAction::Remix,
        spec: spec.clone(),
    }
    .encode()
    .unwrap();
    let submit = |values: &[(&str, &str)]| {
        let rows: Vec<Value> = values
            .iter()
            .map(|(k, v)| json!({"type": 18, "component": {"type": 4, "custom_id": k, "value": v}}))
            .collect();
        json!({"custom_id": form_id, "components": rows})
    };
    ask(
        "queued: remix form submitted",
        5,
        submit(&[("seed", "7"), ("canvas", "512 · transparent")]),
    )
    .await;
    ask(
        "refused: remix form with a bad field",
        5,
        submit(&[("shape", "8 · 99")]),
    )
    .await;
    // The message menu on one of the bot's images, and on someone else's.
    let pick = ButtonState {
        action: ButtonAction::Pick(GridKind::Candidates, 1),
        spec: spec.clone(),
    }
    .encode()
    .unwrap();
    let message = |id: &str, author: &str, components: Value| {
        json!({"id": "1000000000000000401", "name": "Remix mandala", "type": 3, "target_id": id,
        "resolved": {"messages": {id: {
            "id": id, "channel_id": "1000000000000000200", "content": "",
            "author": {"id": author, "username": "Mandala", "bot": true},
            "components": components
        }}}})
    };
    let row = json!([{"type": 1, "components": [
        {"type": 2, "style": 2, "label": "U1", "custom_id": pick}
    ]}]);
    ask(
        "message menu: the remix form",
        2,
        message("1000000000000000700", APP_ID, row),
    )
    .await;
    ask(
        "refused: message menu on another's message",
        2,
        message("1000000000000000701", "1000000000000000009", json!([])),
    )
    .await;
    // The user menu, on a user with an accent colour and a markdown name.
    let user = "80351110224678912";
    ask(
        "queued: user menu",
        2,
        json!({"id": "1000000000000000402", "name": "Mandala for this user", "type": 2,
        "target_id": user, "resolved": {"users": {user: {
            "id": user, "username": "nelly", "global_name": "Nelly *_`", "accent_color": 0x3498db
        }}}}),
    )
    .await;
    answers
}

#[tokio::test]
async fn every_answer_of_the_grid_buttons_forms_and_menus_is_valid_in_every_language() {
    let Some(api) = api() else { return };
    let mut found = Vec::new();
    for locale in locales() {
        let s = mandala_model::i18n::strings(Some(locale));
        let answers = experience_answers(locale).await;
        // The answers are what they are labelled as, in the user's language.
        for (label, v) in &answers {
            let kind = v["type"].as_u64();
            if label.contains("refused") {
                assert_eq!(
                    (kind, &v["data"]["flags"]),
                    (Some(4), &json!(64)),
                    "{label}: {v}"
                );
            } else if label.contains("form") && !label.contains("submitted") {
                assert_eq!(kind, Some(9), "{label}: a modal: {v}");
                assert_eq!(v["data"]["components"].as_array().unwrap().len(), 5);
            } else {
                assert_eq!(kind, Some(4), "{label}: {v}");
                assert!(v["data"].get("flags").is_none(), "{label}: visible: {v}");
                let content = v["data"]["content"].as_str().unwrap();
                assert!(content.contains(s.ready_in), "{label}: {content}");
            }
            found.extend(response_problems(api, label, v));
        }
    }
    assert_clean(&found);
}

#[tokio::test]
async fn every_answer_of_the_ingress_is_a_valid_interaction_response() {
    let Some(api) = api() else { return };
    let answers = ingress_answers().await;
    // The answers are the kinds they are labelled as (so none is missed).
    let by: BTreeMap<&str, &Value> = answers.iter().map(|(l, v)| (*l, v)).collect();
    assert_eq!(by["pong"], &json!({"type": 1}));
    let queued = by["queued"]["data"]["content"].as_str().unwrap();
    assert!(queued.contains("⏱️ ready in"), "{queued}");
    assert_eq!(by["queued"]["data"].get("flags"), None, "visible");
    assert!(
        by["queued: re-roll click"]["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Re-rolling")
    );
    for (label, v) in &answers {
        if label.starts_with("refused") {
            assert_eq!(v["data"]["flags"], 64, "{label}: {v}");
        }
    }
    assert!(
        by["refused: your queue is full"]["data"]["content"]
            .as_str()
            .unwrap()
            .contains("already have 2")
    );
    assert!(
        by["refused: try again"]["data"]["content"]
            .as_str()
            .unwrap()
            .contains("try again")
    );
    assert_eq!(by["autocomplete: everything"]["type"], 8);
    assert_eq!(
        by["autocomplete: everything"]["data"]["choices"]
            .as_array()
            .unwrap()
            .len(),
        mandala_model::palette::names().count().min(25),
        "every palette, at most 25"
    );
    assert_eq!(
        by["autocomplete: oc"]["data"]["choices"][0]["value"],
        "ocean"
    );

    let mut found = Vec::new();
    for (label, v) in &answers {
        found.extend(response_problems(api, label, v));
    }
    assert_clean(&found);
}

/// What the description and the limits say about an interaction response.
fn response_problems(api: &Api, label: &str, response: &Value) -> Vec<String> {
    problems(
        api,
        label,
        contract::INTERACTION_RESPONSE,
        response,
        limits::interaction_response(response),
    )
}

/// `response` broken by `f`, and what the checks say about it.
fn broken_response(api: &Api, response: &Value, f: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut v = response.clone();
    f(&mut v);
    response_problems(api, "broken", &v)
}

#[tokio::test]
async fn the_response_checks_catch_broken_answers() {
    let Some(api) = api() else { return };
    let answers: BTreeMap<&str, Value> = ingress_answers().await.into_iter().collect();
    let (pong, queued, refusal, choices) = (
        &answers["pong"],
        &answers["queued"],
        &answers["refused: bad option"],
        &answers["autocomplete: everything"],
    );
    // Schema.
    let p = broken_response(api, pong, |v| v["data"] = json!({}));
    assert_complaint(&p, &["/data: is not a property Discord's schema describes"]);
    let p = broken_response(api, pong, |v| v["type"] = json!(3));
    assert_complaint(&p, &["(root): matches none of the 7 anyOf alternatives"]);
    let p = broken_response(api, queued, |v| {
        v["data"]["content"] = json!("x".repeat(2001));
    });
    assert_complaint(
        &p,
        &["/data/content: has 2001 characters, more than maxLength 2000"],
    );
    let p = broken_response(api, refusal, |v| v["data"]["ephemeral"] = json!(true));
    assert_complaint(&p, &["/data/ephemeral: is not a property"]);
    let p = broken_response(api, refusal, |v| {
        v["data"]["allowed_mentions"]["parse"] = json!(["user"]);
    });
    assert_complaint(&p, &["/data/allowed_mentions/parse/0"]);
    let p = broken_response(api, choices, |v| {
        let one = v["data"]["choices"][0].clone();
        v["data"]["choices"] = json!(vec![one; 26]);
    });
    assert_complaint(&p, &["/data/choices: has 26 items, more than maxItems 25"]);
    let p = broken_response(api, choices, |v| {
        v["data"]["choices"][0]["name"] = json!("n".repeat(101));
    });
    assert_complaint(&p, &["/data/choices/0/name: has 101 characters"]);
    // Limits.
    let p = broken_response(api, choices, |v| {
        v["data"]["choices"][0]["value"] = json!("v".repeat(101));
    });
    assert_complaint(
        &p,
        &["/data/choices/0/value: has 101 characters, more than 100"],
    );
    let p = broken_response(api, refusal, |v| v["data"]["flags"] = json!(64 | 2));
    assert_complaint(&p, &["/data/flags", "cannot carry"]);
    let p = broken_response(api, queued, |v| v["data"]["content"] = json!(""));
    assert_complaint(&p, &["/data: is an empty message"]);
    let p = broken_response(api, queued, |v| {
        v["data"]["components"] =
            json!([{"type": 2, "style": 2, "label": "Go", "custom_id": "go"}]);
    });
    assert_complaint(&p, &["/data/components/0: is not an action row"]);

    // The Remix form (a modal).
    let forms = experience_answers("en-US").await;
    let form = &forms
        .iter()
        .find(|(l, _)| l.ends_with("click remix: the form"))
        .unwrap()
        .1;
    assert!(broken_response(api, form, |_| {}).is_empty());
    let p = broken_response(api, form, |v| {
        let row = v["data"]["components"][0].clone();
        v["data"]["components"].as_array_mut().unwrap().push(row);
    });
    assert_complaint(
        &p,
        &["/data/components: has 6 components; a modal has 1 to 5"],
    );
    let p = broken_response(api, form, |v| v["data"]["title"] = json!("t".repeat(46)));
    assert_complaint(&p, &["/data/title: has 46 characters"]);
    let p = broken_response(api, form, |v| {
        v["data"]["components"][1]["components"][0]["label"] = json!("l".repeat(46));
    });
    assert_complaint(
        &p,
        &["/data/components/1/components/0/label: has 46 characters"],
    );
    let p = broken_response(api, form, |v| {
        v["data"]["components"][1]["components"][0]["custom_id"] = json!("seed");
    });
    assert_complaint(&p, &["\"seed\" is used twice"]);
    let p = broken_response(api, form, |v| {
        let input = &mut v["data"]["components"][0]["components"][0];
        input["value"] = json!("9".repeat(30));
        input["max_length"] = json!(20);
    });
    assert_complaint(
        &p,
        &["/data/components/0/components/0/value: has 30 characters"],
    );
    let p = broken_response(api, form, |v| {
        let input = v["data"]["components"][0]["components"][0].clone();
        v["data"]["components"][0]["components"] = json!([input.clone(), input]);
    });
    assert_complaint(&p, &["/data/components/0: holds 2 components"]);
}

// ------------------------------------------------------------------ the worker's messages

/// A worker replying to a stand-in, and the stand-in's API base.
async fn worker(dir: &std::path::Path) -> (String, DiscordStandin, String) {
    let standin = DiscordStandin::new();
    let api_base = standin.serve().await.unwrap();
    let mut config = mandala_worker::Config::local(dir, &api_base);
    config.render_concurrency = Some(2);
    let worker = mandala_worker::Worker::start(config).await.unwrap();
    let url = serve(worker.router()).await;
    std::mem::forget(worker);
    (url, standin, api_base)
}

fn interaction_reply(token: &str) -> Reply {
    Reply::Interaction(InteractionReply {
        application_id: APP_ID.into(),
        interaction_id: snowflake::from_timestamp_ms(now_ms() - 1000, rand_seq()).into(),
        token: token.into(),
    })
}

fn job(spec: RenderSpec, reply: Reply, kind: JobKind) -> Job {
    let mut j = Job::new(spec, reply, kind);
    j.requested_by = Some(Requester {
        user_id: Some("80351110224678912".into()),
        username: Some("ada".into()),
        ..Default::default()
    });
    j
}

async fn push(worker: &str, path: &str, job: &Job, message_id: &str, attempt: u32) {
    let envelope = PushEnvelope::wrap(
        job,
        message_id,
        "projects/p/subscriptions/mandala-jobs-push",
        "2026-11-24T10:00:00.000Z",
        BTreeMap::new(),
        Some(attempt),
    );
    let r = reqwest::Client::new()
        .post(format!("{worker}{path}"))
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

/// Which operation a request to the stand-in is, and how it was sent.
fn operation(r: &RecordedRequest) -> (&'static str, Via) {
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", _) => (contract::EXECUTE_WEBHOOK, Via::ChannelWebhookPost),
        ("PATCH", p) if p.ends_with("/messages/@original") => {
            (contract::EDIT_ORIGINAL, Via::InteractionEdit)
        }
        ("PATCH", _) => (contract::EDIT_WEBHOOK_MESSAGE, Via::ChannelWebhookEdit),
        (m, p) => panic!("the worker sent an unexpected {m} {p}"),
    }
}

/// Every message body the worker sent, labelled by what it was.
async fn worker_messages() -> Vec<(String, &'static str, Via, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let (url, standin, api_base) = worker(dir.path()).await;
    let small = |seed| RenderSpec {
        seed: Some(seed),
        size: Some(256),
        ..Default::default()
    };
    // In every language: a grid of candidates, a grid of variations, and
    // one image.
    for locale in locales() {
        for (name, grid) in [
            ("grid", Some(GridKind::Candidates)),
            ("variations", Some(GridKind::Variations)),
            ("image", None),
        ] {
            let mut j = job(
                small(1),
                interaction_reply(&format!("{name}-{locale}")),
                JobKind::Command,
            );
            j.grid = grid;
            j.locale = Some(locale.to_owned());
            push(&url, "/pubsub/push", &j, &format!("m-{name}-{locale}"), 1).await;
        }
    }
    // An SVG at the largest size: no embedded image, two buttons.
    let svg = RenderSpec {
        format: Some(Format::Svg),
        size: Some(4096),
        ..small(2)
    };
    push(
        &url,
        "/pubsub/push",
        &job(svg, interaction_reply("svg"), JobKind::Upscale),
        "m-svg",
        1,
    )
    .await;
    // The mandala of the day through a channel webhook, then redelivered.
    let webhook = Reply::WebhookUrl(format!(
        "{api_base}/webhooks/1000000000000000500/hook-token"
    ));
    let daily = job(small(3), webhook, JobKind::Schedule);
    push(&url, "/pubsub/push", &daily, "m-daily", 1).await;
    push(&url, "/pubsub/push", &daily, "m-daily", 2).await;
    // Last words: a spec the worker refuses, and a dead letter.
    let bad = RenderSpec {
        size: Some(99_999),
        ..small(4)
    };
    push(
        &url,
        "/pubsub/push",
        &job(bad, interaction_reply("invalid"), JobKind::Command),
        "m-bad",
        1,
    )
    .await;
    push(
        &url,
        "/pubsub/dead-letter",
        &job(small(5), interaction_reply("dead"), JobKind::Command),
        "m-dead",
        5,
    )
    .await;

    let requests = sent(&standin);
    for (r, _) in &requests {
        assert_eq!(r.status, 200, "{} {}: {:?}", r.method, r.path, r.error);
    }
    requests
        .into_iter()
        .map(|(r, j)| {
            let (op, via) = operation(&r);
            let token = r.path.split('/').nth(3).unwrap_or_default().to_owned();
            (format!("{} {token}", r.method), op, via, j)
        })
        .collect()
}

#[tokio::test]
async fn every_message_the_worker_sends_is_valid() {
    let Some(api) = api() else { return };
    let messages = worker_messages().await;
    let of = |token: &str| -> Vec<&Value> {
        messages
            .iter()
            .filter(|(l, ..)| l.ends_with(&format!(" {token}")))
            .map(|(.., v)| v)
            .collect()
    };
    // What was captured is what the test meant to capture.
    let buttons = |v: &Value| -> Vec<usize> {
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["components"].as_array().unwrap().len())
            .collect()
    };
    for locale in locales() {
        let image = of(&format!("image-{locale}"));
        assert_eq!(
            buttons(image[0]),
            [5],
            "{locale}: Subtle, Strong, Upscale, Re-roll, Remix"
        );
        assert!(
            image[0]["embeds"][0]["image"]["url"]
                .as_str()
                .unwrap()
                .starts_with("attachment://")
        );
        for grid in ["grid", "variations"] {
            let v = of(&format!("{grid}-{locale}"));
            assert_eq!(
                buttons(v[0]),
                [4, 4, 2],
                "{locale}: U1–U4, V1–V4, 🔄 and Remix"
            );
        }
    }
    assert_eq!(buttons(of("svg")[0]), [4], "no Upscale at the largest size");
    let daily: Vec<_> = messages
        .iter()
        .filter(|(l, ..)| l.ends_with(" hook-token"))
        .collect();
    assert_eq!(daily.len(), 2, "a post, then the redelivery's edit");
    assert_eq!(
        (daily[0].1, daily[1].1),
        (contract::EXECUTE_WEBHOOK, contract::EDIT_WEBHOOK_MESSAGE)
    );
    assert!(
        of("invalid")[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("❌ Cannot draw that")
    );
    assert!(of("dead")[0]["content"].as_str().unwrap().starts_with("⚠️"));

    let mut found = Vec::new();
    for (label, op, via, v) in &messages {
        found.extend(problems(api, label, op, v, limits::message(v, *via)));
    }
    assert_clean(&found);
}

#[test]
fn every_last_word_is_a_valid_edit() {
    use mandala_worker::reply::last_word::{Ending, Why, message};
    let Some(api) = api() else { return };
    let long = "x".repeat(3000);
    let endings = [
        Ending::InvalidSpec("size must be in 64..=4096 (you gave 99999)".into()),
        Ending::RenderFailed("the render thread panicked".into()),
        Ending::Refused("interaction response 400 Bad Request code 50035".into()),
        Ending::GaveUp {
            attempts: 5,
            why: Why::Store,
        },
        Ending::DeadLettered { attempts: Some(5) },
        Ending::DeadLettered { attempts: None },
        Ending::InvalidSpec(long),
    ];
    let mut found = Vec::new();
    for lang in Lang::ALL {
        for ending in &endings {
            let v = serde_json::to_value(message(ending, lang.strings()).payload).unwrap();
            let label = format!("{lang:?} last word {ending:?}");
            found.extend(problems(
                api,
                &label.chars().take(60).collect::<String>(),
                contract::EDIT_ORIGINAL,
                &v,
                limits::message(&v, Via::InteractionEdit),
            ));
        }
    }
    assert_clean(&found);
}

/// `payload` broken by `f`, checked as sent `via` to `operation`.
fn broken_message(
    api: &Api,
    payload: &Value,
    operation: &str,
    via: Via,
    f: impl FnOnce(&mut Value),
) -> Vec<String> {
    let mut v = payload.clone();
    f(&mut v);
    problems(api, "broken", operation, &v, limits::message(&v, via))
}

#[tokio::test]
async fn the_message_checks_catch_broken_payloads() {
    let Some(api) = api() else { return };
    let messages = worker_messages().await;
    let image = &messages
        .iter()
        .find(|(l, ..)| l.ends_with(" image-en-US"))
        .unwrap()
        .3;
    let post = &messages
        .iter()
        .find(|(_, op, ..)| *op == contract::EXECUTE_WEBHOOK)
        .unwrap()
        .3;
    let edit = |f: fn(&mut Value)| {
        broken_message(api, image, contract::EDIT_ORIGINAL, Via::InteractionEdit, f)
    };
    let button = json!({"type": 2, "style": 2, "label": "Go", "custom_id": "go"});

    // Schema: the attachment id Discord types as a snowflake string.
    let p = edit(|v| v["attachments"][0]["id"] = json!(0));
    assert_complaint(&p, &["/attachments/0/id: is the number 0, not string"]);
    let p = edit(|v| v["embeds"][0]["title"] = json!("t".repeat(257)));
    assert_complaint(
        &p,
        &["/embeds/0/title: has 257 characters, more than maxLength 256"],
    );
    let p = edit(|v| v["embeds"][0]["color"] = json!(0x0100_0000));
    assert_complaint(
        &p,
        &["/embeds/0/color: is 16777216, more than maximum 16777215"],
    );
    let p = edit(|v| v["components"][0]["components"][0]["custom_id"] = json!("c".repeat(101)));
    assert_complaint(
        &p,
        &["/components/0/components/0/custom_id: has 101 characters"],
    );
    let p = edit(|v| {
        let b = v["components"][0]["components"][0].clone();
        v["components"][0]["components"] =
            json!([b.clone(), b.clone(), b.clone(), b.clone(), b.clone(), b]);
    });
    assert_complaint(
        &p,
        &["/components/0/components: has 6 items, more than maxItems 5"],
    );
    let p = edit(|v| {
        let row = v["components"][0].clone();
        v["components"][0]["components"] = json!([row]);
    });
    assert_complaint(
        &p,
        &["/components/0/components/0: matches none of the 6 oneOf alternatives"],
    );
    let p = edit(|v| v["embed"] = v["embeds"][0].clone());
    assert_complaint(&p, &["/embed: is not a property"]);
    let p = edit(|v| v["embeds"][0]["image"]["url"] = json!("not a url"));
    assert_complaint(
        &p,
        &["/embeds/0/image/url: is \"not a url\", not a valid uri"],
    );

    // Limits: nesting and counts.
    let p = edit(|v| {
        let row = v["components"][0].clone();
        v["components"] = json!([
            row.clone(),
            row.clone(),
            row.clone(),
            row.clone(),
            row.clone(),
            row
        ]);
    });
    assert_complaint(&p, &["/components: has 6 rows, more than 5"]);
    let p = edit(|v| v["components"] = json!([v["components"][0]["components"][0].clone()]));
    assert_complaint(&p, &["/components/0: is not an action row"]);
    let p = edit(|v| {
        let first = v["components"][0]["components"][0]["custom_id"].clone();
        v["components"][0]["components"][1]["custom_id"] = first;
    });
    assert_complaint(&p, &["/components/0/components/1/custom_id", "used twice"]);
    let p = edit(|v| v["components"][0]["components"][0]["url"] = json!("https://example.com"));
    assert_complaint(
        &p,
        &["/components/0/components/0: is an interactive button: it needs a custom_id and no url"],
    );
    let p = edit(|v| {
        v["components"][0]["components"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"type": 3, "custom_id": "pick", "options": [{"label": "a", "value": "a"}]}),
            );
    });
    assert_complaint(
        &p,
        &["/components/0/components", "a select fills its row alone"],
    );
    let p = edit(|v| {
        v["embeds"] = json!([{"description": "d".repeat(4000)}, {"description": "d".repeat(2001)}]);
        v["attachments"] = json!([]);
    });
    assert_complaint(
        &p,
        &["/embeds: have 6001 characters together, more than 6000"],
    );
    let p = edit(|v| v["attachments"][0]["filename"] = json!("other.png"));
    assert_complaint(
        &p,
        &["/embeds/0/image/url", "not among the message's attachments"],
    );
    let p = edit(|v| v["flags"] = json!(64));
    assert_complaint(&p, &["/flags", "InteractionEdit"]);
    let p = edit(|v| {
        v["allowed_mentions"] = json!({"parse": ["users"], "users": ["80351110224678912"]});
    });
    assert_complaint(
        &p,
        &["/allowed_mentions", "Discord refuses the two together"],
    );
    let p = edit(|v| {
        for k in ["content", "embeds", "components", "attachments"] {
            v[k] = if k == "content" { json!("") } else { json!([]) };
        }
    });
    assert_complaint(&p, &["(root): is an empty message"]);

    // A channel webhook the application does not own cannot carry buttons.
    let p = broken_message(
        api,
        post,
        contract::EXECUTE_WEBHOOK,
        Via::ChannelWebhookPost,
        |v| {
            v["components"] = json!([{"type": 1, "components": [button]}]);
        },
    );
    assert_complaint(
        &p,
        &[
            "/components/0/components/0",
            "channel webhook the application does not own",
        ],
    );
}

// ------------------------------------------------------------------ waiting notices

/// The PATCH the ledger's sweeper sends for an overdue job of a user who
/// speaks `locale`.
async fn waiting_notice(locale: &str) -> Value {
    use mandala_ledger::backend::memory::MemoryBackend;
    use mandala_ledger::{Admission, AdmitRequest, Ledger, NoticeTarget, Notifier, Policy};
    let standin = DiscordStandin::new();
    let base = standin.serve().await.unwrap();
    let ledger = Ledger::new(
        Arc::new(MemoryBackend::new()),
        Policy {
            max_per_user: 5,
            max_wait: Duration::from_secs(14 * 60),
            refresh: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
            stall_after: None,
        },
    );
    let now = now_ms();
    let resolved = RenderSpec {
        seed: Some(42),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    let admitted = ledger
        .admit(
            AdmitRequest {
                user: "80351110224678912".into(),
                job: snowflake::from_timestamp_ms(now, 1).into(),
                cost: resolved.cost().0,
                expires_ms: now + 14 * 60 * 1000,
                label: format!("🌀 Rendering mandala · {}", resolved.summary()),
                reply: Some(NoticeTarget {
                    application_id: APP_ID.into(),
                    token: "notice".into(),
                }),
                now_ms: now,
                locale: locale.to_owned(),
            },
            tokio::time::Instant::now() + Duration::from_secs(5),
        )
        .await;
    assert!(matches!(admitted, Admission::Accepted { .. }));
    let notifier = Notifier::new(
        reqwest::Url::parse(&base).unwrap(),
        mandala_model::discord::user_agent(),
    )
    .unwrap();
    // Minutes later the job is overdue and its user is told (from totals
    // as fresh as a running sweeper keeps them).
    let later = now + 5 * 60 * 1000;
    ledger.snapshot(later).await.unwrap();
    let done = mandala_ledger::notice::sweep(&ledger, &notifier, later).await;
    assert_eq!(done.sent, 1);
    let (r, json) = sent(&standin).pop().unwrap();
    assert_eq!(
        (r.method.as_str(), r.status),
        ("PATCH", 200),
        "{:?}",
        r.error
    );
    assert!(r.path.ends_with("/notice/messages/@original"), "{}", r.path);
    json
}

#[tokio::test]
async fn the_waiting_notice_is_a_valid_edit() {
    let Some(api) = api() else { return };
    let mut found = Vec::new();
    for locale in locales() {
        let notice = waiting_notice(locale).await;
        found.extend(problems(
            api,
            &format!("waiting notice ({locale})"),
            contract::EDIT_ORIGINAL,
            &notice,
            limits::message(&notice, Via::InteractionEdit),
        ));
    }
    assert_clean(&found);
    let notice = waiting_notice("en-US").await;
    assert!(
        notice["content"]
            .as_str()
            .unwrap()
            .contains("Still in the queue")
    );
    let p = broken_message(
        api,
        &notice,
        contract::EDIT_ORIGINAL,
        Via::InteractionEdit,
        |v| {
            v["content"] = json!("x".repeat(2001));
        },
    );
    assert_complaint(
        &p,
        &["/content: has 2001 characters, more than maxLength 2000"],
    );
}
