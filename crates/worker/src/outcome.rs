//! [`Outcome`]: how one delivery ended, one word each in the job's log line.
//!
//! The words are a contract: operators' log-based metrics and alerts count
//! jobs by them (`jsonPayload.outcome`, terraform/monitoring.tf), and the
//! push is answered with them, so each is spelt once, here — in snake_case,
//! as the ingress spells its own (`mandala_ingress::outcome`). The level of
//! the line follows from the outcome too ([`Outcome::level`]).

use tracing::Level;

/// How one delivery (a push, a task dispatch, a dead letter or an inline
/// answer) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    // ---- the image reached its destination
    /// The message was sent (or edited) on Discord.
    Replied,
    /// No reply was asked for: the image is stored.
    Stored,
    /// The render stage stored the image and handed the reply on.
    HandedOff,
    /// The single service answered the interaction with the image itself.
    AnsweredInline,
    // ---- not now
    /// Answered non-2xx: the queue delivers it again.
    Redeliver,
    // ---- dropped before or without work, as designed
    /// Poison: a malformed envelope or job, an invalid spec, a refused
    /// reply target.
    Rejected,
    /// The interaction token had expired: nobody can be told.
    Expired,
    /// The ledger has no entry for the job: it was cancelled, or it ended.
    Cancelled,
    /// The queue took the job after its user was told to try again.
    Abandoned,
    /// Not started: the token would die before the image could be sent.
    OutOfTime,
    // ---- ended without the image, for a reason worth looking at
    /// The renderer refused or crashed on the spec.
    RenderFailed,
    /// Discord refused the message for good.
    ReplyDropped,
    /// The last attempt's reply may have been delivered; nothing was said
    /// over it.
    ReplyUnknown,
    /// The last delivery attempt failed too; the user was told.
    GaveUp,
    /// A dead letter whose user was told.
    DeadLetterTold,
    /// A dead letter nobody could be told of (or who already was).
    DeadLetterLogged,
}

impl Outcome {
    /// Every outcome, for checks over all of them.
    pub const ALL: [Outcome; 16] = [
        Outcome::Replied,
        Outcome::Stored,
        Outcome::HandedOff,
        Outcome::AnsweredInline,
        Outcome::Redeliver,
        Outcome::Rejected,
        Outcome::Expired,
        Outcome::Cancelled,
        Outcome::Abandoned,
        Outcome::OutOfTime,
        Outcome::RenderFailed,
        Outcome::ReplyDropped,
        Outcome::ReplyUnknown,
        Outcome::GaveUp,
        Outcome::DeadLetterTold,
        Outcome::DeadLetterLogged,
    ];

    /// The word logged as `outcome` and put first in the push's answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Replied => "replied",
            Outcome::Stored => "stored",
            Outcome::HandedOff => "handed_off",
            Outcome::AnsweredInline => "answered_inline",
            Outcome::Redeliver => "redeliver",
            Outcome::Rejected => "rejected",
            Outcome::Expired => "expired",
            Outcome::Cancelled => "cancelled",
            Outcome::Abandoned => "abandoned",
            Outcome::OutOfTime => "out_of_time",
            Outcome::RenderFailed => "render_failed",
            Outcome::ReplyDropped => "reply_dropped",
            Outcome::ReplyUnknown => "reply_unknown",
            Outcome::GaveUp => "gave_up",
            Outcome::DeadLetterTold => "dead_letter_told",
            Outcome::DeadLetterLogged => "dead_letter_logged",
        }
    }

    /// Whether the job ended without its image for a reason an operator
    /// should look at: logged at ERROR as an Error Reporting event, one
    /// group per outcome.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Outcome::RenderFailed
                | Outcome::GaveUp
                | Outcome::ReplyDropped
                | Outcome::ReplyUnknown
                | Outcome::DeadLetterTold
                | Outcome::DeadLetterLogged
        )
    }

    /// The level of the job's log line: INFO when the image went where it
    /// was asked to, ERROR for [`Outcome::is_error`], WARN otherwise.
    pub fn level(self) -> Level {
        match self {
            Outcome::Replied | Outcome::Stored | Outcome::AnsweredInline | Outcome::HandedOff => {
                Level::INFO
            }
            o if o.is_error() => Level::ERROR,
            _ => Level::WARN,
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

    #[test]
    fn levels_follow_from_the_outcome() {
        assert_eq!(Outcome::Replied.level(), Level::INFO);
        assert_eq!(Outcome::HandedOff.level(), Level::INFO);
        assert_eq!(Outcome::Redeliver.level(), Level::WARN);
        assert_eq!(Outcome::OutOfTime.level(), Level::WARN);
        assert_eq!(Outcome::GaveUp.level(), Level::ERROR);
        assert_eq!(Outcome::DeadLetterLogged.level(), Level::ERROR);
        let errors = Outcome::ALL.iter().filter(|o| o.is_error()).count();
        assert_eq!(errors, 6);
    }
}
