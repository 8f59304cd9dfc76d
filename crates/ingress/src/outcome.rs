//! [`Outcome`]: how a request ended, one word each in the log line.
//!
//! The words are a contract: operators' log-based metrics and alerts count
//! requests by them (`jsonPayload.outcome`), so each is spelt once, here.

/// How one request to `/interactions` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    // ---- refused before the interaction was read
    BadSignature,
    TooLarge,
    BodyTimeout,
    UnreadableBody,
    Stale,
    BadJson,
    BadToken,
    WrongApplication,
    Replay,
    ReplayMemoryFull,
    UnsupportedType,
    // ---- answered without a job
    Pong,
    Autocomplete,
    UnknownCommand,
    BadOption,
    BadTarget,
    BadButton,
    UselessButton,
    BadForm,
    UnknownForm,
    NotAMandala,
    RemixForm,
    // ---- admission refused the job
    UserQueueFull,
    UserBusy,
    QueueTooLong,
    // ---- a job
    Queued,
    AnsweredInline,
    PublishTimeout,
    PublishFailed,
}

impl Outcome {
    /// Every outcome, for checks over all of them.
    pub const ALL: [Outcome; 29] = [
        Outcome::BadSignature,
        Outcome::TooLarge,
        Outcome::BodyTimeout,
        Outcome::UnreadableBody,
        Outcome::Stale,
        Outcome::BadJson,
        Outcome::BadToken,
        Outcome::WrongApplication,
        Outcome::Replay,
        Outcome::ReplayMemoryFull,
        Outcome::UnsupportedType,
        Outcome::Pong,
        Outcome::Autocomplete,
        Outcome::UnknownCommand,
        Outcome::BadOption,
        Outcome::BadTarget,
        Outcome::BadButton,
        Outcome::UselessButton,
        Outcome::BadForm,
        Outcome::UnknownForm,
        Outcome::NotAMandala,
        Outcome::RemixForm,
        Outcome::UserQueueFull,
        Outcome::UserBusy,
        Outcome::QueueTooLong,
        Outcome::Queued,
        Outcome::AnsweredInline,
        Outcome::PublishTimeout,
        Outcome::PublishFailed,
    ];

    /// The word logged as `outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::BadSignature => "bad_signature",
            Outcome::TooLarge => "too_large",
            Outcome::BodyTimeout => "body_timeout",
            Outcome::UnreadableBody => "unreadable_body",
            Outcome::Stale => "stale",
            Outcome::BadJson => "bad_json",
            Outcome::BadToken => "bad_token",
            Outcome::WrongApplication => "wrong_application",
            Outcome::Replay => "replay",
            Outcome::ReplayMemoryFull => "replay_memory_full",
            Outcome::UnsupportedType => "unsupported_type",
            Outcome::Pong => "pong",
            Outcome::Autocomplete => "autocomplete",
            Outcome::UnknownCommand => "unknown_command",
            Outcome::BadOption => "bad_option",
            Outcome::BadTarget => "bad_target",
            Outcome::BadButton => "bad_button",
            Outcome::UselessButton => "useless_button",
            Outcome::BadForm => "bad_form",
            Outcome::UnknownForm => "unknown_form",
            Outcome::NotAMandala => "not_a_mandala",
            Outcome::RemixForm => "remix_form",
            Outcome::UserQueueFull => "user_queue_full",
            Outcome::UserBusy => "user_busy",
            Outcome::QueueTooLong => "queue_too_long",
            Outcome::Queued => "queued",
            Outcome::AnsweredInline => "answered_inline",
            Outcome::PublishTimeout => "publish_timeout",
            Outcome::PublishFailed => "publish_failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_snake_case_word() {
        let words: std::collections::HashSet<&str> =
            Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(words.len(), Outcome::ALL.len(), "two outcomes share a word");
        for w in words {
            assert!(
                w.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{w} is not snake_case"
            );
        }
    }
}
