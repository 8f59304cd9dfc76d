//! One delivery of a message, however it arrived: a Pub/Sub push (or the
//! local push delivery, which sends the same envelope) or a Cloud Tasks
//! dispatch.
//!
//! The job's story does not care which: it needs an id that stays the same
//! across redeliveries (a job without a seed is seeded from it, and a
//! channel webhook's post is recorded under it), which attempt this is (the
//! last one tells the user instead of asking again), and the body.
//!
//! Cloud Tasks has no envelope: the body is the job itself, and the rest is
//! in headers. `X-CloudTasks-TaskName` is the task's id (stable across its
//! retries); `X-CloudTasks-TaskRetryCount` counts the attempts before this
//! one, including those that never reached the worker (5xx, timeouts), so
//! this attempt is that plus one, as the queue's `max_attempts` counts.
//! `X-CloudTasks-TaskExecutionCount` counts only the answers the worker
//! gave; it is logged, not used.
//!
//! Either way the ingress's trace id may come along (the message attribute
//! or task header of [`mandala_service::trace`]), so the job's log line
//! joins the interaction's.
//!
//! When the queue accepted the message is known for a push (the envelope's
//! `publishTime`, the same on every redelivery; the local push delivery
//! stamps it at enqueue) and for a task's first attempt:
//! `X-CloudTasks-TaskETA` is the task's schedule time in seconds since the
//! epoch, which for a task created without one is its creation time — but
//! a retry is rescheduled, and its ETA is the retry's own time.

use http::HeaderMap;
use mandala_model::PushEnvelope;
use mandala_service::trace::{TRACE_ATTRIBUTE, TRACE_HEADER, parse_trace_id};

use crate::config::Via;

/// Pub/Sub's count of attempts, on a message it forwards to a dead-letter topic.
const DEAD_LETTER_COUNT: &str = "CloudPubSubDeadLetterSourceDeliveryCount";

/// The headers of a Cloud Tasks dispatch.
pub const TASK_NAME: &str = "x-cloudtasks-taskname";
pub const TASK_RETRY_COUNT: &str = "x-cloudtasks-taskretrycount";
pub const TASK_EXECUTION_COUNT: &str = "x-cloudtasks-taskexecutioncount";
pub const QUEUE_NAME: &str = "x-cloudtasks-queuename";
pub const TASK_ETA: &str = "x-cloudtasks-tasketa";

/// Why a delivery is not one: poison, as the same bytes would fail again.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Envelope(#[from] mandala_model::DecodeError),
    #[error("push envelope has no messageId")]
    NoMessageId,
    #[error("not a Cloud Tasks dispatch: no X-CloudTasks-TaskName header")]
    NotATask,
    #[error("X-CloudTasks-TaskRetryCount {value:?} is not a count")]
    RetryCount {
        value: String,
        source: std::num::ParseIntError,
    },
}

/// A message as the worker received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Stable across redeliveries: Pub/Sub's message id, or the task's id.
    pub message_id: String,
    /// This attempt, counting from 1, when the sender counts (Pub/Sub with
    /// a dead-letter policy, the local delivery, Cloud Tasks).
    pub attempt: Option<u32>,
    /// The body: a job's, or a reply job's, JSON.
    pub data: Vec<u8>,
    /// For a dead letter: how often the source subscription tried.
    pub source_attempts: Option<u32>,
    /// The ingress's trace id (32 hex digits), when it sent one along.
    pub trace_id: Option<String>,
    /// How it came.
    pub via: Via,
    /// When the queue accepted the message (Unix ms), when known.
    pub published_ms: Option<u64>,
}

/// An RFC 3339 time as Unix milliseconds.
fn rfc3339_ms(text: &str) -> Option<u64> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Seconds since the epoch (`1666670855.3296249`) as Unix milliseconds.
fn epoch_secs_ms(text: &str) -> Option<u64> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs < 1e11).then_some((secs * 1000.0) as u64)
}

impl Delivery {
    /// A push envelope's message. Errors are poison: the same bytes would
    /// fail again.
    pub fn from_push(body: &[u8]) -> Result<Delivery, DeliveryError> {
        let envelope = PushEnvelope::from_slice(body)?;
        if envelope.message.message_id.is_empty() {
            return Err(DeliveryError::NoMessageId);
        }
        let data = envelope.data()?;
        Ok(Delivery {
            source_attempts: envelope
                .message
                .attributes
                .get(DEAD_LETTER_COUNT)
                .and_then(|n| n.parse().ok()),
            trace_id: envelope
                .message
                .attributes
                .get(TRACE_ATTRIBUTE)
                .and_then(|t| parse_trace_id(t)),
            published_ms: envelope
                .message
                .publish_time
                .as_deref()
                .and_then(rfc3339_ms),
            message_id: envelope.message.message_id,
            attempt: envelope.delivery_attempt,
            data,
            via: Via::Push,
        })
    }

