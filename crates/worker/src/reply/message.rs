//! The finished message: caption, embedded image and its buttons — the
//! grid's U1–U4 / V1–V4 / 🔄 / Remix, or a single image's Vary (Subtle),
//! Vary (Strong), Upscale, Re-roll and Remix — in the requester's language.

use std::fmt::Write as _;

use mandala_model::button;
use mandala_model::discord::{
    AllowedMentions, AttachmentRef, Component, Embed, EmbedFooter, EmbedImage, MessagePayload,
};
use mandala_model::i18n::{Strings, fill};
use mandala_model::job::JobKind;
use mandala_model::{ButtonAction, ButtonState, Drawing, Format, Job, RenderSpec};

/// Largest file an interaction reply or webhook may carry by default.
pub const ATTACHMENT_LIMIT: usize = 10 * 1024 * 1024;

/// Discord's `content` limit.
const CONTENT_LIMIT: usize = 2000;

/// The image as a `files[0]` part.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}

/// What to send: the `payload_json` and, normally, one file.
#[derive(Debug, Clone)]
pub struct Message {
    pub payload: MessagePayload,
    pub file: Option<Attachment>,
}

fn kind_label(kind: JobKind, s: &Strings) -> Option<&'static str> {
    match kind {
        JobKind::Reroll => Some(s.caption_reroll),
        JobKind::Variation => Some(s.caption_variation),
        JobKind::Subtle => Some(s.caption_subtle),
        JobKind::Strong => Some(s.caption_strong),
        JobKind::Upscale => Some(s.caption_upscale),
        JobKind::Remix => Some(s.caption_remix),
        JobKind::Command
        | JobKind::Pick
        | JobKind::ForUser
        | JobKind::Manual
        | JobKind::Schedule => None,
    }
}

/// Builds the reply for a rendered (or found) image, in the requester's
/// language.
///
/// `spec` is the user's spec with the seed filled in (for a grid, its
/// base): the buttons carry it, so a re-roll keeps the user's options and
/// lets the seed choose the rest. `location` is mentioned when the image
/// cannot be attached; `note` is a line added to the caption (e.g. that a
/// smaller preview is attached).
pub fn build(
    job: &Job,
    spec: &RenderSpec,
    drawing: &Drawing,
    image: bytes::Bytes,
    content_type: &str,
    location: &str,
    note: Option<&str>,
) -> Message {
    let s = job.strings();
    let filename = filename(drawing);
    let too_large = image.len() > ATTACHMENT_LIMIT;
    let mut content = caption(job, drawing, note);
    if too_large {
        let _ = write!(content, "\n{}", too_large_note(s, image.len(), location));
    }
    let embed = embed(drawing, &filename, s, !too_large);

    // Buttons only where they can work: a channel webhook not owned by the
    // application cannot carry interactive components (Discord drops them).
    let interactive = matches!(job.reply, mandala_model::Reply::Interaction(_));
    let rows = if interactive {
        buttons(spec, drawing, s)
    } else {
        Vec::new()
    };

    let file = (!too_large).then(|| Attachment {
        filename: filename.clone(),
        content_type: content_type.to_owned(),
        bytes: image,
    });
    let payload = MessagePayload {
        content: Some(within_limit(content)),
        embeds: Some(vec![embed]),
        components: (!rows.is_empty()).then_some(rows),
        allowed_mentions: Some(AllowedMentions::none()),
        // On an edit, `attachments` lists everything the message keeps:
        // exactly the new file (or nothing, replacing a previous image).
        attachments: Some(
            file.iter()
                .map(|_| AttachmentRef {
                    id: "0".to_owned(),
                    filename: filename.clone(),
                    description: Some(drawing.summary().chars().take(1024).collect()),
                })
                .collect(),
        ),
        flags: None,
    };
    Message { payload, file }
}

/// The caption: who asked (a mention that pings nobody), what kind of
/// job, the drawing's summary, the grid's hint and `note`.
fn caption(job: &Job, drawing: &Drawing, note: Option<&str>) -> String {
    let s = job.strings();
    let mut parts: Vec<String> = Vec::new();
    if let Some(user) = job.requested_by.as_ref().and_then(|r| r.user_id.as_deref())
        && !user.is_empty()
        && user.bytes().all(|b| b.is_ascii_digit())
    {
        parts.push(format!("<@{user}>"));
    }
    if let Some(label) = kind_label(job.kind, s) {
        parts.push(label.to_owned());
    }
    parts.push(drawing.summary());
    let mut content = parts.join(" · ");
    if drawing.is_grid() {
        let _ = write!(content, "\n{}", s.grid_hint);
    }
    if let Some(note) = note {
        let _ = write!(content, "\n{note}");
    }
    content
}

