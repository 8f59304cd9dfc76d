//! Every Discord payload and Pub/Sub envelope we have captured must parse.
//!
//! The fixtures are vendored under `tests/fixtures/` (copied from the team's
//! shared research folder, whose README records where each came from).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::path::PathBuf;

use mandala_model::PushEnvelope;
use mandala_model::discord::{Interaction, InteractionType};

fn fixtures(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(kind)
}

fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(fixtures("discord"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with("_headers.json")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_discord_fixture_parses() {
    let all = bodies();
    assert!(all.len() >= 7, "fixtures missing: {all:?}");
    for (name, body) in all {
        let i: Interaction =
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        match i.kind {
            InteractionType::ApplicationCommand | InteractionType::Autocomplete => {
                let data = i.command_data().unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!data.name.is_empty(), "{name}");
            }
            InteractionType::MessageComponent => {
                assert!(!i.component_data().unwrap().custom_id.is_empty());
            }
            InteractionType::ModalSubmit => {
                assert!(!i.modal_data().unwrap().custom_id.is_empty());
            }
            InteractionType::Ping => assert!(i.data.is_none(), "{name}"),
            InteractionType::Unknown(t) => panic!("{name}: unknown type {t}"),
        }
    }
}

#[test]
fn real_guild_command_has_its_fields() {
    let body =
        std::fs::read(fixtures("discord").join("app_command_guild_signed_body.json")).unwrap();
    let i: Interaction = serde_json::from_slice(&body).unwrap();
    assert_eq!(i.kind, InteractionType::ApplicationCommand);
    assert_eq!(i.attachment_size_limit, Some(10_485_760));
    assert!(i.invoker().is_some_and(|u| !u.id.is_empty()));
    assert!(i.token.is_some() && i.application_id.is_some());
}

#[test]
fn real_ping_without_newer_fields_parses() {
    let body = std::fs::read(fixtures("discord").join("ping_real_body.json")).unwrap();
    let i: Interaction = serde_json::from_slice(&body).unwrap();
    assert_eq!(i.kind, InteractionType::Ping);
    assert_eq!(i.attachment_size_limit, None);
}

#[test]
fn autocomplete_fixture_has_a_focused_option() {
    let body = std::fs::read(fixtures("discord").join("autocomplete_partial_docs.json")).unwrap();
    let i: Interaction = serde_json::from_slice(&body).unwrap();
    assert!(i.command_data().unwrap().focused().is_some());
}

#[test]
fn gcloud_push_envelope_decodes_as_a_typed_error_not_a_panic() {
    let body = std::fs::read(fixtures("pubsub").join("push_envelope_gcloud_publish.json")).unwrap();
    let env = PushEnvelope::from_slice(&body).unwrap();
    assert_eq!(env.message.message_id, "2");
    assert_eq!(
        env.message.attributes.get("source").map(String::as_str),
        Some("manual")
    );
    // That message was `{"kind":"render","prompt":"a cat"}`: not a job of ours.
    let err = env.decode_job().unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `render`") || err.to_string().contains("job"),
        "{err}"
    );
}
