//! The last word: what a user sees when their mandala will not come.
//!
//! Every accepted interaction ends in one final state the user can see: the
//! image, or one of these short messages in place of "Rendering…". The
//! original response is public, so the message replaces it (an edit of
//! `@original`, which is idempotent: sending it twice shows it once).
//! Channel webhooks (manual jobs, the daily mandala) have no user waiting;
//! their failures are logged, not posted.

use mandala_model::discord::{AllowedMentions, MessagePayload};
use mandala_model::i18n::{Strings, fill};

use super::message::Message;

/// Why a job ends without its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The worker refuses the spec (a manual or old job the ingress did not check).
    InvalidSpec(String),
    /// The renderer failed; the same spec would fail again.
    RenderFailed(String),
    /// Discord refused the finished message for good.
    Refused(String),
    /// The last delivery attempt failed too.
    GaveUp { attempts: u32, why: Why },
    /// Every attempt failed without the worker answering (crashes, timeouts).
    DeadLettered { attempts: Option<u32> },
    /// The interaction token would die before the image could be sent: the
    /// job is not started.
    OutOfTime,
}

/// What kept failing, in words a user understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Store,
    Discord,
    Slow,
    /// The job came from a newer build, and no newer worker took it.
    Upgrade,
}

impl Why {
    pub fn text(self, s: &Strings) -> &'static str {
        match self {
            Why::Store => s.why_store,
            Why::Discord => s.why_discord,
            Why::Slow => s.why_slow,
            Why::Upgrade => s.why_upgrade,
        }
    }
}

/// The text shown in place of the image, in the user's language (the
/// error details stay in English: they name options and values).
pub fn text(ending: &Ending, s: &Strings) -> String {
    match ending {
        Ending::InvalidSpec(e) => fill(s.last_invalid, &[("error", e)]),
        Ending::RenderFailed(e) => fill(s.last_render_failed, &[("error", e)]),
        Ending::Refused(e) => fill(s.last_refused, &[("error", e)]),
        Ending::GaveUp { attempts, why } => fill(
            s.last_gave_up,
            &[("attempts", &attempts.to_string()), ("why", why.text(s))],
        ),
        Ending::DeadLettered { attempts } => match attempts {
            Some(n) => fill(s.last_dead_letter, &[("attempts", &n.to_string())]),
            None => s.last_dead_letter_unknown.to_owned(),
        },
        Ending::OutOfTime => s.last_out_of_time.to_owned(),
    }
}

/// The message that replaces the original response: the text alone, with
/// any embed, button or attachment of an earlier edit removed.
pub fn message(ending: &Ending, s: &Strings) -> Message {
    let mut content = text(ending, s);
    if content.chars().count() > 2000 {
        content = content.chars().take(1999).collect::<String>() + "…";
    }
    Message {
        payload: MessagePayload {
            content: Some(content),
            embeds: Some(Vec::new()),
            components: Some(Vec::new()),
            allowed_mentions: Some(AllowedMentions::none()),
            attachments: Some(Vec::new()),
            flags: None,
        },
        file: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_says_what_happened_and_clears_the_message() {
        let en = mandala_model::i18n::strings(None);
        let m = message(
            &Ending::GaveUp {
                attempts: 5,
                why: Why::Store,
            },
            en,
        );
        let content = m.payload.content.unwrap();
        assert!(
            content.contains("5 attempts") && content.contains("image store"),
            "{content}"
        );
        assert_eq!(m.payload.components, Some(Vec::new()));
        assert_eq!(m.payload.attachments, Some(Vec::new()));
        assert!(m.file.is_none());
        let long = message(&Ending::InvalidSpec("x".repeat(3000)), en);
        assert_eq!(long.payload.content.unwrap().chars().count(), 2000);
        // In the user's language.
        let de = mandala_model::i18n::strings(Some("de"));
        let m = message(&Ending::DeadLettered { attempts: Some(3) }, de);
        assert_eq!(
            m.payload.content.unwrap(),
            mandala_model::i18n::fill(de.last_dead_letter, &[("attempts", "3")])
        );
        assert_eq!(text(&Ending::OutOfTime, de), de.last_out_of_time);
        let upgrade = text(
            &Ending::GaveUp {
                attempts: 5,
                why: Why::Upgrade,
            },
            en,
        );
        assert!(upgrade.contains("being updated"), "{upgrade}");
    }
}
