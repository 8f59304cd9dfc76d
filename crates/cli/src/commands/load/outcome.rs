//! How one request of a load test ended, as its user would see it
//! ([`Outcome`]), read from the ingress's answer.

/// How one request ended, as its user would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The visible acknowledgement of a queued job (🌀).
    Queued,
    /// PONG.
    Pong,
    /// Refused privately: the user's queue is full, or still being queued.
    RefusedAtCap,
    /// Refused privately: the wait would outlive the token.
    TooLong,
    /// Told privately to try again (the queue did not take the job).
    TryAgain,
    /// Any other answer with a 2xx.
    OtherAnswer,
    /// A non-2xx status.
    Rejected(u16),
    /// No answer at all.
    TransportError,
}

impl Outcome {
    /// Whether this request failed, as the exit status counts.
    pub fn failed(self) -> bool {
        matches!(
            self,
            Outcome::TryAgain | Outcome::Rejected(_) | Outcome::TransportError
        )
    }

    /// Reads what a 2xx answer said (the interactions are in English).
    pub(super) fn of_answer(status: u16, body: &[u8]) -> Outcome {
        if !(200..300).contains(&status) {
            return Outcome::Rejected(status);
        }
        let Ok(response) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Outcome::OtherAnswer;
        };
        if response["type"] == 1 {
            return Outcome::Pong;
        }
        let text = response["data"]["content"].as_str().unwrap_or_default();
        let s = mandala_model::i18n::strings(None);
        let before = |template: &str| template.split('{').next().unwrap_or(template).to_owned();
        if text.starts_with("🌀") {
            Outcome::Queued
        } else if text == s.try_again {
            Outcome::TryAgain
        } else if text == s.queue_busy || text.starts_with(&before(s.queue_full)) {
            Outcome::RefusedAtCap
        } else if text.starts_with(&before(s.too_long)) {
            Outcome::TooLong
        } else {
            Outcome::OtherAnswer
        }
    }

    pub(super) fn label(self) -> String {
        match self {
            Outcome::Queued => "queued".into(),
            Outcome::Pong => "pong".into(),
            Outcome::RefusedAtCap => "refused at the per-user cap".into(),
            Outcome::TooLong => "refused: wait too long".into(),
            Outcome::TryAgain => "told to try again".into(),
            Outcome::OtherAnswer => "other answer".into(),
            Outcome::Rejected(s) => format!("rejected {s}"),
            Outcome::TransportError => "transport error".into(),
        }
    }
}

/// The interaction a load test sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Command,
    Ping,
}
