//! The finished message: caption, embedded image and the three buttons.

use std::fmt::Write as _;

use mandala_model::discord::{
    AllowedMentions, AttachmentRef, Component, Embed, EmbedFooter, EmbedImage, MessagePayload,
};
use mandala_model::job::JobKind;
use mandala_model::{ButtonAction, ButtonState, Format, Job, RenderSpec, ResolvedSpec};

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

fn kind_label(kind: JobKind) -> Option<&'static str> {
    match kind {
        JobKind::Reroll => Some("re-roll"),
        JobKind::Variation => Some("variation"),
        JobKind::Upscale => Some("upscale"),
        JobKind::Command | JobKind::Manual | JobKind::Schedule => None,
    }
}

/// Builds the reply for a rendered (or found) image.
///
/// `spec` is the user's spec with the seed filled in: the buttons carry it,
/// so a re-roll keeps the user's options and lets the seed choose the rest.
/// `location` is mentioned when the image cannot be attached; `note` is a
/// line added to the caption (e.g. that a smaller preview is attached).
pub fn build(
    job: &Job,
    spec: &RenderSpec,
    resolved: &ResolvedSpec,
    image: bytes::Bytes,
    content_type: &str,
    location: &str,
    note: Option<&str>,
) -> Message {
    let mut parts: Vec<String> = Vec::new();
    if let Some(user) = job.requested_by.as_ref().and_then(|r| r.user_id.as_deref())
        && !user.is_empty()
        && user.bytes().all(|b| b.is_ascii_digit())
    {
        parts.push(format!("<@{user}>"));
    }
    if let Some(label) = kind_label(job.kind) {
        parts.push(label.to_owned());
    }
    parts.push(resolved.summary());
    let mut content = parts.join(" · ");

    let filename = match resolved.variant {
        0 => format!("mandala-{}.{}", resolved.seed, resolved.format.extension()),
        v => format!(
            "mandala-{}-v{v}.{}",
            resolved.seed,
            resolved.format.extension()
        ),
    };
    if let Some(note) = note {
        let _ = write!(content, "\n{note}");
    }
    let too_large = image.len() > ATTACHMENT_LIMIT;
    if too_large {
        let _ = write!(
            content,
            "\n(the image is {:.1} MiB, over Discord's {} MiB attachment limit; it is stored at {location})",
            image.len() as f64 / 1_048_576.0,
            ATTACHMENT_LIMIT / 1_048_576
        );
    }
    if content.chars().count() > CONTENT_LIMIT {
        content = content.chars().take(CONTENT_LIMIT - 1).collect::<String>() + "…";
    }

    // Discord embeds only raster images; an SVG is sent as a plain file.
    let embeddable = matches!(resolved.format, Format::Png | Format::Webp);
    let embed = Embed {
        title: Some(format!("Mandala {}", resolved.seed)),
        image: (embeddable && !too_large).then(|| EmbedImage {
            url: format!("attachment://{filename}"),
        }),
        footer: Some(EmbedFooter {
            text: format!("spec {}", resolved.hash()),
        }),
        ..Default::default()
    };

    // Buttons only where they can work: a channel webhook not owned by the
    // application cannot carry interactive components (Discord drops them).
    let interactive = matches!(job.reply, mandala_model::Reply::Interaction(_));
    let buttons: Vec<Component> = ButtonAction::ALL
        .iter()
        .filter(|_| interactive)
        .map(|&action| ButtonState {
            action,
            spec: spec.clone(),
        })
        .filter(ButtonState::is_useful)
        .filter_map(|state| {
            let id = state.encode_lossy().ok()?;
            Some(Component::button(
                Component::SECONDARY,
                state.action.label(),
                Some(state.action.emoji()),
                id,
            ))
        })
        .collect();

    let file = (!too_large).then(|| Attachment {
        filename: filename.clone(),
        content_type: content_type.to_owned(),
        bytes: image,
    });
    let payload = MessagePayload {
        content: Some(content),
        embeds: Some(vec![embed]),
        components: (!buttons.is_empty()).then(|| vec![Component::row(buttons)]),
        allowed_mentions: Some(AllowedMentions::none()),
        // On an edit, `attachments` lists everything the message keeps:
        // exactly the new file (or nothing, replacing a previous image).
        attachments: Some(
            file.iter()
                .map(|_| AttachmentRef {
                    id: "0".to_owned(),
                    filename: filename.clone(),
                    description: Some(resolved.summary()),
                })
                .collect(),
        ),
        flags: None,
    };
    Message { payload, file }
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
        let resolved = spec.resolve().unwrap();
        let m = build(
            &job(JobKind::Command),
            &spec,
            &resolved,
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
            "attachment://mandala-42.png"
        );
        assert_eq!(
            p.attachments.as_ref().unwrap()[0].filename,
            "mandala-42.png"
        );
        let row = &p.components.as_ref().unwrap()[0];
        let ids: Vec<ButtonState> = row
            .components
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| ButtonState::parse(b.custom_id.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|s| s.spec.seed == Some(42)));
        assert_eq!(m.file.unwrap().filename, "mandala-42.png");
    }

    #[test]
    fn svg_is_attached_not_embedded_and_maxed_upscale_is_omitted() {
        let spec = RenderSpec {
            seed: Some(7),
            size: Some(4096),
            format: Some(Format::Svg),
            ..Default::default()
        };
        let resolved = spec.resolve().unwrap();
        let m = build(
            &job(JobKind::Upscale),
            &spec,
            &resolved,
            vec![1].into(),
            "image/svg+xml",
            "x",
            None,
        );
        assert!(m.payload.embeds.as_ref().unwrap()[0].image.is_none());
        assert_eq!(m.file.unwrap().filename, "mandala-7.svg");
        let row = &m.payload.components.as_ref().unwrap()[0];
        assert_eq!(row.components.as_ref().unwrap().len(), 2);
        assert!(m.payload.content.unwrap().contains("upscale · seed 7"));
    }

    #[test]
    fn oversized_images_are_linked_not_attached() {
        let spec = RenderSpec {
            seed: Some(1),
            ..Default::default()
        };
        let resolved = spec.resolve().unwrap();
        let big = bytes::Bytes::from(vec![0u8; ATTACHMENT_LIMIT + 1]);
        let m = build(
            &job(JobKind::Manual),
            &spec,
            &resolved,
            big,
            "image/png",
            "gs://b/o.png",
            None,
        );
        assert!(m.file.is_none());
        assert_eq!(m.payload.attachments, Some(vec![]));
        assert!(m.payload.content.unwrap().contains("gs://b/o.png"));
    }
}
