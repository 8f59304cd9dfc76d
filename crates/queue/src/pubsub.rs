//! Publishing to Google Cloud Pub/Sub with the official `google-cloud-pubsub` client.
//!
//! The client is built in the background so that the instance answers its
//! first request (and its startup probe) without waiting on credentials or
//! a connection: Cloud Run cold starts are where bots miss Discord's 3 s.
//! A publish that arrives before the client is ready waits for it inside
//! the caller's publish budget; if building failed (no credentials, say),
//! the next publish tries again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;
use tokio::sync::OnceCell;

use super::PublishError;

/// How long shutdown waits for buffered messages to reach Pub/Sub (Cloud Run
/// allows 10 s after SIGTERM).
const FLUSH_BUDGET: Duration = Duration::from_secs(8);

/// A Pub/Sub publisher for one topic.
#[derive(Debug, Clone)]
pub struct PubsubPublisher {
    topic: String,
    emulator_host: Option<String>,
    client: Arc<OnceCell<Publisher>>,
}

impl PubsubPublisher {
    /// Starts building the client in the background. `emulator_host` is
    /// `host:port` of an emulator (anonymous credentials); otherwise
    /// Application Default Credentials are used.
    pub fn start(topic: String, emulator_host: Option<String>) -> Self {
        let p = PubsubPublisher {
            topic,
            emulator_host,
            client: Arc::new(OnceCell::new()),
        };
        let warm = p.clone();
        tokio::spawn(async move {
            if let Err(e) = warm.client().await {
                tracing::warn!(error = %e, "Pub/Sub publisher not ready yet; will retry on the first publish");
            }
        });
        p
    }

    async fn client(&self) -> Result<&Publisher, PublishError> {
        self.client
            .get_or_try_init(|| async {
                let mut builder = Publisher::builder(self.topic.clone())
                    // Interactions trickle in one at a time: a short batching
                    // delay keeps the acknowledgement quick while still
                    // batching bursts.
                    .set_delay_threshold(Duration::from_millis(2));
                if let Some(host) = &self.emulator_host {
                    builder = builder.with_endpoint(format!("http://{host}")).with_credentials(
                        google_cloud_auth::credentials::anonymous::Builder::new().build(),
                    );
                }
                let client = builder
                    .build()
                    .await
                    .map_err(|e| PublishError::Client(e.to_string()))?;
                tracing::info!(topic = %self.topic, emulator = ?self.emulator_host, "Pub/Sub publisher ready");
                Ok(client)
            })
            .await
    }

    /// Publishes one message (a job's or a reply job's JSON) under
    /// `ordering_key` (its user).
    pub async fn publish(
        &self,
        data: Vec<u8>,
        attributes: BTreeMap<String, String>,
        ordering_key: Option<String>,
    ) -> Result<String, PublishError> {
        let client = self.client().await?;
        let mut message = Message::new().set_data(data).set_attributes(attributes);
        if let Some(key) = &ordering_key {
            message = message.set_ordering_key(key.clone());
        }
        // The client sends the message whether or not the caller still
        // waits for it (a caller past its budget stops waiting); the outcome
        // is watched here to the end, so that a failure always resumes the
        // ordering key. A failed publish pauses its key in the client, so
        // nothing after it goes out of order; the job itself is reported
        // failed (its user is asked to try again), so their next one may go.
        let pending = client.publish(message);
        let resumer = client.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let published = pending.await;
            if let (Err(_), Some(key)) = (&published, ordering_key) {
                resumer.resume_publish(key);
            }
            let _ = tx.send(published.map_err(|e| PublishError::Publish(e.to_string())));
        });
        rx.await
            .unwrap_or_else(|_| Err(PublishError::Publish("the publish task ended".into())))
    }

    /// Sends what is still batched.
    pub async fn shutdown(&self) {
        if let Some(client) = self.client.get()
            && tokio::time::timeout(FLUSH_BUDGET, client.flush())
                .await
                .is_err()
        {
            tracing::error!(topic = %self.topic, "Pub/Sub flush did not finish in time; buffered jobs may be lost");
        }
    }
}
