//! [`Job`]: the Pub/Sub message body that asks the worker for one image.
//!
//! Operators publish jobs by hand, so the shortest form must work:
//! `{}` (a random mandala, stored only) and `{"spec":{"seed":42}}` are jobs.
//! A missing `v` means version 1; any other version is refused rather than
//! guessed at.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cost::Cost;
use crate::discord::Snowflake;
use crate::grid::GridKind;
use crate::i18n::{Lang, Strings};
use crate::spec::RenderSpec;

/// The only job format this build understands.
pub const JOB_VERSION: u32 = 1;

/// How long Discord keeps an interaction token valid.
pub const TOKEN_LIFETIME_MS: u64 = 15 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawJob")]
pub struct Job {
    pub v: u32,
    pub spec: RenderSpec,
    pub reply: Reply,
    /// What triggered the job; also published as the `kind` attribute.
    pub kind: JobKind,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub requested_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Requester>,
    /// Present when the ingress admitted the job into the queue ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Ticket>,
    /// Draw a grid of four of this kind instead of one image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridKind>,
    /// The requester's Discord locale (`de`, `pt-BR`, …): captions and
    /// messages are in their language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The job is abandoned unless its queue accepted it by this time (Unix
    /// ms): past it the ingress told its user to try again, so a message
    /// the queue took later (a publish that outlived its budget) must not
    /// also end in an image. The worker compares it with the message's
    /// publish time; manual jobs have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_by_ms: Option<u64>,
}

/// The queue ledger's record of an admitted job: the ingress wrote an entry
/// for `job` under `user` before publishing, and told the user to expect
/// the image by `due_ms`. The worker marks the entry started and removes it
/// when the job ends; a job whose entry is gone was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub user: Snowflake,
    /// The entry's id: the interaction id.
    pub job: Snowflake,
    /// When the user was told the image would be ready (Unix ms).
    pub due_ms: u64,
    /// The job's predicted render effort.
    pub cost: Cost,
    /// When the interaction token dies (Unix ms): the entry stops counting
    /// then, and nothing can be delivered after it. 0 in messages from
    /// before this field: read the token's expiry from the reply instead.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expires_ms: u64,
    /// Whether the ledger is known to hold the entry.
    #[serde(default, skip_serializing_if = "Recorded::is_yes")]
    pub recorded: Recorded,
}

/// What the ingress knows of a ticket's entry in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// The ledger confirmed the write: a missing entry means the job was
    /// cancelled (or ended) and must not be rendered.
    #[default]
    Yes,
    /// The write did not answer in time and may land later, or never: a
    /// missing entry means nothing, and whoever starts or ends the job
    /// writes over it so a late write cannot leave a phantom entry.
    Unknown,
}

impl Recorded {
    pub fn is_yes(&self) -> bool {
        *self == Recorded::Yes
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Where the finished image goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Edit the original response of this interaction.
    Interaction(InteractionReply),
    /// POST a message to a Discord channel webhook.
    WebhookUrl(String),
    /// POST to the channel webhook whose URL is held in this Secret Manager
    /// secret version, `projects/P/secrets/S/versions/V` (`latest` follows
    /// rotations). A webhook URL is a credential: named this way it stays
    /// out of the message, its redeliveries and the dead-letter copies.
    WebhookSecret(String),
    /// Store the image and log where it went.
    #[default]
    None,
}

/// The credentials to edit an interaction's original response. The token is
/// a secret for 15 minutes: it is never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionReply {
    pub application_id: Snowflake,
    pub interaction_id: Snowflake,
    pub token: String,
}

impl std::fmt::Debug for InteractionReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionReply")
            .field("application_id", &self.application_id)
            .field("interaction_id", &self.interaction_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl InteractionReply {
    /// When the token stops working (Unix milliseconds), from the
    /// interaction id's snowflake timestamp; `None` if the id is not one.
    pub fn token_expires_at_ms(&self) -> Option<u64> {
        self.interaction_id
            .timestamp_ms()
            .map(|t| t + TOKEN_LIFETIME_MS)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Command,
    Reroll,
    Variation,
    /// Vary (Subtle): colours and fine detail move.
    Subtle,
    /// Vary (Strong): the structure changes, the look stays.
    Strong,
    Upscale,
    /// U n: one cell of a grid, alone.
    Pick,
    /// The Remix form, from a button or the message menu.
    Remix,
    /// The "Mandala for this user" menu.
    ForUser,
    #[default]
    Manual,
    Schedule,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Command => "command",
            JobKind::Reroll => "reroll",
            JobKind::Variation => "variation",
            JobKind::Subtle => "subtle",
            JobKind::Strong => "strong",
            JobKind::Upscale => "upscale",
            JobKind::Pick => "pick",
            JobKind::Remix => "remix",
            JobKind::ForUser => "for_user",
            JobKind::Manual => "manual",
            JobKind::Schedule => "schedule",
        }
    }
}

