//! The Midjourney-style flow end to end through the embedded stack
//! (`mandala dev`'s composition): a grid of four, U and V, Vary (Subtle and
//! Strong), the Remix form, both context menus, and a reply in the user's
//! language — every image checked byte for byte against the renderer; once
//! on the embedded stack and once through the emulators.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::time::{Duration, Instant};

use mandala_cli::dev::client::{self, Outgoing};
use mandala_cli::dev::{DevOptions, DevStack};
use mandala_model::discord::command::{REMIX_MENU, USER_MENU};
use mandala_model::discord::{InteractionResponse, MessagePayload, ResponseType};
use mandala_model::{ButtonAction, ButtonState, Drawing, GridKind, RenderSpec, grid, i18n};
use mandala_standin::discord::{DiscordStandin, RecordedMessage};
use mandala_standin::emulators::fake_gcs::FakeGcs;
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::suites;
use serde_json::json;

struct Session {
    stack: DevStack,
    standin: DiscordStandin,
    http: reqwest::Client,
}

impl Session {
    async fn start(options: DevOptions) -> Session {
        let stack = DevStack::start(options).await.unwrap();
        let standin = stack.standin.clone().unwrap();
        Session {
            stack,
            standin,
            http: reqwest::Client::new(),
        }
    }

    fn app(&self) -> &str {
        &self.stack.application_id
    }

    /// Sends an interaction and returns Discord's view of the answer.
    async fn send(&self, out: &Outgoing) -> InteractionResponse {
        let key = self.stack.signing_key.as_ref().unwrap();
        let answer = client::send(&self.http, &self.stack.interactions_url(), key, out)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.response.expect("a JSON interaction response")
    }

    /// Sends an interaction that queues a job and waits for its image.
    async fn image(&self, out: &Outgoing) -> RecordedMessage {
        let r = self.send(out).await;
        let content = r.data.as_ref().and_then(|d| d.message.content.clone());
        assert!(
            r.data.as_ref().and_then(|d| d.message.flags).is_none(),
            "refused: {content:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(m) = self.standin.message_for_token(&out.token)
                && !m.attachments.is_empty()
            {
                return m;
            }
            assert!(Instant::now() < deadline, "no image for {content:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The buttons of a message, by label (the emoji for the new-grid button).
fn buttons(m: &RecordedMessage) -> Vec<(String, String)> {
    m.payload
        .components
        .iter()
        .flatten()
        .flat_map(|row| row.components.iter().flatten())
        .map(|b| {
            let label = b
                .label
                .clone()
                .or_else(|| b.emoji.as_ref().map(|e| e.name.clone()))
                .unwrap_or_default();
            (label, b.custom_id.clone().unwrap_or_default())
        })
        .collect()
}

fn button<'a>(buttons: &'a [(String, String)], label: &str) -> &'a str {
    &buttons
        .iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label} button in {buttons:?}"))
        .1
}

/// What the renderer draws for `drawing`: the bytes the bot must have sent.
fn drawn(drawing: &Drawing) -> Vec<u8> {
    mandala_render::draw(drawing).unwrap().bytes
}

/// Byte-equal images, without printing megabytes when they are not.
fn same(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}: {} bytes sent, {} bytes expected",
        got.len(),
        want.len()
    );
}

