//! The bot's promises to its users (issue #20), checked on what Discord
//! received, whatever happened to the bot's dependencies meanwhile:
//!
//! 1. every signed interaction is answered, within Discord's 3 s
//!    ([`DISCORD_DEADLINE`], measured by the client that sent it);
//! 2. every accepted job (a visible answer) ends in exactly one image or
//!    one final word, and that is the last state of its message — not a
//!    "⏳ Still in the queue" notice, and not a final word over an image
//!    that was delivered (nor an image after a final word);
//! 3. a user told privately to try again (or that their queue is full)
//!    never gets anything on that interaction later: no image, no notice;
//! 4. no duplicate: one message per interaction, no follow-up posts.
//!
//! [`burst`] sends the interactions (all at the same moment) and measures
//! each answer; [`settle`] waits for the jobs to end; [`check`] reads the
//! Discord stand-in's messages and the requests it applied, and lists
//! every broken promise with its evidence ([`Report`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandala_cli::dev::client;
use mandala_model::RenderSpec;
use mandala_model::discord::{ResponseType, flags};
use mandala_standin::discord::{DiscordStandin, RecordedMessage, RecordedRequest};
use serde_json::Value;
use tokio::time::Instant;

/// Discord's deadline for answering an interaction. The one timing
/// promise the suite asserts: a functional requirement, not a budget.
pub const DISCORD_DEADLINE: Duration = Duration::from_secs(3);

/// How long the client waits for an answer before calling it none.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the ingress answered, as the user would read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Visible: the job is queued; `estimate` when the answer says when.
    Queued { estimate: bool },
    /// Private: could not queue, try again.
    TryAgain,
    /// Private: the user already has the most jobs one may queue.
    Full,
    /// Private: the user's earlier requests are still being queued.
    Busy,
    /// Private: the queue is too long to finish within the token's life.
    TooLong,
    /// Any other answer: status and body.
    Other(String),
    /// No answer: the error the client saw.
    Unanswered(String),
}

impl Answer {
    pub fn queued(&self) -> bool {
        matches!(self, Answer::Queued { .. })
    }

    /// Told privately that nothing was queued.
    pub fn refused(&self) -> bool {
        matches!(
            self,
            Answer::TryAgain | Answer::Full | Answer::Busy | Answer::TooLong
        )
    }
}

/// One interaction sent, and its answer.
#[derive(Debug, Clone)]
pub struct Asked {
    pub user: String,
    pub token: String,
    pub interaction_id: String,
    pub spec: RenderSpec,
    /// From sending the request to reading the whole answer.
    pub latency: Duration,
    pub answer: Answer,
}

/// One interaction to send: where, from whom, what.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The ingress's `/interactions` URL.
    pub url: String,
    pub user: String,
    pub spec: RenderSpec,
}

/// Reads an answer the way a user would see it (English strings).
fn classify(status: u16, text: &str) -> Answer {
    let Ok(response) = serde_json::from_str::<mandala_model::discord::InteractionResponse>(text)
    else {
        return Answer::Other(format!("{status}: {text}"));
    };
    let data = response.data.as_ref();
    let content = data
        .and_then(|d| d.message.content.clone())
        .unwrap_or_default();
    let private = data
        .and_then(|d| d.message.flags)
        .is_some_and(|f| f & flags::EPHEMERAL != 0);
    let s = mandala_model::i18n::strings(None);
    let prefix = |template: &str| template.split('{').next().unwrap_or(template).to_owned();
    match (status, response.kind, private) {
        (200, ResponseType::ChannelMessageWithSource, false) => Answer::Queued {
            estimate: content.contains(s.ready_in),
        },
        (200, _, true) if content == s.try_again => Answer::TryAgain,
        (200, _, true) if content.starts_with(&prefix(s.queue_full)) => Answer::Full,
        (200, _, true) if content == s.queue_busy => Answer::Busy,
        (200, _, true) if content.starts_with(&prefix(s.too_long)) => Answer::TooLong,
        _ => Answer::Other(format!("{status}: {text}")),
    }
}

