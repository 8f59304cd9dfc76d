//! [`Job`]: the Pub/Sub message body that asks the worker for one image.
//!
//! Operators publish jobs by hand, so the shortest form must work:
//! `{}` (a random mandala, stored only) and `{"spec":{"seed":42}}` are jobs.
//! A missing `v` means version 1; any other version is refused rather than
//! guessed at.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cost::Cost;
use crate::discord::snowflake;
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
    pub user: String,
    /// The entry's id: the interaction id.
    pub job: String,
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
    pub application_id: String,
    pub interaction_id: String,
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
        snowflake::timestamp_ms(&self.interaction_id).map(|t| t + TOKEN_LIFETIME_MS)
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
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

/// Why bytes are not a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job is not valid JSON of the job shape: {0}")]
    Json(#[from] serde_json::Error),
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

    pub fn from_json(bytes: &[u8]) -> Result<Self, JobError> {
        Ok(serde_json::from_slice(bytes)?)
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
