//! The Discord stand-in over real HTTP: what it accepts, what it refuses
//! (with Discord's error bodies), and what it records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mandala_standin::discord::{DiscordStandin, Failure};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const UA: &str = "DiscordBot (https://github.com/mandala-bot/mandala-bot, 0.1.0)";
const ORIGINAL: &str = "/webhooks/1100000000000000001/tok/messages/@original";

async fn standin() -> (DiscordStandin, String) {
    let standin = DiscordStandin::new();
    let base = standin.serve().await.unwrap();
    (standin, base)
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbaImage::from_pixel(w, h, image::Rgba([200, 100, 50, 255]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn good_payload() -> Value {
    json!({
        "content": "<@1> · seed 42",
        "allowed_mentions": {"parse": []},
        "embeds": [{"title": "Mandala 42", "image": {"url": "attachment://mandala-42.png"}}],
        "attachments": [{"id": 0, "filename": "mandala-42.png", "description": "seed 42"}],
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "label": "Re-roll", "custom_id": "m1:r:16::::::::::"}
        ]}]
    })
}

fn form(payload: &Value, files: Vec<(&str, &str, &str, Vec<u8>)>) -> Form {
    let mut f = Form::new().part(
        "payload_json",
        Part::text(payload.to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    for (field, filename, ct, bytes) in files {
        f = f.part(
            field.to_owned(),
            Part::bytes(bytes)
                .file_name(filename.to_owned())
                .mime_str(ct)
                .unwrap(),
        );
    }
    f
}

async fn patch(base: &str, form: Form) -> (u16, Value) {
    let r = reqwest::Client::new()
        .patch(format!("{base}{ORIGINAL}"))
        .header("user-agent", UA)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_good_edit_is_recorded_and_answered_like_discord() {
    let (s, base) = standin().await;
    let (status, body) = patch(
        &base,
        form(
            &good_payload(),
            vec![("files[0]", "mandala-42.png", "image/png", png(8, 4))],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"], "<@1> · seed 42");
    let url = body["attachments"][0]["url"].as_str().unwrap();
    assert_eq!(body["attachments"][0]["width"], 8);
    assert_eq!(
        body["embeds"][0]["image"]["url"], url,
        "attachment:// resolved to the uploaded file"
    );
    // The attachment URL serves the bytes.
    let served = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(served.to_vec(), png(8, 4));

    let m = s.message_for_token("tok").unwrap();
    assert!(m.original);
    assert_eq!((m.edits, m.attachments.len()), (1, 1));
    assert_eq!(m.attachments[0].description.as_deref(), Some("seed 42"));

    // A second edit listing only the new file replaces the image.
    let (status, _) = patch(
        &base,
        form(
            &good_payload(),
            vec![("files[0]", "mandala-42.png", "image/png", png(2, 2))],
        ),
    )
    .await;
    assert_eq!(status, 200);
    let m = s.message_for_token("tok").unwrap();
    assert_eq!(
        (m.edits, m.attachments.len(), m.attachments[0].width),
        (2, 1, 2)
    );
    assert_eq!(s.messages().len(), 1);
}

#[tokio::test]
async fn malformed_messages_get_discord_errors() {
    let (s, base) = standin().await;
    let mut long = good_payload();
    long["content"] = json!("x".repeat(2001));
    let mut rows = good_payload();
    rows["components"] = json!(vec![
        json!({"type": 1, "components": [{"type": 2, "style": 2, "label": "a", "custom_id": "a"}]});
        6
    ]);
    let mut custom_id = good_payload();
    custom_id["components"][0]["components"][0]["custom_id"] = json!("c".repeat(101));
    let mut wrong_ref = good_payload();
    wrong_ref["embeds"][0]["image"]["url"] = json!("attachment://other.png");
    let cases: Vec<(&str, Form, &str)> = vec![
        (
            "content too long",
            form(
                &long,
                vec![("files[0]", "mandala-42.png", "image/png", png(1, 1))],
            ),
            "content",
        ),
        (
            "six rows",
            form(
                &rows,
                vec![("files[0]", "mandala-42.png", "image/png", png(1, 1))],
            ),
            "components",
        ),
        (
            "custom_id too long",
            form(
                &custom_id,
                vec![("files[0]", "mandala-42.png", "image/png", png(1, 1))],
            ),
            "components",
        ),
        (
            "attachment id without a file",
            form(&good_payload(), vec![]),
            "attachments",
        ),
        (
            "embed names another file",
            form(
                &wrong_ref,
                vec![("files[0]", "mandala-42.png", "image/png", png(1, 1))],
            ),
            "embeds",
        ),
        (
            "not a PNG",
            form(
                &good_payload(),
                vec![(
                    "files[0]",
                    "mandala-42.png",
                    "image/png",
                    b"GIF89a".to_vec(),
                )],
            ),
            "files[0]",
        ),
        (
            "no filename",
            Form::new()
                .text("payload_json", good_payload().to_string())
                .part("files[0]", Part::bytes(png(1, 1))),
            "files[0]",
        ),
        (
            "stray field",
            form(
                &good_payload(),
                vec![("file", "mandala-42.png", "image/png", png(1, 1))],
            ),
            "file",
        ),
        (
            "no payload_json",
            Form::new().part("files[0]", Part::bytes(png(1, 1)).file_name("a.png")),
            "payload_json",
        ),
    ];
    for (what, f, field) in cases {
        let (status, body) = patch(&base, f).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["code"], 50035, "{what}: {body}");
        assert!(
            body["errors"].get(field).is_some(),
            "{what}: error not under {field}: {body}"
        );
    }
    assert!(
        s.messages().is_empty(),
        "nothing was recorded from refused edits"
    );
    assert!(
        s.requests()
            .iter()
            .all(|r| r.status == 400 && r.error.is_some())
    );
}

#[tokio::test]
async fn oversized_files_and_missing_user_agents_are_refused() {
    let (s, base) = standin().await;
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    let (status, body) = patch(
        &base,
        form(
            &json!({"content": "x"}),
            vec![("files[0]", "big.bin", "application/octet-stream", big)],
        ),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (413, Some(40005)));

    let r = reqwest::Client::new()
        .patch(format!("{base}{ORIGINAL}"))
        .json(&json!({"content": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 40333);
    assert!(
        s.requests()[1]
            .error
            .as_deref()
            .unwrap()
            .contains("User-Agent")
    );
}

#[tokio::test]
async fn injected_failures_look_like_discord() {
    let (s, base) = standin().await;
    s.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 1.5,
        },
    );
    s.fail_next(1, Failure::ServerError);
    s.fail_next(1, Failure::UnknownWebhook);
    let send = || {
        reqwest::Client::new()
            .patch(format!("{base}{ORIGINAL}"))
            .header("user-agent", UA)
            .json(&json!({"content": "hi"}))
            .send()
    };
    let r = send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.json::<Value>().await.unwrap()["retry_after"], 1.5);
    let r = send().await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let r = send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 10015);
    let r = send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let statuses: Vec<u16> = s
        .wait_for_requests(4, Duration::from_secs(1))
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 500, 404, 200]);
}