/// Signs and sends every ask at the same moment (they wait for each other
/// to be ready, then go), each on its own connection; measures each answer.
pub async fn burst(key: &SigningKey, application_id: &str, asks: Vec<Ask>) -> Vec<Asked> {
    let http = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default();
    let start = Arc::new(tokio::sync::Barrier::new(asks.len()));
    let tasks: Vec<_> = asks
        .into_iter()
        .map(|ask| {
            let (http, key, start, app) = (
                http.clone(),
                key.clone(),
                Arc::clone(&start),
                application_id.to_owned(),
            );
            tokio::spawn(async move {
                let outgoing = client::command_as(&app, &ask.user, &ask.spec);
                start.wait().await;
                let sent = Instant::now();
                let answer = match client::send(&http, &ask.url, &key, &outgoing).await {
                    Ok(a) => classify(a.status, &a.text),
                    Err(e) => Answer::Unanswered(format!("{e:?}")),
                };
                Asked {
                    user: ask.user,
                    token: outgoing.token,
                    interaction_id: outgoing.id,
                    spec: ask.spec,
                    latency: sent.elapsed(),
                    answer,
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(asked) = t.await {
            out.push(asked);
        }
    }
    out
}

/// What one write to a message showed (or what the message shows now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The finished mandala.
    Image,
    /// A final word in place of the image (❌, ⚠️, ⌛).
    LastWord(String),
    /// A waiting notice ("⏳ Still in the queue …").
    Notice(String),
    /// Anything else.
    Other(String),
}

impl Shown {
    pub fn is_final(&self) -> bool {
        matches!(self, Shown::Image | Shown::LastWord(_))
    }

    fn of(content: &str, files: bool) -> Shown {
        if content.contains("Still in the queue") {
            Shown::Notice(content.to_owned())
        } else if files {
            Shown::Image
        } else if ['❌', '⚠', '⌛'].iter().any(|c| content.starts_with(*c)) {
            Shown::LastWord(content.to_owned())
        } else {
            Shown::Other(content.to_owned())
        }
    }

    /// A message as it stands.
    pub fn message(m: &RecordedMessage) -> Shown {
        Shown::of(
            m.payload.content.as_deref().unwrap_or_default(),
            !m.attachments.is_empty(),
        )
    }

    /// What a request body wrote.
    fn write(json: &Value) -> Shown {
        let files = json["attachments"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        Shown::of(json["content"].as_str().unwrap_or_default(), files)
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Image => write!(f, "image"),
            Shown::LastWord(t) => write!(f, "final word {t:?}"),
            Shown::Notice(t) => write!(f, "notice {t:?}"),
            Shown::Other(t) => write!(f, "{t:?}"),
        }
    }
}

/// Everything Discord received for one interaction token.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// Writes Discord applied to its messages, in the order answered.
    pub writes: Vec<Shown>,
    /// Messages that exist for the token (one: the original response).
    pub messages: Vec<RecordedMessage>,
    /// Follow-up messages posted with the token (`POST /webhooks/{app}/{token}`).
    pub posts: usize,
}

impl Trail {
    /// What the user sees now, if anything.
    pub fn now(&self) -> Option<Shown> {
        self.messages
            .iter()
            .find(|m| m.original)
            .or(self.messages.last())
            .map(Shown::message)
    }
}

/// `(token, is a follow-up post)` of a request that wrote with a token.
fn token_of(r: &RecordedRequest) -> Option<(String, bool)> {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["webhooks", _, token, "messages", _] | ["interactions", _, token, "callback"] => {
            Some(((*token).to_owned(), false))
        }
        ["webhooks", _, token] if r.method == "POST" => Some(((*token).to_owned(), true)),
        _ => None,
    }
}

/// What Discord holds for every token it saw.
pub fn trails(standin: &DiscordStandin) -> HashMap<String, Trail> {
    let mut out: HashMap<String, Trail> = HashMap::new();
    for r in standin.requests() {
        // Applied: answered 2xx (an answer withheld after acting keeps its
        // real status; one withheld without acting is recorded as 0).
        if !(200..300).contains(&r.status) || r.method == "GET" || r.method == "DELETE" {
            continue;
        }
        let Some((token, post)) = token_of(&r) else {
            continue;
        };
        let trail = out.entry(token).or_default();
        if post {
            trail.posts += 1;
        }
        if let Some(json) = &r.json {
            let json = if r.path.ends_with("/callback") {
                &json["data"]
            } else {
                json
            };
            trail.writes.push(Shown::write(json));
        }
    }
    for m in standin.messages() {
        if let Some(token) = &m.token {
            out.entry(token.clone()).or_default().messages.push(m);
        }
    }
    out
}

/// Waits until every queued job's message is final (an image or a final
/// word) and nothing has reached Discord for `quiet`, or `within` passes.
/// Returns how long it took, and whether it settled.
pub async fn settle(
    standin: &DiscordStandin,
    asked: &[Asked],
    within: Duration,
    quiet: Duration,
) -> (Duration, bool) {
    let started = Instant::now();
    let deadline = started + within;
    let mut last_count = usize::MAX;
    let mut last_change = Instant::now();
    loop {
        let count = standin.requests().len();
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        }
        let all = trails(standin);
        let done = asked.iter().filter(|a| a.answer.queued()).all(|a| {
            all.get(&a.token)
                .and_then(Trail::now)
                .is_some_and(|s| s.is_final())
        });
        if done && last_change.elapsed() >= quiet {
            return (started.elapsed(), true);
        }
        if Instant::now() >= deadline {
            return (started.elapsed(), false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a scenario's users saw, in numbers.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub sent: usize,
    pub p50: Duration,
    pub max: Duration,
    /// Answered after [`DISCORD_DEADLINE`].
    pub late: usize,
    pub queued: usize,
    /// Of the queued, those whose answer said when.
    pub estimated: usize,
    pub try_again: usize,
    pub full: usize,
    pub busy: usize,
    pub too_long: usize,
    pub other: usize,
    pub unanswered: usize,
    /// Queued jobs whose message ends in its image.
    pub images: usize,
    /// Queued jobs whose message ends in a final word.
    pub last_words: usize,
    /// Queued jobs with no final state.
    pub unfinished: usize,
    /// Waiting notices Discord applied (all tokens of the scenario).
    pub notices: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answers n={} p50={:.2}s max={:.2}s (late {}) · queued {} (estimate {}) · try again {} · full {} · busy {} · too long {} · other {} · none {} · images {} · final words {} · unfinished {} · notices {}",
            self.sent,
            self.p50.as_secs_f64(),
            self.max.as_secs_f64(),
            self.late,
            self.queued,
            self.estimated,
            self.try_again,
            self.full,
            self.busy,
            self.too_long,
            self.other,
            self.unanswered,
            self.images,
            self.last_words,
            self.unfinished,
            self.notices,
        )
    }
}

/// The broken promises of a scenario, with its numbers.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub summary: Summary,
    /// One line per broken promise, naming the interaction and the evidence.
    pub violations: Vec<String>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        for v in &self.violations {
            writeln!(f, "  ✗ {v}")?;
        }
        Ok(())
    }
}

