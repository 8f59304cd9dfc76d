//! `mandala publish`: queue a render job by hand, like
//! `gcloud pubsub topics publish`, for operators without gcloud.
//!
//! It publishes through the ingress's own Pub/Sub publisher, so the message
//! is exactly what the worker receives from Discord-originated jobs, and
//! prints where the image will be stored.

use anyhow::Context as _;
use mandala_model::job::JobKind;
use mandala_model::{Job, Reply};
use mandala_queue::pubsub::PubsubPublisher;

use crate::UsageError;
use crate::spec_args::{SpecArgs, resolve_request};

/// Flags of `mandala publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The jobs topic, `projects/P/topics/T`.
    #[arg(long, env = "PUBSUB_TOPIC")]
    pub topic: Option<String>,
    /// `host:port` of a Pub/Sub emulator (anonymous credentials); otherwise Application Default Credentials.
    #[arg(long, env = "PUBSUB_EMULATOR_HOST")]
    pub emulator_host: Option<String>,
    /// The render spec as JSON, e.g. '{"seed":42,"palette":"ocean"}'; flags below override it.
    #[arg(long)]
    pub spec: Option<String>,
    /// Post the image to this Discord channel webhook as well as storing it.
    #[arg(long)]
    pub webhook_url: Option<String>,
    #[command(flatten)]
    pub options: SpecArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let topic = args.topic.ok_or_else(|| {
        UsageError(
            "--topic (or PUBSUB_TOPIC) is required, e.g. projects/my-project/topics/mandala-jobs"
                .into(),
        )
    })?;
    let parts: Vec<&str> = topic.split('/').collect();
    if !matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty()) {
        return Err(UsageError(format!(
            "--topic: {topic:?} is not projects/PROJECT/topics/TOPIC"
        ))
        .into());
    }
    // The seed is chosen here, not by the worker, so the object name can be printed.
    let (spec, resolved) = resolve_request(args.spec.as_deref(), &args.options)?;
    let reply = match args.webhook_url {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Reply::WebhookUrl(url)
        }
        Some(url) => {
            return Err(UsageError(format!("--webhook-url: {url:?} is not an http(s) URL")).into());
        }
        None => Reply::None,
    };
    let mut job = Job::new(spec, reply, JobKind::Manual);
    job.requested_at = Some(time::OffsetDateTime::now_utc());

    let publisher = PubsubPublisher::start(topic.clone(), args.emulator_host);
    let attributes = [
        ("kind", JobKind::Manual.as_str()),
        ("spec_hash", &resolved.hash().to_string()),
        ("source", "cli"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let id = publisher
        // Manual jobs have no user, hence no ordering key.
        .publish(job.to_json(), attributes, None)
        .await
        .with_context(|| format!("publishing to {topic}"))?;
    publisher.shutdown().await;
    crate::say!("published message {id} to {topic}");
    crate::say!("  {}", resolved.summary());
    crate::say!("  the worker stores it as {}", resolved.object_name());
    Ok(())
}
