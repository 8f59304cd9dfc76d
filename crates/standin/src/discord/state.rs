//! What the stand-in remembers: every message's current state, every
//! request as it was answered, the failures queued for the next requests,
//! and the registered commands. Clones of [`DiscordStandin`] share it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use mandala_model::clock::now_ms;
use mandala_model::discord::{MessagePayload, snowflake};
use serde_json::Value;
use tokio::sync::Notify;

/// How the next webhook request should fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 429 with `retry_after` in the body and `Retry-After` as a header.
    RateLimited { retry_after_secs: f64 },
    /// 500.
    ServerError,
    /// 404 `{"code":10015,"message":"Unknown Webhook"}`.
    UnknownWebhook,
    /// 413 `{"code":40005,"message":"Request entity too large"}`: a file over
    /// the channel's upload limit.
    TooLarge,
    /// No answer, ever, and the request has no effect: Discord unreachable
    /// or stalled before it read the request. Recorded with status 0.
    Hang,
    /// The request takes effect (the message is edited or posted), but its
    /// answer never comes: the connection stalls after Discord acted, so
    /// the sender cannot know it succeeded. Recorded with the real status.
    AnswerLost,
}

/// An attachment as stored on a message.
#[derive(Debug, Clone)]
pub struct RecordedAttachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub description: Option<String>,
    pub bytes: Bytes,
    /// Decoded size of an image; 0 for other files.
    pub width: u32,
    pub height: u32,
}

/// The current state of one message.
#[derive(Debug, Clone)]
pub struct RecordedMessage {
    pub id: String,
    /// The application id (interaction messages) or the webhook id.
    pub webhook_id: String,
    /// The interaction or webhook token the message was sent with.
    pub token: Option<String>,
    /// Whether this is an interaction's original response (`@original`).
    pub original: bool,
    /// Successful edits (PATCH) so far.
    pub edits: u32,
    /// When it was last written (created or edited), Unix ms.
    pub updated_ms: u64,
    pub payload: MessagePayload,
    /// The merged JSON body, as Discord would store it.
    pub payload_json: Value,
    pub attachments: Vec<RecordedAttachment>,
}

/// One request as the stand-in answered it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path relative to the API base.
    pub path: String,
    pub status: u16,
    /// Why it was refused, if it was.
    pub error: Option<String>,
    /// The JSON the request carried, exactly as sent: the body of a JSON
    /// request, or the `payload_json` part of a multipart one. `None` when
    /// there was none (GET, DELETE) or it did not parse. Contract tests
    /// validate it against Discord's API description.
    pub json: Option<Value>,
}

#[derive(Default)]
pub(super) struct Recorded {
    pub(super) messages: Vec<RecordedMessage>,
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) failures: VecDeque<Failure>,
    /// (application, guild) → the last overwritten command set.
    pub(super) commands: BTreeMap<(String, Option<String>), Vec<Value>>,
    pub(super) sequence: u64,
}

pub(super) struct Inner {
    pub(super) state: Mutex<Recorded>,
    pub(super) changed: Notify,
    /// Edits are read-modify-write of one message: one at a time, so
    /// concurrent edits of the same message are never lost.
    pub(super) edits: tokio::sync::Mutex<()>,
}

/// The stand-in; clones share state.
#[derive(Clone)]
pub struct DiscordStandin {
    pub(super) inner: Arc<Inner>,
}

impl Default for DiscordStandin {
    fn default() -> Self {
        Self::new()
    }
}

impl DiscordStandin {
    pub fn new() -> Self {
        DiscordStandin {
            inner: Arc::new(Inner {
                state: Mutex::new(Recorded::default()),
                changed: Notify::new(),
                edits: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    pub(super) fn next_id(&self) -> String {
        let seq = self.with(|s| {
            s.sequence += 1;
            s.sequence
        });
        snowflake::from_timestamp_ms(now_ms(), seq)
    }

    /// The current state of every message, oldest first.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.with(|s| s.messages.clone())
    }

    /// The interaction response for `token`, or else the newest message sent with it.
    pub fn message_for_token(&self, token: &str) -> Option<RecordedMessage> {
        self.with(|s| {
            let with_token = || {
                s.messages
                    .iter()
                    .filter(|m| m.token.as_deref() == Some(token))
            };
            with_token()
                .find(|m| m.original)
                .or_else(|| with_token().next_back())
                .cloned()
        })
    }

    /// Every request, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Makes the next `n` webhook requests fail this way (after any queued failures).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.with(|s| s.failures.extend(std::iter::repeat_n(failure, n)));
    }

    /// The registered commands: global ones, then guild ones (with `guild_id`).
    pub fn commands(&self) -> Vec<Value> {
        self.with(|s| s.commands.values().flatten().cloned().collect())
    }

    /// Waits until at least `n` messages exist (or the timeout passes) and returns them.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<RecordedMessage> {
        self.wait_until(timeout, |s| s.messages.len() >= n).await;
        self.messages()
    }

    /// Waits until at least `n` messages carry a file (or the timeout passes)
    /// and returns those. Waiting notices also create messages (an edit of a
    /// not yet seen `@original`), so tests waiting for images count these.
    pub async fn wait_for_images(&self, n: usize, timeout: Duration) -> Vec<RecordedMessage> {
        self.wait_until(timeout, |s| {
            s.messages
                .iter()
                .filter(|m| !m.attachments.is_empty())
                .count()
                >= n
        })
        .await;
        self.messages()
            .into_iter()
            .filter(|m| !m.attachments.is_empty())
            .collect()
    }

    /// Waits until `n` requests have been answered (or the timeout passes) and returns them.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_until(timeout, |s| s.requests.len() >= n).await;
        self.requests()
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Recorded) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.with(|s| done(s)) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    pub(super) fn changed(&self) {
        self.inner.changed.notify_waiters();
    }
}
