//! `mandala dev --pubsub-emulator / --gcs-emulator`: create what the stack
//! needs in emulators the developer started, when it is missing.

use anyhow::Context as _;

/// The project and names the dev stack uses inside emulators.
pub const PROJECT: &str = "mandala-dev";
pub const TOPIC: &str = "mandala-jobs";
pub const SUBSCRIPTION: &str = "mandala-jobs-push";

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

/// Creates the jobs topic and a push subscription to `push_endpoint` in the
/// Pub/Sub emulator at `host:port`; returns the topic's full name.
pub async fn ensure_push_topic(host: &str, push_endpoint: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let base = format!("http://{host}/v1/projects/{PROJECT}");
    let topic = format!("projects/{PROJECT}/topics/{TOPIC}");
    put_or_exists(
        &client,
        &format!("{base}/topics/{TOPIC}"),
        serde_json::json!({}),
    )
    .await?;
    put_or_exists(
        &client,
        &format!("{base}/subscriptions/{SUBSCRIPTION}"),
        serde_json::json!({
            "topic": topic,
            "pushConfig": {"pushEndpoint": push_endpoint},
            "ackDeadlineSeconds": 60,
            "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "30s"},
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
