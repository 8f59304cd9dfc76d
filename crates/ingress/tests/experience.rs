//! The Midjourney-style interface as a Discord user meets it at the
//! ingress: grid or single image, the Remix form (from a button and from
//! the message menu), the user menu, and answers in the user's language.
//! Jobs are checked where they land (a real push receiver).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod common;

use std::time::Duration;

use common::*;
use mandala_ingress::Ingress;
use mandala_model::job::JobKind;
use mandala_model::{
    ButtonAction, ButtonState, Format, GridKind, Job, PaletteChoice, RenderSpec, Rgb,
};
use serde_json::{Value, json};

struct Bot {
    ingress: Ingress,
    receiver: Receiver,
    key: ed25519_dalek::SigningKey,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start(tweak: impl FnOnce(&mut mandala_ingress::config::Config)) -> Bot {
        let receiver = Receiver::start(vec![]).await;
        let dir = tempfile::tempdir().unwrap();
        let key = key(1);
        let mut config = config(&key, &receiver.url, dir.path());
        tweak(&mut config);
        Bot {
            ingress: Ingress::start(config).await.unwrap(),
            receiver,
            key,
            _dir: dir,
        }
    }

    async fn send(&self, body: &Value) -> Value {
        answer(&self.ingress, &self.key, body).await
    }

    async fn job(&self, n: usize) -> Job {
        self.receiver.wait_for(n).await[n - 1].decode_job().unwrap()
    }

    async fn assert_no_more_than(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(self.receiver.count(), n, "a job was queued");
    }
}

fn in_locale(mut body: Value, locale: &str) -> Value {
    body["locale"] = json!(locale);
    body
}

fn remix_button(spec: RenderSpec) -> String {
    ButtonState {
        action: ButtonAction::Remix,
        spec,
    }
    .encode()
    .unwrap()
}

fn submit(id: &str, custom_id: &str, values: &[(&str, &str)]) -> Value {
    // The newer layout: each input inside a label component.
    let components: Vec<Value> = values
        .iter()
        .map(|(k, v)| json!({"type": 18, "component": {"type": 4, "custom_id": k, "value": v}}))
        .collect();
    json!({
        "id": id, "application_id": APP_ID, "type": 5, "token": format!("tok-{id}"),
        "version": 1, "channel_id": "22", "user": {"id": "33", "username": "ada"},
        "data": {"custom_id": custom_id, "components": components}
    })
}

fn menu(id: &str, name: &str, kind: u8, target: &str, resolved: Value) -> Value {
    json!({
        "id": id, "application_id": APP_ID, "type": 2, "token": format!("tok-{id}"),
        "version": 1, "guild_id": "11", "channel_id": "22",
        "member": {"user": {"id": "33", "username": "ada"}},
        "data": {"id": "45", "name": name, "type": kind, "target_id": target, "resolved": resolved}
    })
}

