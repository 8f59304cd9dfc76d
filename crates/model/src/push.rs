//! [`PushEnvelope`]: the JSON body a Pub/Sub push subscription POSTs.
//!
//! Pub/Sub sends both camelCase and snake_case spellings of some fields;
//! `data` may be absent (attribute-only messages) and `deliveryAttempt` only
//! appears with a dead-letter policy. Unknown fields are ignored.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::job::Job;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushEnvelope {
    #[serde(default)]
    pub subscription: String,
    pub message: PushMessage,
    #[serde(
        rename = "deliveryAttempt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delivery_attempt: Option<u32>,
}

/// The message. Pub/Sub sends `messageId` *and* `message_id` (and likewise
/// for the publish time), so both spellings are read and either may be absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawPushMessage")]
pub struct PushMessage {
    /// Base64 of the job JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(rename = "publishTime", skip_serializing_if = "Option::is_none")]
    pub publish_time: Option<String>,
    #[serde(rename = "orderingKey", skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

#[derive(Deserialize)]
struct RawPushMessage {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, String>>,
    #[serde(rename = "messageId", default)]
    message_id_camel: Option<String>,
    #[serde(rename = "message_id", default)]
    message_id_snake: Option<String>,
    #[serde(rename = "publishTime", default)]
    publish_time_camel: Option<String>,
    #[serde(rename = "publish_time", default)]
    publish_time_snake: Option<String>,
    #[serde(rename = "orderingKey", default)]
    ordering_key_camel: Option<String>,
    #[serde(rename = "ordering_key", default)]
    ordering_key_snake: Option<String>,
}

impl From<RawPushMessage> for PushMessage {
    fn from(r: RawPushMessage) -> Self {
        PushMessage {
            data: r.data,
            attributes: r.attributes.unwrap_or_default(),
            message_id: r
                .message_id_camel
                .or(r.message_id_snake)
                .unwrap_or_default(),
            publish_time: r.publish_time_camel.or(r.publish_time_snake),
            ordering_key: r
                .ordering_key_camel
                .or(r.ordering_key_snake)
                .filter(|k| !k.is_empty()),
        }
    }
}

/// Why a push cannot be turned into a job. All of these are permanent:
/// redelivering the same bytes cannot help, so the worker acknowledges them.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("push envelope is not valid: {0}")]
    Envelope(serde_json::Error),
    #[error("message data is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("{0}")]
    Job(#[from] crate::job::JobError),
}

impl PushEnvelope {
    pub fn from_slice(body: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(body).map_err(DecodeError::Envelope)
    }

    /// Wraps a job the way Pub/Sub would, for the local push delivery.
    pub fn wrap(
        job: &Job,
        message_id: impl Into<String>,
        subscription: impl Into<String>,
        publish_time: impl Into<String>,
        attributes: BTreeMap<String, String>,
        delivery_attempt: Option<u32>,
    ) -> Self {
        Self::wrap_data(
            &job.to_json(),
            message_id,
            subscription,
            publish_time,
            attributes,
            delivery_attempt,
        )
    }

    /// Wraps any message body (a job, a reply job) the way Pub/Sub would.
    pub fn wrap_data(
        data: &[u8],
        message_id: impl Into<String>,
        subscription: impl Into<String>,
        publish_time: impl Into<String>,
        attributes: BTreeMap<String, String>,
        delivery_attempt: Option<u32>,
    ) -> Self {
        PushEnvelope {
            subscription: subscription.into(),
            message: PushMessage {
                data: Some(STANDARD.encode(data)),
                attributes,
                message_id: message_id.into(),
                publish_time: Some(publish_time.into()),
                ordering_key: None,
            },
            delivery_attempt,
        }
    }

    /// Decodes the job. Absent or empty data is the empty job `{}`.
    pub fn decode_job(&self) -> Result<Job, DecodeError> {
        Ok(Job::from_json(&self.data()?)?)
    }

    /// The message body, decoded from base64; absent or empty data is `{}`.
    pub fn data(&self) -> Result<Vec<u8>, DecodeError> {
        Ok(match self.message.data.as_deref() {
            None | Some("") => b"{}".to_vec(),
            Some(b64) => STANDARD.decode(b64.trim())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobKind, Reply};
    use crate::spec::RenderSpec;

    #[test]
    fn wrap_then_decode_round_trips() {
        let job = Job::new(
            RenderSpec {
                seed: Some(3),
                ..Default::default()
            },
            Reply::None,
            JobKind::Manual,
        );
        let env = PushEnvelope::wrap(
            &job,
            "m1",
            "projects/p/subscriptions/s",
            "2026-11-24T10:00:00Z",
            BTreeMap::new(),
            Some(2),
        );
        let json = serde_json::to_vec(&env).unwrap();
        let back = PushEnvelope::from_slice(&json).unwrap();
        assert_eq!(back.delivery_attempt, Some(2));
        assert_eq!(back.message.message_id, "m1");
        assert_eq!(back.decode_job().unwrap(), job);
    }

    #[test]
    fn snake_case_and_missing_data() {
        let env = PushEnvelope::from_slice(
            br#"{"subscription":"s","message":{"message_id":"7","publish_time":"x"}}"#,
        )
        .unwrap();
        assert_eq!(env.message.message_id, "7");
        assert_eq!(env.decode_job().unwrap().spec, RenderSpec::default());
    }

    #[test]
    fn bad_inputs_are_typed() {
        assert!(matches!(
            PushEnvelope::from_slice(b"nope"),
            Err(DecodeError::Envelope(_))
        ));
        let env =
            PushEnvelope::from_slice(br#"{"message":{"data":"!!!","messageId":"1"}}"#).unwrap();
        assert!(matches!(env.decode_job(), Err(DecodeError::Base64(_))));
        let env =
            PushEnvelope::from_slice(br#"{"message":{"data":"bm90IGpzb24=","messageId":"1"}}"#)
                .unwrap();
        assert!(matches!(env.decode_job(), Err(DecodeError::Job(_))));
        let v2 = STANDARD.encode(br#"{"v":2}"#);
        let env = PushEnvelope::from_slice(
            format!(r#"{{"message":{{"data":"{v2}","messageId":"1"}}}}"#).as_bytes(),
        )
        .unwrap();
        assert!(env.decode_job().unwrap_err().to_string().contains("v=2"));
    }
}