fn modal(r: &InteractionResponse) -> (String, Vec<(String, String)>) {
    assert_eq!(r.kind, ResponseType::Modal, "{r:?}");
    let data = r.data.as_ref().unwrap();
    let inputs = data
        .message
        .components
        .iter()
        .flatten()
        .flat_map(|row| row.components.iter().flatten())
        .map(|c| {
            (
                c.custom_id.clone().unwrap(),
                c.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    (data.custom_id.clone().unwrap(), inputs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grid_u_v_vary_remix_and_menus_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = Session::start(DevOptions::ephemeral(dir.path().join(".mandala"))).await;
    flow(&s).await;
    s.stack.shutdown().await;
}

/// The same flow with jobs going through the Pub/Sub emulator's ordered
/// push subscription, the ledger in the Firestore emulator and images in
/// fake-gcs-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_flow_through_the_emulators() {
    let Some(pubsub) = suites::require("pubsub-emulator grid flow", PubsubEmulator::start()) else {
        return;
    };
    let Some(firestore) =
        suites::require("firestore-emulator grid flow", FirestoreEmulator::start())
    else {
        return;
    };
    let Some(gcs) = suites::require(
        "fake-gcs-server grid flow",
        FakeGcs::start("unused-default").await,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut options = DevOptions::ephemeral(dir.path().join(".mandala"));
    options.pubsub_emulator = Some(pubsub.host_port());
    options.firestore_emulator = Some(firestore.host_port());
    options.gcs_emulator = Some(gcs.endpoint());
    let s = Session::start(options).await;
    flow(&s).await;
    s.stack.shutdown().await;
}

async fn flow(s: &Session) {
    let base = RenderSpec {
        seed: Some(2026),
        size: Some(256),
        ..Default::default()
    };

    // /mandala: a grid of four candidates, U1–U4 / V1–V4 / 🔄 + Remix.
    let grid_msg = s.image(&client::command(s.app(), &base)).await;
    let expected = Drawing::resolve(&base, Some(GridKind::Candidates)).unwrap();
    same(
        &grid_msg.attachments[0].bytes,
        &drawn(&expected),
        "the grid, exactly",
    );
    let img = image::load_from_memory(&grid_msg.attachments[0].bytes).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    let grid_buttons = buttons(&grid_msg);
    let labels: Vec<&str> = grid_buttons.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄", "Remix"
        ]
    );

    // U2: the second candidate alone, at the grid's size.
    let cells = grid::cells(&base, GridKind::Candidates).unwrap();
    let u2 = s
        .image(&client::button(s.app(), button(&grid_buttons, "U2")))
        .await;
    let cell2 = Drawing::resolve(&cells[1], None).unwrap();
    same(
        &u2.attachments[0].bytes,
        &drawn(&cell2),
        "U2 is cell 2, exactly",
    );
    let single = buttons(&u2);
    let labels: Vec<&str> = single.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Vary (Subtle)",
            "Vary (Strong)",
            "Upscale",
            "Re-roll",
            "Remix"
        ]
    );

    // V3: four variations of the third candidate.
    let v3 = s
        .image(&client::button(s.app(), button(&grid_buttons, "V3")))
        .await;
    let vary3 = Drawing::resolve(&cells[2], Some(GridKind::Variations)).unwrap();
    same(
        &v3.attachments[0].bytes,
        &drawn(&vary3),
        "V3 is a grid of variations of cell 3",
    );

    // Vary (Subtle) keeps the structure; Vary (Strong) keeps the look.
    let Drawing::One(before) = &cell2 else {
        unreachable!()
    };
    for (label, same_seed) in [("Vary (Subtle)", true), ("Vary (Strong)", false)] {
        let id = button(&single, label);
        let m = s.image(&client::button(s.app(), id)).await;
        let after = mandala_render::spec_from_image(&m.attachments[0].bytes).unwrap();
        assert_ne!(&after, before, "{label} changed something");
        assert_eq!(after.seed == before.seed, same_seed, "{label}");
        assert_eq!(after.background, before.background, "{label}");
        if same_seed {
            let shapes = |r: &mandala_model::ResolvedSpec| {
                r.layers
                    .iter()
                    .map(|l| (l.seed, l.elements))
                    .collect::<Vec<_>>()
            };
            assert_eq!(shapes(&after), shapes(before), "subtle keeps every shape");
        } else {
            assert_eq!(after.palette, before.palette, "strong keeps the palette");
        }
    }

    // Remix: the form opens on the image; the edit is queued as asked.
    let form = s
        .send(&client::button(s.app(), button(&single, "Remix")))
        .await;
    let (custom_id, inputs) = modal(&form);
    assert_eq!(
        inputs[0],
        ("seed".to_owned(), cells[1].seed.unwrap().to_string())
    );
    let values: Vec<(String, String)> = inputs
        .into_iter()
        .map(|(k, v)| {
            if k == "shape" {
                (k, "6 · 2 · auto · mirrored".into())
            } else {
                (k, v)
            }
        })
        .collect();
    let remixed = s
        .image(&client::modal_submit(s.app(), &custom_id, &values))
        .await;
    // The form as submitted, read the way the ingress reads it.
    let asked = mandala_model::remix::apply(
        &cells[1],
        &values
            .iter()
            .cloned()
            .collect::<std::collections::HashMap<_, _>>(),
        i18n::strings(None),
    )
    .unwrap();
    assert_eq!(
        (asked.seed, asked.symmetry, asked.layers, asked.mirror),
        (cells[1].seed, Some(6), Some(2), Some(true))
    );
    let expected = Drawing::resolve(&asked, Some(GridKind::Candidates)).unwrap();
    same(
        &remixed.attachments[0].bytes,
        &drawn(&expected),
        "the remix, as submitted",
    );

    // "Remix mandala" on the grid's message opens the form on its base.
    let message = json!({
        "id": grid_msg.id, "channel_id": "1000000000000000200",
        "author": {"id": s.app(), "username": "Mandala Bot", "bot": true},
        "content": grid_msg.payload.content, "components": grid_msg.payload.components,
    });
    let form = s
        .send(&client::context_menu(s.app(), REMIX_MENU, 3, &message))
        .await;
    let (custom_id, _) = modal(&form);
    let state = ButtonState::parse(&custom_id).unwrap();
    assert_eq!(
        (state.action, state.spec),
        (ButtonAction::Remix, base.clone())
    );

    // "Mandala for this user", from a German client: their own mandala.
    let user = json!({"id": "80351110224678912", "username": "nelly", "accent_color": 0x3498db});
    let out = client::in_locale(client::context_menu(s.app(), USER_MENU, 2, &user), "de");
    let mine = s.image(&out).await;
    let de = i18n::strings(Some("de"));
    let MessagePayload { content, .. } = &mine.payload;
    assert!(
        content.as_deref().unwrap().contains(de.grid_hint),
        "{content:?}"
    );
    let (spec, _) = mandala_model::portrait::for_user(&user).unwrap();
    let expected = Drawing::resolve(&spec, Some(GridKind::Candidates)).unwrap();
    same(
        &mine.attachments[0].bytes,
        &drawn(&expected),
        "the user's own grid",
    );
}
