//! The operator commands against running components: `register-commands`
//! against the Discord stand-in, `interact` against the dev stack.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use mandala_cli::commands::{interact, register_commands};
use mandala_cli::dev::{DevOptions, DevStack};
use mandala_cli::spec_args::SpecArgs;
use mandala_e2e::check_image;
use mandala_model::discord::command;
use mandala_standin::discord::DiscordStandin;

async fn serve_standin() -> (DiscordStandin, String) {
    let standin = DiscordStandin::new();
    let base = standin.serve().await.unwrap();
    (standin, base)
}

fn register(api_base: &str, token: Option<&str>, guild: Option<&str>) -> register_commands::Args {
    register_commands::Args {
        application_id: Some("1000000000000000001".into()),
        guild: guild.map(Into::into),
        dry_run: false,
        bot_token: token.map(Into::into),
        api_base: api_base.into(),
    }
}

#[tokio::test]
async fn register_commands_puts_the_model_generated_definition() {
    let (standin, base) = serve_standin().await;
    register_commands::run(register(
        &base,
        Some("bot-token"),
        Some("1000000000000000100"),
    ))
    .await
    .unwrap();
    let registered = standin.commands();
    let sent = command::definitions();
    let sent = sent.as_array().unwrap();
    assert_eq!(registered.len(), 3, "/mandala and the two context menus");
    // Discord adds id, version and application fields; everything we sent must be there as sent.
    for (registered, sent) in registered.iter().zip(sent) {
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(
                &registered[field], value,
                "field {field} of the model-generated definition of {}",
                sent["name"]
            );
        }
    }
    // Running it again is harmless (bulk overwrite).
    register_commands::run(register(&base, Some("bot-token"), None))
        .await
        .unwrap();
    let put = standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.status == 200)
        .count();
    assert_eq!(put, 2);
}

#[tokio::test]
async fn register_commands_explains_what_is_missing() {
    let (_standin, base) = serve_standin().await;
    let e = register_commands::run(register(&base, None, None))
        .await
        .unwrap_err();
    assert!(
        e.is::<mandala_cli::UsageError>() && e.to_string().contains("DISCORD_BOT_TOKEN"),
        "{e}"
    );
    let mut bad_app = register(&base, Some("t"), None);
    bad_app.application_id = Some("my-app".into());
    let e = register_commands::run(bad_app).await.unwrap_err();
    assert!(e.to_string().contains("--application-id"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interact_prints_and_saves_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".mandala");
    let stack = DevStack::start(DevOptions::ephemeral(state.clone()))
        .await
        .unwrap();
    let out = dir.path().join("reply.webp");
    interact::run(interact::Args {
        url: stack.interactions_url(),
        key_seed: None,
        dir: state,
        application_id: stack.application_id.clone(),
        api_base: None,
        timeout: 60,
        output: Some(out.clone()),
        grid: Some(false),
        spec: SpecArgs {
            seed: Some(77),
            size: Some(256),
            ..SpecArgs::default()
        },
    })
    .await
    .unwrap();
    let spec = check_image(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((spec.seed, spec.size), (77, 256));

    // An out-of-range option is refused by the ingress, and interact says so.
    let e = interact::run(interact::Args {
        url: stack.interactions_url(),
        key_seed: Some(hex::encode([9u8; 32])),
        dir: dir.path().into(),
        application_id: stack.application_id.clone(),
        api_base: None,
        timeout: 5,
        grid: None,
        output: None,
        spec: SpecArgs::default(),
    })
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("not accepted"),
        "a key the ingress does not know is rejected: {e}"
    );
    stack.shutdown().await;
}

fn interact_args(stack: &DevStack, dir: &std::path::Path, spec: SpecArgs) -> interact::Args {
    interact::Args {
        url: stack.interactions_url(),
        key_seed: None,
        dir: dir.to_owned(),
        application_id: stack.application_id.clone(),
        api_base: None,
        timeout: 60,
        output: None,
        grid: Some(false),
        spec,
    }
}

/// Issue #24: interact speaks the single design (a 202 whose image came
/// through the interaction callback), sends the format it offers, and
/// refuses what it cannot ask for or a file name that disagrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interact_speaks_every_design_and_every_option_it_offers() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".mandala");
    let mut options = DevOptions::ephemeral(state.clone());
    options.topology = mandala_cli::dev::Topology::Single;
    let stack = DevStack::start(options).await.unwrap();
    // A small PNG: cheap enough to be answered inline, with the image.
    let png = dir.path().join("inline.png");
    let mut args = interact_args(
        &stack,
        &state,
        SpecArgs {
            seed: Some(5),
            size: Some(256),
            format: Some("png".into()),
            ..SpecArgs::default()
        },
    );
    args.output = Some(png.clone());
    interact::run(args).await.unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "not a PNG: the format was not sent"
    );
    assert_eq!(check_image(&bytes).unwrap().seed, 5);

    // An SVG is one image, and an SVG.
    let svg = dir.path().join("one.svg");
    let mut args = interact_args(
        &stack,
        &state,
        SpecArgs {
            seed: Some(6),
            size: Some(256),
            format: Some("svg".into()),
            ..SpecArgs::default()
        },
    );
    args.grid = Some(true);
    args.output = Some(svg.clone());
    interact::run(args).await.unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg"), "not an SVG");

    // A name that disagrees with the format is refused before anything is sent.
    let mut args = interact_args(&stack, &state, SpecArgs::default());
    args.output = Some(dir.path().join("wrong.png"));
    let e = interact::run(args).await.unwrap_err();
    assert!(
        e.to_string().contains("-o") && e.to_string().contains("--format png"),
        "{e}"
    );
    assert!(!dir.path().join("wrong.png").exists());
    // /mandala has no variant: asking for one is an error, not ignored.
    let e = interact::run(interact_args(
        &stack,
        &state,
        SpecArgs {
            variant: Some(2),
            ..SpecArgs::default()
        },
    ))
    .await
    .unwrap_err();
    assert!(e.to_string().contains("--variant"), "{e}");
    stack.shutdown().await;
}

/// Issue #24: two `mandala dev` on one directory would share its spool,
/// dead letters and key; the second says so and which flag to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dev_stacks_do_not_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".mandala");
    let first = DevStack::start(DevOptions::ephemeral(state.clone()))
        .await
        .unwrap();
    let Err(e) = DevStack::start(DevOptions::ephemeral(state.clone())).await else {
        panic!("a second stack started on the same directory");
    };
    assert!(e.to_string().contains("--dir"), "{e}");
    first.shutdown().await;
    // Once the first has stopped, the directory is free again.
    DevStack::start(DevOptions::ephemeral(state))
        .await
        .unwrap()
        .shutdown()
        .await;
}
