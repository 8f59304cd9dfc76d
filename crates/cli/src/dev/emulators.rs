//! `mandala dev --pubsub-emulator / --gcs-emulator`: create what the stack
//! needs in emulators the developer started, when it is missing.

use anyhow::Context as _;

/// The project and names the dev stack uses inside emulators.
pub const PROJECT: &str = "mandala-dev";
pub const TOPIC: &str = "mandala-jobs";
pub const SUBSCRIPTION: &str = "mandala-jobs-push";
pub const DEAD_LETTER_TOPIC: &str = "mandala-jobs-dead-letter";
pub const DEAD_LETTER_SUBSCRIPTION: &str = "mandala-jobs-dead-letter-push";
/// The database the queue ledger uses in the Firestore emulator.
pub const FIRESTORE_DATABASE: &str = "projects/mandala-dev/databases/(default)";
/// The push subscription's delivery attempts before dead-lettering.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 5;

async fn put_or_exists(
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let r = client
        .put(url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching the emulator at {url}"))?;
    match r.status().as_u16() {
        200..=299 | 409 => Ok(()),
        s => anyhow::bail!(
            "{url}: emulator answered {s}: {}",
            r.text().await.unwrap_or_default()
        ),
    }
}

/// A topic, its push subscription, and their dead-letter pair.
#[derive(Debug, Clone, Copy)]
pub struct PushTopic {
    pub topic: &'static str,
    pub subscription: &'static str,
    pub dead_letter_topic: &'static str,
    pub dead_letter_subscription: &'static str,
}

/// The jobs topic, as Terraform names it.
pub const JOBS: PushTopic = PushTopic {
    topic: TOPIC,
    subscription: SUBSCRIPTION,
    dead_letter_topic: DEAD_LETTER_TOPIC,
    dead_letter_subscription: DEAD_LETTER_SUBSCRIPTION,
};

/// The reply topic of the split design.
pub const REPLIES: PushTopic = PushTopic {
    topic: "mandala-replies",
    subscription: "mandala-replies-push",
    dead_letter_topic: "mandala-replies-dead-letter",
    dead_letter_subscription: "mandala-replies-dead-letter-push",
};

/// Creates, in the Pub/Sub emulator at `host:port`, what Terraform creates
/// in production: the jobs topic and its ordered push subscription to
/// `push_endpoint` (with a dead-letter policy), and the dead-letter topic
/// with a push subscription to `dead_letter_endpoint`. Returns the jobs
/// topic's full name. (The emulator honours ordering; it neither counts
/// delivery attempts nor forwards dead letters.)
pub async fn ensure_push_topic(
    host: &str,
    push_endpoint: &str,
    dead_letter_endpoint: &str,
) -> anyhow::Result<String> {
    ensure_topic(host, JOBS, push_endpoint, dead_letter_endpoint).await
}

/// [`ensure_push_topic`] for any [`PushTopic`].
pub async fn ensure_topic(
    host: &str,
    names: PushTopic,
    push_endpoint: &str,
    dead_letter_endpoint: &str,
) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let base = format!("http://{host}/v1/projects/{PROJECT}");
    let topic = format!("projects/{PROJECT}/topics/{}", names.topic);
    let dead = format!("projects/{PROJECT}/topics/{}", names.dead_letter_topic);
    for t in [names.topic, names.dead_letter_topic] {
        put_or_exists(
            &client,
            &format!("{base}/topics/{t}"),
            serde_json::json!({}),
        )
        .await?;
    }
    put_or_exists(
        &client,
        &format!("{base}/subscriptions/{}", names.subscription),
        serde_json::json!({
            "topic": topic,
            "pushConfig": {"pushEndpoint": push_endpoint},
            "ackDeadlineSeconds": 60,
            "enableMessageOrdering": true,
            "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "30s"},
            "deadLetterPolicy": {"deadLetterTopic": dead, "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS},
        }),
    )
    .await?;
    put_or_exists(
        &client,
        &format!("{base}/subscriptions/{}", names.dead_letter_subscription),
        serde_json::json!({
            "topic": dead,
            "pushConfig": {"pushEndpoint": dead_letter_endpoint},
            "ackDeadlineSeconds": 60,
        }),
    )
    .await?;
    Ok(topic)
}

/// Creates `bucket` in the Cloud Storage emulator at `endpoint` if missing.
pub async fn ensure_bucket(endpoint: &str, bucket: &str) -> anyhow::Result<()> {
    let url = format!(
        "{}/storage/v1/b?project={PROJECT}",
        endpoint.trim_end_matches('/')
    );
    let r = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({"name": bucket}))
        .send()
        .await
        .with_context(|| format!("reaching the storage emulator at {endpoint}"))?;
    match r.status().as_u16() {
        200..=299 | 409 => Ok(()),
        s => anyhow::bail!(
            "{url}: emulator answered {s}: {}",
            r.text().await.unwrap_or_default()
        ),
    }
}
