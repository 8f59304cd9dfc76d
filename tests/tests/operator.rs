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