/// The `q` quantile of `v` (nearest rank).
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Checks every promise for `asked` against what Discord holds now.
pub fn check(asked: &[Asked], standin: &DiscordStandin) -> Report {
    let all = trails(standin);
    let mut s = Summary {
        sent: asked.len(),
        ..Summary::default()
    };
    let mut v = Vec::new();
    let latencies: Vec<Duration> = asked.iter().map(|a| a.latency).collect();
    s.p50 = quantile(&latencies, 0.5);
    s.max = quantile(&latencies, 1.0);
    let empty = Trail::default();
    for a in asked {
        let who = format!("interaction {} (user {})", a.interaction_id, a.user);
        let trail = all.get(&a.token).unwrap_or(&empty);
        s.notices += trail
            .writes
            .iter()
            .filter(|w| matches!(w, Shown::Notice(_)))
            .count();
        match &a.answer {
            Answer::Queued { estimate } => {
                s.queued += 1;
                s.estimated += usize::from(*estimate);
            }
            Answer::TryAgain => s.try_again += 1,
            Answer::Full => s.full += 1,
            Answer::Busy => s.busy += 1,
            Answer::TooLong => s.too_long += 1,
            Answer::Other(text) => {
                s.other += 1;
                v.push(format!("{who}: unexpected answer {text}"));
            }
            Answer::Unanswered(e) => {
                s.unanswered += 1;
                v.push(format!(
                    "{who}: not answered ({e}) after {:.2}s",
                    a.latency.as_secs_f64()
                ));
            }
        }
        if a.latency >= DISCORD_DEADLINE {
            s.late += 1;
            v.push(format!(
                "{who}: answered after {:.2}s, past Discord's {}s",
                a.latency.as_secs_f64(),
                DISCORD_DEADLINE.as_secs()
            ));
        }
        if a.answer.refused() {
            if !trail.writes.is_empty() || !trail.messages.is_empty() {
                let writes: Vec<String> = trail.writes.iter().map(ToString::to_string).collect();
                v.push(format!(
                    "{who}: told privately {:?}, then its message was written: {}",
                    a.answer,
                    writes.join(" → ")
                ));
            }
            continue;
        }
        if !a.answer.queued() {
            continue;
        }
        let writes: Vec<String> = trail.writes.iter().map(ToString::to_string).collect();
        let history = if writes.is_empty() {
            "nothing".to_owned()
        } else {
            writes.join(" → ")
        };
        match trail.now() {
            Some(Shown::Image) => s.images += 1,
            Some(Shown::LastWord(_)) => s.last_words += 1,
            Some(Shown::Notice(t)) => {
                s.unfinished += 1;
                v.push(format!(
                    "{who}: its message ends in a waiting notice {t:?} (writes: {history})"
                ));
            }
            Some(Shown::Other(t)) => {
                s.unfinished += 1;
                v.push(format!(
                    "{who}: its message ends in {t:?} (writes: {history})"
                ));
            }
            None => {
                s.unfinished += 1;
                v.push(format!(
                    "{who}: accepted, but nothing ever reached its message"
                ));
            }
        }
        let images = trail.writes.iter().filter(|w| **w == Shown::Image).count();
        let words = trail
            .writes
            .iter()
            .filter(|w| matches!(w, Shown::LastWord(_)))
            .count();
        if images > 0 && words > 0 {
            v.push(format!(
                "{who}: both an image and a final word reached its message: {history}"
            ));
        }
        if trail.messages.len() > 1 || trail.posts > 0 {
            v.push(format!(
                "{who}: {} messages and {} follow-up posts for one interaction",
                trail.messages.len(),
                trail.posts
            ));
        }
    }
    s.unfinished = s
        .unfinished
        .max(s.queued.saturating_sub(s.images + s.last_words));
    Report {
        summary: s,
        violations: v,
    }
}
