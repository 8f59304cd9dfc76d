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
    let client = reqwest::Client::new();
    let base = format!("http://{host}/v1/projects/{PROJECT}");
    let topic = format!("projects/{PROJECT}/topics/{TOPIC}");
    let dead = format!("projects/{PROJECT}/topics/{DEAD_LETTER_TOPIC}");
    for t in [TOPIC, DEAD_LETTER_TOPIC] {
        put_or_exists(
            &client,
            &format!("{base}/topics/{t}"),
            serde_json::json!({}),
        )
        .await?;
    }
    put_or_exists(
        &client,
        &format!("{base}/subscriptions/{SUBSCRIPTION}"),
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
        &format!("{base}/subscriptions/{DEAD_LETTER_SUBSCRIPTION}"),
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