/// Who asked, for the caption and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Snowflake>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<Snowflake>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<Snowflake>,
}

/// Why bytes are not a job this build can serve.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Not a job, or a job with a value no build accepts: redelivering it
    /// cannot help.
    #[error("job is not valid JSON of the job shape: {0}")]
    Json(#[from] serde_json::Error),
    /// A job from a newer build (during a rolling upgrade): it names a
    /// version, a spec field or a kind this build does not know. A newer
    /// worker can serve it, so it is worth delivering again.
    #[error(
        "job is from a newer version of the bot: {what} (this build understands v={JOB_VERSION})"
    )]
    Newer {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl JobError {
    /// Whether a newer build could serve the job.
    pub fn is_newer(&self) -> bool {
        matches!(self, JobError::Newer { .. })
    }
}

/// What in a job's JSON only a newer build knows, if anything: a higher
/// `v`, a spec field, a reply, job or grid kind this build has no name
/// for. Unknown fields at the job's top level are ignored anyway; unknown
/// values (a style this build lacks) are not told apart from mistakes.
pub fn newer_in(job: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let unknown = |known: &[&str], name: &str| !known.contains(&name);
    if let Some(v) = job.get("v").and_then(Value::as_u64)
        && v > u64::from(JOB_VERSION)
    {
        return Some(format!("job version v={v}"));
    }
    if let Some(spec) = job.get("spec").and_then(Value::as_object) {
        let fields = crate::shape::names_of::<RenderSpec>();
        if let Some(k) = spec.keys().find(|k| unknown(fields, k)) {
            return Some(format!("spec field `{k}`"));
        }
    }
    let replies = crate::shape::names_of::<Reply>();
    match job.get("reply") {
        Some(Value::Object(reply)) => {
            if let Some(k) = reply.keys().find(|k| unknown(replies, k)) {
                return Some(format!("reply kind `{k}`"));
            }
        }
        Some(Value::String(k)) if unknown(replies, k) => {
            return Some(format!("reply kind `{k}`"));
        }
        _ => {}
    }
    if let Some(k) = job.get("kind").and_then(Value::as_str)
        && unknown(crate::shape::names_of::<JobKind>(), k)
    {
        return Some(format!("job kind `{k}`"));
    }
    if let Some(k) = job.get("grid").and_then(Value::as_str)
        && unknown(crate::shape::names_of::<GridKind>(), k)
    {
        return Some(format!("grid kind `{k}`"));
    }
    None
}

/// What can still be read of a job this build cannot decode: where its
/// final word would go, its ledger ticket, when it was given up, and its
/// user's language. Each part is read on its own and left out if it does
/// not parse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Salvaged {
    /// The interaction to answer; [`Reply::None`] when there is none (or
    /// it does not parse: only an interaction has a user waiting).
    pub reply: Reply,
    pub ticket: Option<Ticket>,
    pub locale: Option<String>,
    pub publish_by_ms: Option<u64>,
}

impl Salvaged {
    /// Reads what it can of a job's JSON; nothing at all if it is not JSON.
    pub fn from_json(bytes: &[u8]) -> Salvaged {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| Salvaged::from_value(&v))
            .unwrap_or_default()
    }

    /// Reads what it can of a job as a JSON value.
    pub fn from_value(job: &serde_json::Value) -> Salvaged {
        let part = |key: &str| job.get(key).cloned().unwrap_or_default();
        Salvaged {
            reply: job
                .get("reply")
                .and_then(|r| r.get("interaction"))
                .cloned()
                .and_then(|i| serde_json::from_value::<InteractionReply>(i).ok())
                .map_or(Reply::None, Reply::Interaction),
            ticket: serde_json::from_value(part("ticket")).ok(),
            locale: serde_json::from_value(part("locale")).ok().flatten(),
            publish_by_ms: job.get("publish_by_ms").and_then(serde_json::Value::as_u64),
        }
    }

    /// The strings for the requester's language.
    pub fn strings(&self) -> &'static Strings {
        Lang::from_locale(self.locale.as_deref()).strings()
    }
}