/// The attached file's name: the seed, and the variant of a variation.
fn filename(drawing: &Drawing) -> String {
    let format = drawing.format();
    match drawing {
        Drawing::Grid(_) => format!("mandala-grid-{}.{}", drawing.seed(), format.extension()),
        Drawing::One(r) if r.variant != 0 => {
            format!("mandala-{}-v{}.{}", r.seed, r.variant, format.extension())
        }
        Drawing::One(r) => format!("mandala-{}.{}", r.seed, format.extension()),
    }
}

/// The caption's line for an image of `bytes` too large to attach: where
/// it is stored instead.
fn too_large_note(s: &Strings, bytes: usize, location: &str) -> String {
    fill(
        s.too_large_note,
        &[
            ("mib", &format!("{:.1}", bytes as f64 / 1_048_576.0)),
            ("limit", &(ATTACHMENT_LIMIT / 1_048_576).to_string()),
            ("location", location),
        ],
    )
}

/// `content` cut to Discord's limit, with an ellipsis when cut.
fn within_limit(content: String) -> String {
    if content.chars().count() > CONTENT_LIMIT {
        content.chars().take(CONTENT_LIMIT - 1).collect::<String>() + "…"
    } else {
        content
    }
}

/// The embed: its title, the attached image when it is `attached` and
/// Discord can show it, and the spec's hash.
fn embed(drawing: &Drawing, filename: &str, s: &Strings, attached: bool) -> Embed {
    // Discord embeds only raster images; an SVG is sent as a plain file.
    let embeddable = matches!(drawing.format(), Format::Png | Format::Webp);
    let title = match drawing {
        Drawing::Grid(_) => s.grid_title.to_owned(),
        Drawing::One(r) => fill(s.embed_title, &[("seed", &r.seed.to_string())]),
    };
    Embed {
        title: Some(title),
        image: (embeddable && attached).then(|| EmbedImage {
            url: format!("attachment://{filename}"),
        }),
        footer: Some(EmbedFooter {
            text: format!("spec {}", drawing.hash()),
        }),
        ..Default::default()
    }
}

/// `message` without its file: the embed keeps no image, and the caption
/// says where the image is stored instead. For the reply stage, which
/// never renders a smaller version, when Discord refuses the file (413).
pub fn without_file(mut message: Message, s: &Strings, location: &str) -> Message {
    let Some(file) = message.file.take() else {
        return message;
    };
    let note = too_large_note(s, file.bytes.len(), location);
    let payload = &mut message.payload;
    let mut content = payload.content.take().unwrap_or_default();
    let _ = write!(content, "\n{note}");
    payload.content = Some(within_limit(content));
    payload.attachments = Some(Vec::new());
    for embed in payload.embeds.iter_mut().flatten() {
        embed.image = None;
    }
    message
}

