//! [`ReplyJob`]: what the render stage hands the reply stage in the split
//! design (`pubsub-split`, docs/DEPLOY.md).
//!
//! The render stage renders and stores the image, then publishes one of
//! these to a second topic; a thin replier edits the Discord message from
//! it. Everything the message needs is here or in the store — the job as
//! the ingress admitted it (reply target, kind, requester, ticket, grid,
//! locale), the spec it was drawn from (the caption and the buttons carry
//! it), and the stored objects to attach — so a redelivered reply reads the
//! image again and never renders it again.

use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::spec::RenderSpec;

/// The only reply-job format this build understands.
pub const REPLY_JOB_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawReplyJob")]
pub struct ReplyJob {
    pub v: u32,
    /// The job as the ingress published it.
    pub job: Job,
    /// The user's spec with its seed filled in (for a grid, its base).
    pub spec: RenderSpec,
    /// The finished image, in the store.
    pub image: StoredImage,
    /// A smaller rendering of the same spec, stored too, to attach instead
    /// when the image is over Discord's upload limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<StoredImage>,
    /// The render job's message id: stable across that job's redeliveries,
    /// so a channel webhook's post is recorded under it and made once.
    pub job_message_id: String,
    /// A waiting notice may hold the message until then (Unix ms); the
    /// reply waits it out, so a late notice never replaces the image.
    #[serde(default)]
    pub lease_until_ms: u64,
}

/// An image the render stage stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// Its content-addressed object name (`renders/v1/<hash>.png`).
    pub object: String,
    pub content_type: String,
    /// Its edge in pixels.
    pub size: u32,
}

#[derive(Deserialize)]
struct RawReplyJob {
    #[serde(default)]
    v: Option<u32>,
    job: Job,
    spec: RenderSpec,
    image: StoredImage,
    #[serde(default)]
    preview: Option<StoredImage>,
    #[serde(default)]
    job_message_id: String,
    #[serde(default)]
    lease_until_ms: u64,
}

impl TryFrom<RawReplyJob> for ReplyJob {
    type Error = String;

    fn try_from(raw: RawReplyJob) -> Result<Self, Self::Error> {
        let v = raw.v.unwrap_or(REPLY_JOB_VERSION);
        if v != REPLY_JOB_VERSION {
            return Err(format!(
                "unknown reply job version v={v} (this build understands v={REPLY_JOB_VERSION})"
            ));
        }
        if raw.image.object.is_empty() {
            return Err("reply job names no stored image".to_owned());
        }
        Ok(ReplyJob {
            v,
            job: raw.job,
            spec: raw.spec,
            image: raw.image,
            preview: raw.preview,
            job_message_id: raw.job_message_id,
            lease_until_ms: raw.lease_until_ms,
        })
    }
}

impl ReplyJob {
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// For a reply job this build could not decode: what in it only a
    /// newer build knows (a higher `v`, or a newer job or spec inside), if
    /// anything. A newer replier may then serve it.
    pub fn newer(bytes: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        if let Some(v) = value.get("v").and_then(serde_json::Value::as_u64)
            && v > u64::from(REPLY_JOB_VERSION)
        {
            return Some(format!("reply job version v={v}"));
        }
        if let Some(spec) = value.get("spec").and_then(serde_json::Value::as_object) {
            let fields = crate::shape::names_of::<RenderSpec>();
            if let Some(k) = spec.keys().find(|k| !fields.contains(&k.as_str())) {
                return Some(format!("spec field `{k}`"));
            }
        }
        crate::job::newer_in(value.get("job")?)
    }

    /// What can be read of the job inside a reply job this build could
    /// not decode (where its final word would go).
    pub fn salvage(bytes: &[u8]) -> crate::job::Salvaged {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("job").map(crate::job::Salvaged::from_value))
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobKind, Reply};

    fn reply_job() -> ReplyJob {
        ReplyJob {
            v: REPLY_JOB_VERSION,
            job: Job::new(RenderSpec::default(), Reply::None, JobKind::Command),
            spec: RenderSpec {
                seed: Some(7),
                ..Default::default()
            },
            image: StoredImage {
                object: "renders/v1/abc.png".into(),
                content_type: "image/png".into(),
                size: 1024,
            },
            preview: None,
            job_message_id: "m1".into(),
            lease_until_ms: 0,
        }
    }

    #[test]
    fn round_trips_and_refuses_what_it_cannot_send() {
        let r = reply_job();
        assert_eq!(ReplyJob::from_json(&r.to_json()).unwrap(), r);
        let mut v2: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        v2["v"] = 2.into();
        let e = ReplyJob::from_json(v2.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("v=2"), "{e}");
        let mut empty = r.clone();
        empty.image.object.clear();
        assert!(ReplyJob::from_json(&empty.to_json()).is_err());
        // A job is not a reply job: the stages cannot mistake one for the other.
        assert!(ReplyJob::from_json(&r.job.to_json()).is_err());
    }

    #[test]
    fn a_reply_job_from_a_newer_build_is_told_apart_from_a_broken_one() {
        let r = reply_job();
        let mut next: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        next["spec"]["sparkle"] = true.into();
        let bytes = next.to_string().into_bytes();
        assert!(ReplyJob::from_json(&bytes).is_err());
        assert_eq!(
            ReplyJob::newer(&bytes).as_deref(),
            Some("spec field `sparkle`")
        );
        let mut inner = serde_json::from_slice::<serde_json::Value>(&r.to_json()).unwrap();
        inner["job"]["spec"]["sparkle"] = true.into();
        assert!(ReplyJob::newer(inner.to_string().as_bytes()).is_some());
        let mut broken = serde_json::from_slice::<serde_json::Value>(&r.to_json()).unwrap();
        broken["spec"]["seed"] = "soon".into();
        assert_eq!(ReplyJob::newer(broken.to_string().as_bytes()), None);
    }
}