#[derive(Deserialize)]
struct RawJob {
    #[serde(default)]
    v: Option<u32>,
    #[serde(default)]
    spec: RenderSpec,
    #[serde(default, deserialize_with = "null_is_none")]
    reply: Reply,
    #[serde(default)]
    kind: JobKind,
    #[serde(default, with = "time::serde::rfc3339::option")]
    requested_at: Option<OffsetDateTime>,
    #[serde(default)]
    requested_by: Option<Requester>,
    #[serde(default)]
    ticket: Option<Ticket>,
    #[serde(default)]
    grid: Option<GridKind>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    publish_by_ms: Option<u64>,
}

fn null_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Reply, D::Error> {
    Ok(Option::<Reply>::deserialize(d)?.unwrap_or_default())
}

impl TryFrom<RawJob> for Job {
    type Error = String;

    fn try_from(raw: RawJob) -> Result<Self, Self::Error> {
        let v = raw.v.unwrap_or(JOB_VERSION);
        if v != JOB_VERSION {
            return Err(format!(
                "unknown job version v={v} (this build understands v={JOB_VERSION})"
            ));
        }
        Ok(Job {
            v,
            spec: raw.spec,
            reply: raw.reply,
            kind: raw.kind,
            requested_at: raw.requested_at,
            requested_by: raw.requested_by,
            ticket: raw.ticket,
            grid: raw.grid,
            locale: raw.locale,
            publish_by_ms: raw.publish_by_ms,
        })
    }
}

impl Job {
    pub fn new(spec: RenderSpec, reply: Reply, kind: JobKind) -> Self {
        Job {
            v: JOB_VERSION,
            spec,
            reply,
            kind,
            requested_at: None,
            requested_by: None,
            ticket: None,
            grid: None,
            locale: None,
            publish_by_ms: None,
        }
    }