#[tokio::test]
async fn withheld_answers_time_out_with_or_without_effect() {
    let (s, base) = standin().await;
    s.fail_next(1, Failure::Hang);
    s.fail_next(1, Failure::AnswerLost);
    let send = |content: &'static str| {
        reqwest::Client::new()
            .patch(format!("{base}{ORIGINAL}"))
            .header("user-agent", UA)
            .timeout(Duration::from_millis(300))
            .json(&json!({ "content": content }))
            .send()
    };
    // Hang: no answer, and the message is not touched.
    assert!(send("lost").await.unwrap_err().is_timeout());
    assert!(s.messages().is_empty(), "a hung request took effect");
    // AnswerLost: no answer either, but the edit happened.
    assert!(send("applied").await.unwrap_err().is_timeout());
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].payload_json["content"], "applied");
    let recorded: Vec<(u16, bool)> = s
        .requests()
        .iter()
        .map(|r| (r.status, r.error.is_some()))
        .collect();
    assert_eq!(recorded, vec![(0, true), (200, true)]);
    // Then Discord answers again.
    assert_eq!(send("later").await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn webhooks_execute_and_wait() {
    let (s, base) = standin().await;
    let client = reqwest::Client::new();
    let url = format!("{base}/webhooks/2200000000000000002/hook");
    let r = client
        .post(format!("{url}?wait=true"))
        .header("user-agent", UA)
        .json(&json!({"content": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .post(&url)
        .header("user-agent", UA)
        .json(&json!({"content": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = client
        .post(&url)
        .header("user-agent", UA)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        50006,
        "empty messages are refused"
    );
    let messages = s.wait_for_messages(2, Duration::from_secs(1)).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].id, id);
    // GET and DELETE by id.
    let by_id = format!("{url}/messages/{id}");
    let r = client
        .get(&by_id)
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["content"], "hello");
    let r = client
        .delete(&by_id)
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(s.messages().len(), 1);
}

#[tokio::test]
async fn commands_need_a_bot_token_and_a_valid_definition() {
    let (s, base) = standin().await;
    let client = reqwest::Client::new();
    let url = format!("{base}/applications/1100000000000000001/commands");
    let definition = json!([mandala_model::discord::command::definition()]);
    let r = client
        .put(&url)
        .header("user-agent", UA)
        .json(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .put(&url)
        .header("user-agent", UA)
        .header("authorization", "Bot x.y.z")
        .json(&json!([{"name": "Bad Name", "description": ""}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let errors = r.json::<Value>().await.unwrap()["errors"].clone();
    assert!(
        errors["0"]["name"].is_object() && errors["0"]["description"].is_object(),
        "{errors}"
    );
    let r = client
        .put(format!(
            "{base}/applications/1100000000000000001/guilds/3300000000000000003/commands"
        ))
        .header("user-agent", UA)
        .header("authorization", "Bot x.y.z")
        .json(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let stored = s.commands();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0]["name"].as_str(), stored[0]["guild_id"].as_str()),
        (Some("mandala"), Some("3300000000000000003"))
    );
    assert!(stored[0]["id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_of_one_message_are_all_counted() {
    let (s, base) = standin().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                patch(
                    &base,
                    form(&json!({"content": format!("edit {i}")}), vec![]),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(s.message_for_token("tok").unwrap().edits, 20);
    assert_eq!(s.messages().len(), 1);
}