/// The inputs of a modal answer, by `custom_id`.
fn modal_inputs(v: &Value) -> Vec<(String, String)> {
    assert_eq!(v["type"], 9, "not a modal: {v}");
    v["data"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let input = &row["components"][0];
            assert_eq!(input["type"], 4);
            (
                input["custom_id"].as_str().unwrap().to_owned(),
                input["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn grid_false_or_the_configuration_gives_one_image() {
    let bot = Bot::start(|_| {}).await;
    bot.send(&command(
        &snowflake(),
        json!([{"name": "grid", "type": 5, "value": false}]),
    ))
    .await;
    let job = bot.job(1).await;
    assert_eq!(job.grid, None);
    // A grid needs room: a 128 px request is one image even by default.
    bot.send(&command(
        &snowflake(),
        json!([{"name": "size", "type": 4, "value": 128}]),
    ))
    .await;
    assert_eq!(bot.job(2).await.grid, None);

    let single =
        Bot::start(|c| c.grid_commands = mandala_ingress::config::GridDefaults::default()).await;
    let v = single.send(&command(&snowflake(), json!([]))).await;
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("🌀 Rendering mandala · seed "),
        "{v}"
    );
    assert_eq!(single.job(1).await.grid, None);
    single
        .send(&command(
            &snowflake(),
            json!([{"name": "grid", "type": 5, "value": true}]),
        ))
        .await;
    assert_eq!(single.job(2).await.grid, Some(GridKind::Candidates));
}

#[tokio::test]
async fn the_format_option_keeps_png_and_svg_a_choice_away() {
    let bot = Bot::start(|_| {}).await;
    let format = |f: &str| json!([{"name": "format", "type": 3, "value": f}]);
    bot.send(&command(&snowflake(), format("png"))).await;
    let job = bot.job(1).await;
    assert_eq!(
        (job.spec.format, job.grid),
        (Some(Format::Png), Some(GridKind::Candidates)),
        "a grid of PNGs"
    );
    // A grid is a raster image: SVG is one image.
    bot.send(&command(&snowflake(), format("svg"))).await;
    let job = bot.job(2).await;
    assert_eq!((job.spec.format, job.grid), (Some(Format::Svg), None));
    let v = bot.send(&command(&snowflake(), format("gif"))).await;
    assert!(ephemeral_text(&v).contains("format"), "{v}");
    bot.assert_no_more_than(2).await;
}

#[tokio::test]
async fn remix_opens_a_prefilled_form_and_its_submission_queues_the_edit() {
    let bot = Bot::start(|_| {}).await;
    let spec = RenderSpec {
        seed: Some(42),
        variant: Some(7),
        symmetry: Some(9),
        size: Some(512),
        ..Default::default()
    };
    let id = remix_button(spec.clone());
    let v = bot.send(&click(&snowflake(), &id)).await;
    let inputs = modal_inputs(&v);
    let names: Vec<&str> = inputs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["seed", "shape", "style", "palette", "canvas"]);
    assert_eq!(inputs[0].1, "42");
    assert!(inputs[1].1.starts_with("9 · "), "{inputs:?}");
    assert_eq!(v["data"]["custom_id"], id.as_str());
    bot.assert_no_more_than(0).await;

    // The user changes the symmetry and the canvas and submits.
    let shape = inputs[1].1.replacen('9', "12", 1);
    let sent = snowflake();
    let v = bot
        .send(&submit(
            &sent,
            &id,
            &[
                ("seed", "42"),
                ("shape", &shape),
                ("style", &inputs[2].1),
                ("palette", "ocean"),
                ("canvas", "768 · transparent"),
            ],
        ))
        .await;
    assert!(v["data"]["flags"].is_null(), "a visible answer: {v}");
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("🎛️ Remixing · "),
        "{v}"
    );
    let job = bot.job(1).await;
    assert_eq!(job.kind, JobKind::Remix);
    assert_eq!(job.grid, Some(GridKind::Candidates));
    assert_eq!(
        (
            job.spec.seed,
            job.spec.variant,
            job.spec.symmetry,
            job.spec.size
        ),
        (Some(42), Some(7), Some(12), Some(768))
    );
    assert_eq!(job.spec.palette, Some(PaletteChoice::Named("ocean".into())));

    // Bad input is refused privately, naming the field; nothing is queued.
    let v = bot
        .send(&submit(&snowflake(), &id, &[("shape", "8 · 99")]))
        .await;
    let text = ephemeral_text(&v);
    assert!(text.contains("layers") && text.contains("1..=12"), "{text}");
    let v = bot
        .send(&submit(&snowflake(), "not-a-form", &[("seed", "1")]))
        .await;
    ephemeral_text(&v);
    bot.assert_no_more_than(1).await;
}

#[tokio::test]
async fn the_message_menu_remixes_a_mandala_and_refuses_other_messages() {
    let bot = Bot::start(|_| {}).await;
    let spec = RenderSpec {
        seed: Some(5),
        layers: Some(3),
        ..Default::default()
    };
    let pick = ButtonState {
        action: ButtonAction::Pick(GridKind::Candidates, 1),
        spec: spec.clone(),
    }
    .encode()
    .unwrap();
    let message = json!({"messages": {"77": {
        "id": "77", "channel_id": "22", "content": "a grid",
        "author": {"id": APP_ID, "username": "Mandala", "bot": true},
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "label": "U1", "custom_id": pick}
        ]}]
    }}});
    let v = bot
        .send(&menu(&snowflake(), "Remix mandala", 3, "77", message))
        .await;
    let inputs = modal_inputs(&v);
    assert_eq!(inputs[0].1, "5");
    assert!(inputs[1].1.contains(" · 3 · "), "{inputs:?}");
    let form = ButtonState::parse(v["data"]["custom_id"].as_str().unwrap()).unwrap();
    assert_eq!((form.action, form.spec), (ButtonAction::Remix, spec));

    let other = json!({"messages": {"78": {"id": "78", "channel_id": "22", "content": "hello",
        "author": {"id": "9", "username": "someone"}, "components": []}}});
    let v = bot
        .send(&menu(&snowflake(), "Remix mandala", 3, "78", other))
        .await;
    assert_eq!(
        ephemeral_text(&v),
        mandala_model::i18n::strings(None).not_my_mandala
    );
    bot.assert_no_more_than(0).await;
}