    /// The strings for the requester's language.
    pub fn strings(&self) -> &'static Strings {
        Lang::from_locale(self.locale.as_deref()).strings()
    }

    /// Whose job this is, for per-user limits and fair scheduling: the
    /// ticket's user, else the requester's; `None` for manual jobs.
    pub fn user(&self) -> Option<&str> {
        self.ticket
            .as_ref()
            .map(|t| t.user.as_str())
            .or_else(|| self.requested_by.as_ref()?.user_id.as_deref())
            .filter(|u| !u.is_empty())
    }

    /// Decodes a job; a job from a newer build is told apart from a
    /// malformed one ([`JobError::Newer`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JobError> {
        serde_json::from_slice(bytes).map_err(|source| {
            let newer = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .as_ref()
                .and_then(newer_in);
            match newer {
                Some(what) => JobError::Newer { what, source },
                None => JobError::Json(source),
            }
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_manual_jobs_are_valid() {
        let j = Job::from_json(b"{}").unwrap();
        assert_eq!((j.v, &j.reply, j.kind), (1, &Reply::None, JobKind::Manual));
        let j = Job::from_json(br#"{"spec":{"seed":42,"palette":"ocean"}}"#).unwrap();
        assert_eq!(j.spec.seed, Some(42));
        let j = Job::from_json(br#"{"reply":null}"#).unwrap();
        assert_eq!(j.reply, Reply::None);
    }

    #[test]
    fn webhook_and_interaction_replies_parse() {
        let j =
            Job::from_json(br#"{"reply":{"webhook_url":"https://discord.com/api/webhooks/1/x"}}"#)
                .unwrap();
        assert_eq!(
            j.reply,
            Reply::WebhookUrl("https://discord.com/api/webhooks/1/x".into())
        );
        let j = Job::from_json(
            br#"{"reply":{"webhook_secret":"projects/p/secrets/daily-webhook/versions/latest"}}"#,
        )
        .unwrap();
        assert_eq!(
            j.reply,
            Reply::WebhookSecret("projects/p/secrets/daily-webhook/versions/latest".into())
        );
        let j = Job::from_json(
            br#"{"v":1,"reply":{"interaction":{"application_id":"1","interaction_id":"1322637963339104358","token":"t"}},"requested_at":"2026-11-24T10:00:00Z"}"#,
        )
        .unwrap();
        let Reply::Interaction(i) = &j.reply else {
            panic!("not an interaction")
        };
        assert!(
            !format!("{i:?}").contains("\"t\""),
            "token leaked into Debug"
        );
        assert!(i.token_expires_at_ms().is_some());
    }

    #[test]
    fn unknown_version_is_refused_not_guessed() {
        let e = Job::from_json(br#"{"v":2}"#).unwrap_err();
        assert!(e.to_string().contains("v=2"), "{e}");
        assert!(e.is_newer(), "a higher version is a newer build's job");
        let e = Job::from_json(br#"{"v":0}"#).unwrap_err();
        assert!(!e.is_newer(), "v=0 was never a version: {e}");
    }

    #[test]
    fn a_job_from_the_next_version_is_told_apart_from_a_broken_one() {
        let next = [
            (
                r#"{"spec":{"seed":1,"sparkle":true}}"#,
                "spec field `sparkle`",
            ),
            (r#"{"reply":{"thread":{"id":"1"}}}"#, "reply kind `thread`"),
            (r#"{"kind":"zoom"}"#, "job kind `zoom`"),
            (r#"{"grid":"mosaic"}"#, "grid kind `mosaic`"),
            (r#"{"v":3,"spec":{"seed":"x"}}"#, "job version v=3"),
        ];
        for (json, what) in next {
            let e = Job::from_json(json.as_bytes()).unwrap_err();
            let JobError::Newer { what: found, .. } = &e else {
                panic!("{json}: {e}")
            };
            assert_eq!(found, what, "{json}");
        }
        for broken in [
            r#"{"spec":{"seed":"forty-two"}}"#,
            r#"{"spec":{"style":"spiral"}}"#,
            r#"{"reply":{"interaction":{"token":1}}}"#,
            "[1,2]",
            "not json",
        ] {
            let e = Job::from_json(broken.as_bytes()).unwrap_err();
            assert!(!e.is_newer(), "{broken}: {e}");
        }
    }

    #[test]
    fn what_can_be_read_of_an_unreadable_job_is_salvaged() {
        let json = br#"{"v":2,"spec":{"sparkle":true},"locale":"de",
            "reply":{"interaction":{"application_id":"1","interaction_id":"2","token":"t","new":1}},
            "ticket":{"user":"9","job":"2","due_ms":5,"cost":3},"publish_by_ms":7}"#;
        let s = Salvaged::from_json(json);
        let Reply::Interaction(i) = &s.reply else {
            panic!("{s:?}")
        };
        assert_eq!((i.application_id.as_str(), i.token.as_str()), ("1", "t"));
        assert_eq!(s.ticket.as_ref().map(|t| t.job.as_str()), Some("2"));
        assert_eq!(
            (s.locale.as_deref(), s.publish_by_ms),
            (Some("de"), Some(7))
        );
        assert_eq!(
            s.strings().why_slow,
            crate::i18n::strings(Some("de")).why_slow
        );
        // Parts that do not parse are left out; the rest stays.
        let s = Salvaged::from_json(
            br#"{"reply":{"interaction":{"token":1}},"ticket":[],"locale":"fr"}"#,
        );
        assert_eq!(
            (s.reply, s.ticket, s.locale.as_deref()),
            (Reply::None, None, Some("fr"))
        );
        assert_eq!(Salvaged::from_json(b"nope"), Salvaged::default());
    }

    #[test]
    fn tickets_from_before_their_expiry_and_recording_read_as_recorded() {
        let j = Job::from_json(
            br#"{"ticket":{"user":"9","job":"1","due_ms":5,"cost":3},"sparkle_at_top":1}"#,
        )
        .unwrap();
        let t = j.ticket.unwrap();
        assert_eq!((t.expires_ms, t.recorded), (0, Recorded::Yes));
        assert_eq!(j.publish_by_ms, None);
    }

    #[test]
    fn round_trips() {
        let mut j = Job::new(
            RenderSpec {
                seed: Some(1),
                ..Default::default()
            },
            Reply::None,
            JobKind::Command,
        );
        j.requested_at = Some(time::macros::datetime!(2026-11-24 10:00 UTC));
        j.requested_by = Some(Requester {
            user_id: Some("9".into()),
            ..Default::default()
        });
        assert_eq!(Job::from_json(&j.to_json()).unwrap(), j);
        j.publish_by_ms = Some(1_800_000_000_000);
        j.ticket = Some(Ticket {
            user: "9".into(),
            job: "1".into(),
            due_ms: 5,
            cost: Cost(3),
            expires_ms: 1_800_000_900_000,
            recorded: Recorded::Unknown,
        });
        assert_eq!(Job::from_json(&j.to_json()).unwrap(), j);
    }
}