/// The button rows: under a grid `U1`–`U4`, `V1`–`V4`, then 🔄 and Remix;
/// under one image Vary (Subtle), Vary (Strong), Upscale, Re-roll, Remix.
fn buttons(spec: &RenderSpec, drawing: &Drawing, s: &Strings) -> Vec<Component> {
    let button = |action: ButtonAction, spec: RenderSpec| {
        let state = ButtonState { action, spec };
        if !state.is_useful() {
            return None;
        }
        let id = state.encode_lossy().ok()?;
        Some(Component::button(
            Component::SECONDARY,
            &action.label(s),
            action.emoji(),
            id,
        ))
    };
    let row = |actions: &[ButtonAction]| {
        let buttons: Vec<Component> = actions
            .iter()
            .filter_map(|&a| {
                let spec = match (a, drawing) {
                    (ButtonAction::Strong, Drawing::One(drawn)) => button::pin_look(spec, drawn),
                    _ => spec.clone(),
                };
                button(a, spec)
            })
            .collect();
        (!buttons.is_empty()).then(|| Component::row(buttons))
    };
    match drawing {
        Drawing::Grid(g) => {
            let k = g.kind;
            [
                row(&[1, 2, 3, 4].map(|n| ButtonAction::Pick(k, n))),
                row(&[1, 2, 3, 4].map(|n| ButtonAction::VaryCell(k, n))),
                row(&[ButtonAction::NewGrid, ButtonAction::Remix]),
            ]
            .into_iter()
            .flatten()
            .collect()
        }
        Drawing::One(_) => row(&ButtonAction::SINGLE).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandala_model::job::{Reply, Requester};

    fn job(kind: JobKind) -> Job {
        let reply = Reply::Interaction(mandala_model::InteractionReply {
            application_id: "1".into(),
            interaction_id: "1322637963339104358".into(),
            token: "t".into(),
        });
        let mut j = Job::new(RenderSpec::default(), reply, kind);
        j.requested_by = Some(Requester {
            user_id: Some("80351110224678912".into()),
            ..Default::default()
        });
        j
    }

    #[test]
    fn caption_embed_and_buttons() {
        let spec = RenderSpec {
            seed: Some(42),
            ..Default::default()
        };
        let drawing = Drawing::resolve(&spec, None).unwrap();
        let m = build(
            &job(JobKind::Command),
            &spec,
            &drawing,
            vec![1, 2, 3].into(),
            "image/png",
            "x",
            None,
        );
        let p = &m.payload;
        let content = p.content.as_deref().unwrap();
        assert!(
            content.starts_with("<@80351110224678912> · seed 42 · "),
            "{content}"
        );
        assert_eq!(p.allowed_mentions, Some(AllowedMentions::none()));
        let embeds = p.embeds.as_ref().unwrap();
        assert_eq!(
            embeds[0].image.as_ref().unwrap().url,
            "attachment://mandala-42.webp"
        );
        assert_eq!(
            p.attachments.as_ref().unwrap()[0].filename,
            "mandala-42.webp"
        );
        let row = &p.components.as_ref().unwrap()[0];
        let ids: Vec<ButtonState> = row
            .components
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| ButtonState::parse(b.custom_id.as_deref().unwrap()).unwrap())
            .collect();
        let actions: Vec<ButtonAction> = ids.iter().map(|s| s.action).collect();
        assert_eq!(actions, ButtonAction::SINGLE);
        assert!(ids.iter().all(|s| s.spec.seed == Some(42)));
        // Vary (Strong) carries the drawn look, so only the structure moves.
        let Drawing::One(drawn) = &drawing else {
            unreachable!()
        };
        assert_eq!(ids[1].spec.background, Some(drawn.background));
        assert!(ids[1].spec.palette.is_some() && ids[0].spec.palette.is_none());
        assert_eq!(m.file.unwrap().filename, "mandala-42.webp");
    }

    #[test]
    fn svg_is_attached_not_embedded_and_maxed_upscale_is_omitted() {
        let spec = RenderSpec {
            seed: Some(7),
            size: Some(4096),
            format: Some(Format::Svg),
            ..Default::default()
        };
        let drawing = Drawing::resolve(&spec, None).unwrap();
        let m = build(
            &job(JobKind::Upscale),
            &spec,
            &drawing,
            vec![1].into(),
            "image/svg+xml",
            "x",
            None,
        );
        assert!(m.payload.embeds.as_ref().unwrap()[0].image.is_none());
        assert_eq!(m.file.unwrap().filename, "mandala-7.svg");
        let row = &m.payload.components.as_ref().unwrap()[0];
        assert_eq!(
            row.components.as_ref().unwrap().len(),
            4,
            "no upscale at 4096"
        );
        assert!(m.payload.content.unwrap().contains("upscale · seed 7"));
    }

    #[test]
    fn oversized_images_are_linked_not_attached() {
        let spec = RenderSpec {
            seed: Some(1),
            ..Default::default()
        };
        let drawing = Drawing::resolve(&spec, None).unwrap();
        let big = bytes::Bytes::from(vec![0u8; ATTACHMENT_LIMIT + 1]);
        let m = build(
            &job(JobKind::Manual),
            &spec,
            &drawing,
            big,
            "image/png",
            "gs://b/o.png",
            None,
        );
        assert!(m.file.is_none());
        assert_eq!(m.payload.attachments, Some(vec![]));
        assert!(m.payload.content.unwrap().contains("gs://b/o.png"));
    }

    #[test]
    fn a_grid_has_u_v_and_new_grid_rows_in_the_users_language() {
        let spec = RenderSpec {
            seed: Some(9),
            ..Default::default()
        };
        let drawing = Drawing::resolve(&spec, Some(mandala_model::GridKind::Candidates)).unwrap();
        let mut j = job(JobKind::Command);
        j.locale = Some("de".into());
        let m = build(&j, &spec, &drawing, vec![1].into(), "image/png", "x", None);
        let de = mandala_model::i18n::strings(Some("de"));
        let content = m.payload.content.as_deref().unwrap();
        assert!(content.ends_with(de.grid_hint), "{content}");
        assert_eq!(
            m.payload.embeds.as_ref().unwrap()[0].title.as_deref(),
            Some(de.grid_title)
        );
        let rows = m.payload.components.as_ref().unwrap();
        let labels: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                r.components
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|b| b.label.clone().unwrap_or_default())
                    .collect()
            })
            .collect();
        assert_eq!(
            labels,
            [
                vec!["U1", "U2", "U3", "U4"],
                vec!["V1", "V2", "V3", "V4"],
                vec!["", de.button_remix],
            ]
        );
        // Every button carries the grid's base and works on its own.
        for b in rows.iter().flat_map(|r| r.components.as_ref().unwrap()) {
            let st = ButtonState::parse(b.custom_id.as_deref().unwrap()).unwrap();
            assert_eq!(st.spec, spec);
        }
        assert_eq!(
            m.file.unwrap().filename,
            "mandala-grid-".to_owned() + &drawing.seed().to_string() + ".webp"
        );
    }
}
