//! The last word: what a user sees when their mandala will not come.
//!
//! Every accepted interaction ends in one final state the user can see: the
//! image, or one of these short messages in place of "Rendering…". The
//! original response is public, so the message replaces it (an edit of
//! `@original`, which is idempotent: sending it twice shows it once).
//! Channel webhooks (manual jobs, the daily mandala) have no user waiting;
//! their failures are logged, not posted.

use mandala_model::discord::{AllowedMentions, MessagePayload};

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
    GaveUp { attempts: u32, why: String },
    /// Every attempt failed without the worker answering (crashes, timeouts).
    DeadLettered { attempts: Option<u32> },
}

/// The text shown in place of the image.
pub fn text(ending: &Ending) -> String {
    match ending {
        Ending::InvalidSpec(e) => format!("❌ Cannot draw that: {e}"),
        Ending::RenderFailed(e) => format!(
            "❌ The renderer failed on this mandala ({e}). Try another seed, or fewer layers or elements."
        ),
        Ending::Refused(e) => {
            format!("❌ Discord would not take this image ({e}). Try a smaller size.")
        }
        Ending::GaveUp { attempts, why } => format!(
            "⚠️ Sorry — this mandala could not be finished after {attempts} attempts ({why}). Please try again in a few minutes."
        ),
        Ending::DeadLettered { attempts } => match attempts {
            Some(n) => format!(
                "⚠️ Sorry — this mandala could not be finished after {n} attempts. Please try again in a few minutes."
            ),
            None => {
                "⚠️ Sorry — this mandala could not be finished. Please try again in a few minutes."
                    .to_owned()
            }
        },
    }
}

/// The message that replaces the original response: the text alone, with
/// any embed, button or attachment of an earlier edit removed.
pub fn message(ending: &Ending) -> Message {
    let mut content = text(ending);
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
        let m = message(&Ending::GaveUp {
            attempts: 5,
            why: "the image store is unavailable".into(),
        });
        let content = m.payload.content.unwrap();
        assert!(
            content.contains("5 attempts") && content.contains("image store"),
            "{content}"
        );
        assert_eq!(m.payload.components, Some(Vec::new()));
        assert_eq!(m.payload.attachments, Some(Vec::new()));
        assert!(m.file.is_none());
        let long = message(&Ending::InvalidSpec("x".repeat(3000)));
        assert_eq!(long.payload.content.unwrap().chars().count(), 2000);
    }
}