#[tokio::test]
async fn the_user_menu_draws_that_users_mandala_in_their_colour() {
    let bot = Bot::start(|_| {}).await;
    let users = json!({"users": {"80351110224678912": {
        "id": "80351110224678912", "username": "nelly", "global_name": "Nelly *", "accent_color": 0x3498db
    }}});
    let v = bot
        .send(&menu(
            &snowflake(),
            "Mandala for this user",
            2,
            "80351110224678912",
            users.clone(),
        ))
        .await;
    let content = v["data"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("🌀 A mandala for Nelly \\*"),
        "{content}"
    );
    let job = bot.job(1).await;
    assert_eq!(job.kind, JobKind::ForUser);
    assert_eq!(job.spec.seed, Some(80351110224678912));
    let Some(PaletteChoice::Custom(colours)) = &job.spec.palette else {
        panic!("no palette from the accent colour: {:?}", job.spec.palette);
    };
    assert_eq!(colours[0], Rgb::hex(0x3498db));
    // The same person always gets the same mandala.
    bot.send(&menu(
        &snowflake(),
        "Mandala for this user",
        2,
        "80351110224678912",
        users,
    ))
    .await;
    assert_eq!(bot.job(2).await.spec, job.spec);
}

#[tokio::test]
async fn every_answer_is_in_the_users_language() {
    let bot = Bot::start(|_| {}).await;
    for (locale, n) in [("de", 1), ("ja", 2), ("pt-BR", 3), ("es-419", 4), ("fr", 5)] {
        let s = mandala_model::i18n::strings(Some(locale));
        let v = bot
            .send(&in_locale(command(&snowflake(), json!([])), locale))
            .await;
        let content = v["data"]["content"].as_str().unwrap();
        assert!(content.starts_with(s.ack_grid), "{locale}: {content}");
        assert!(content.contains(s.ready_in), "{locale}: {content}");
        let job = bot.job(n).await;
        assert_eq!(
            job.locale.as_deref(),
            Some(locale),
            "the worker answers in it too"
        );
        // A private refusal too.
        let v = bot
            .send(&in_locale(
                command(
                    &snowflake(),
                    json!([{"name": "palette", "type": 3, "value": "mauve"}]),
                ),
                locale,
            ))
            .await;
        ephemeral_text(&v);
        let useless = ButtonState {
            action: ButtonAction::Upscale,
            spec: RenderSpec {
                size: Some(4096),
                ..Default::default()
            },
        }
        .encode()
        .unwrap();
        let v = bot
            .send(&in_locale(click(&snowflake(), &useless), locale))
            .await;
        assert_eq!(ephemeral_text(&v), s.largest_size);
    }
}

/// Issue #24: the first answer names what will come. An SVG, or a size
/// under a grid's minimum, is one image whatever was asked.
#[tokio::test]
async fn the_answer_promises_one_image_when_one_will_come() {
    let bot = Bot::start(|_| {}).await;
    let s = mandala_model::i18n::strings(None);
    let cases = [
        (
            json!([{"name": "format", "type": 3, "value": "svg"}]),
            false,
        ),
        (json!([{"name": "size", "type": 4, "value": 128}]), false),
        (json!([{"name": "format", "type": 3, "value": "png"}]), true),
    ];
    for (n, (options, grid)) in cases.into_iter().enumerate() {
        let v = bot.send(&command(&snowflake(), options.clone())).await;
        let content = v["data"]["content"].as_str().unwrap();
        let job = bot.job(n + 1).await;
        assert_eq!(job.grid.is_some(), grid, "{options}");
        let ack = if grid { s.ack_grid } else { s.ack_render };
        assert!(content.starts_with(ack), "{options}: {content}");
    }
}