    /// A Cloud Tasks dispatch: the body and its `X-CloudTasks-*` headers.
    pub fn from_task(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, DeliveryError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let name = header(TASK_NAME).ok_or(DeliveryError::NotATask)?;
        // The header holds the short id; a full name is accepted too.
        let id = name.rsplit('/').next().unwrap_or(name);
        let retries: u32 = match header(TASK_RETRY_COUNT) {
            None => 0,
            Some(n) => n.parse().map_err(|source| DeliveryError::RetryCount {
                value: n.to_owned(),
                source,
            })?,
        };
        // Only the first attempt's ETA is the task's creation time.
        let published_ms = if retries == 0 {
            header(TASK_ETA).and_then(epoch_secs_ms)
        } else {
            None
        };
        Ok(Delivery {
            message_id: id.to_owned(),
            attempt: Some(retries.saturating_add(1)),
            data: body.to_vec(),
            source_attempts: None,
            trace_id: header(TRACE_HEADER).and_then(parse_trace_id),
            published_ms,
            via: Via::Task,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_dispatch_is_a_delivery() {
        let mut h = HeaderMap::new();
        h.insert(TASK_NAME, "0f3a9c".parse().unwrap());
        h.insert(TASK_RETRY_COUNT, "4".parse().unwrap());
        h.insert(TASK_EXECUTION_COUNT, "2".parse().unwrap());
        h.insert(
            TRACE_HEADER,
            "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
        );
        let d = Delivery::from_task(&h, b"{}").unwrap();
        assert_eq!(d.message_id, "0f3a9c");
        assert_eq!(d.via, Via::Task);
        assert_eq!(
            d.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // Four attempts before this one, counted as the queue counts them.
        assert_eq!(d.attempt, Some(5));
        h.insert(
            TASK_NAME,
            "projects/p/locations/l/queues/q/tasks/0f3a9c"
                .parse()
                .unwrap(),
        );
        h.remove(TASK_RETRY_COUNT);
        let d = Delivery::from_task(&h, b"{}").unwrap();
        assert_eq!((d.message_id.as_str(), d.attempt), ("0f3a9c", Some(1)));
        assert!(Delivery::from_task(&HeaderMap::new(), b"{}").is_err());
    }

    #[test]
    fn a_push_carries_the_ingress_trace_in_an_attribute() {
        let attributes = std::collections::BTreeMap::from([
            (
                TRACE_ATTRIBUTE.to_owned(),
                "4BF92F3577B34DA6A3CE929D0E0E4736".to_owned(),
            ),
            ("kind".to_owned(), "command".to_owned()),
        ]);
        let envelope = PushEnvelope::wrap_data(
            b"{}",
            "m-1",
            "s",
            "2026-01-01T00:00:00Z",
            attributes,
            Some(1),
        );
        let d = Delivery::from_push(&serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert_eq!(d.via, Via::Push);
        assert_eq!(
            d.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // A malformed one is dropped, not trusted.
        let bad = PushEnvelope::wrap_data(
            b"{}",
            "m-2",
            "s",
            "2026-01-01T00:00:00Z",
            std::collections::BTreeMap::from([(TRACE_ATTRIBUTE.to_owned(), "x".to_owned())]),
            Some(1),
        );
        let d = Delivery::from_push(&serde_json::to_vec(&bad).unwrap()).unwrap();
        assert_eq!(d.trace_id, None);
    }

    #[test]
    fn when_the_queue_took_the_message_is_read_where_it_means_that() {
        let mut h = HeaderMap::new();
        h.insert(TASK_NAME, "t1".parse().unwrap());
        h.insert(TASK_ETA, "1666670855.3296249".parse().unwrap());
        let d = Delivery::from_task(&h, b"{}").unwrap();
        assert_eq!(
            (d.published_ms, d.via),
            (Some(1_666_670_855_329), Via::Task)
        );
        // A retry's ETA is when the retry was scheduled, not the creation.
        h.insert(TASK_RETRY_COUNT, "1".parse().unwrap());
        assert_eq!(Delivery::from_task(&h, b"{}").unwrap().published_ms, None);
        h.insert(TASK_RETRY_COUNT, "0".parse().unwrap());
        h.insert(TASK_ETA, "soon".parse().unwrap());
        assert_eq!(Delivery::from_task(&h, b"{}").unwrap().published_ms, None);

        let push = |time: &str| {
            format!(r#"{{"message":{{"messageId":"1","publishTime":"{time}"}}}}"#).into_bytes()
        };
        let d = Delivery::from_push(&push("2026-11-24T10:00:00.123Z")).unwrap();
        assert_eq!(
            (d.published_ms, d.via),
            (Some(1_795_514_400_123), Via::Push)
        );
        assert_eq!(
            Delivery::from_push(&push("yesterday"))
                .unwrap()
                .published_ms,
            None
        );
    }
}
