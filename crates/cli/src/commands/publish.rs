//! `mandala publish`: queue a render job by hand, like
//! `gcloud pubsub topics publish`, for operators without gcloud.
//!
//! It publishes through the ingress's own Pub/Sub publisher, so the message
//! is exactly what the worker receives from Discord-originated jobs, and
//! prints where the image will be stored.
//!
//! Before anything is sent it checks what the worker would check, with the
//! worker's own code: the spec is validated and resolved by the model (the
//! worker's `Drawing::resolve`), and a webhook URL must pass
//! [`mandala_model::discord::webhook::check`] against the same
//! DISCORD_API_BASE; a job the worker would refuse is never queued. Then
//! it says, in one line and within `--timeout`, why a publish cannot
//! happen: no credentials, an emulator nobody listens on, a missing topic,
//! an endpoint that does not answer.

use std::path::PathBuf;
use std::time::Duration;

use mandala_model::discord::webhook;
use mandala_model::job::JobKind;
use mandala_model::{Drawing, Job, Reply};
use mandala_queue::PublishError;
use mandala_queue::pubsub::PubsubPublisher;
use mandala_service::config::DiscordApi;

use crate::UsageError;
use crate::spec_args::{SpecArgs, resolve_request};

/// How long the metadata server may take to answer the credentials probe:
/// on Google Cloud it answers in milliseconds; elsewhere nothing does.
const METADATA_PROBE: Duration = Duration::from_secs(2);

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
    /// Post the image to this Discord channel webhook as well as storing it
    /// (a Discord webhook, or one under the worker's --discord-api-base).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Give up after this many seconds without an answer from Pub/Sub.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// The worker's Discord API base: a webhook URL under it is allowed, as the worker allows it.
    #[command(flatten)]
    pub discord: DiscordApi,
    #[command(flatten)]
    pub options: SpecArgs,
}

/// Why a publish did not happen, in the words the operator needs.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    #[error(
        "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no \
         `gcloud auth application-default login` file ({adc}) and no metadata server answered; \
         set one up, or pass --emulator-host HOST:PORT (PUBSUB_EMULATOR_HOST) for the emulator"
    )]
    NoCredentials { adc: String },
    #[error(
        "cannot reach the Pub/Sub emulator at {host} (is it running? \
         `gcloud beta emulators pubsub start --host-port={host}`)"
    )]
    EmulatorUnreachable {
        host: String,
        source: std::io::Error,
    },
    #[error(
        "no answer from {endpoint} within {secs} s publishing to {topic} (see --timeout); nothing was confirmed published"
    )]
    Timeout {
        endpoint: String,
        secs: u64,
        topic: String,
    },
    #[error("topic {topic} does not exist{where_}; create it first")]
    NoTopic {
        topic: String,
        where_: String,
        source: PublishError,
    },
    #[error("publishing to {topic}: {source}")]
    Failed { topic: String, source: PublishError },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let topic = args.topic.clone().ok_or_else(|| {
        UsageError(
            "--topic (or PUBSUB_TOPIC) is required, e.g. projects/my-project/topics/mandala-jobs"
                .into(),
        )
    })?;
    mandala_service::config::parse_topic(&topic).map_err(|_| {
        UsageError(format!(
            "--topic: {topic:?} is not projects/PROJECT/topics/TOPIC"
        ))
    })?;
    let (job, drawing) = checked_job(&args)?;
    let secs = args.timeout;
    let timeout = Duration::from_secs(secs);
    let emulator = args.emulator_host.clone().filter(|h| !h.trim().is_empty());
    let endpoint = match &emulator {
        Some(host) => {
            reachable(host, timeout).await?;
            format!("the Pub/Sub emulator at {host}")
        }
        None => {
            credentials().await?;
            "Pub/Sub (pubsub.googleapis.com)".to_owned()
        }
    };

    let publisher = PubsubPublisher::start(topic.clone(), emulator.clone());
    let attributes = [
        ("kind", JobKind::Manual.as_str()),
        ("spec_hash", &drawing.hash().to_string()),
        ("source", "cli"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Manual jobs have no user, hence no ordering key. The client retries
    // what it thinks transient for as long as it is let: the timeout is
    // what turns an endpoint that never answers into an answer.
    let published =
        tokio::time::timeout(timeout, publisher.publish(job.to_json(), attributes, None)).await;
    let id = match published {
        Err(_) => {
            return Err(PublishFailure::Timeout {
                endpoint,
                secs,
                topic,
            }
            .into());
        }
        Ok(Err(source)) => return Err(failure(topic, emulator.as_deref(), source).into()),
        Ok(Ok(id)) => id,
    };
    publisher.shutdown().await;
    crate::say!("published message {id} to {topic}");
    crate::say!("  {}", drawing.summary());
    crate::say!("  the worker stores it as {}", drawing.object_name());
    if matches!(job.reply, Reply::WebhookUrl(_)) {
        crate::say!("  and posts it to the channel webhook");
    }
    Ok(())
}

/// The job as it will be published and what the worker will draw of it,
/// refused here for whatever the worker would refuse it: its spec
/// (validated with flag-naming errors, then resolved by the worker's own
/// `Drawing::resolve`; a random seed is chosen when none is given, so the
/// object name can be printed) and its webhook URL (the model's rule,
/// against the worker's DISCORD_API_BASE).
pub fn checked_job(args: &Args) -> Result<(Job, Drawing), UsageError> {
    let (spec, _) = resolve_request(args.spec.as_deref(), &args.options)?;
    let reply = match &args.webhook_url {
        Some(url) => {
            let base = args
                .discord
                .base()
                .map_err(|e| UsageError(format!("--discord-api-base: {e}")))?;
            webhook::check(url, &base)
                .map_err(|why| UsageError(format!("--webhook-url is not allowed: {why}")))?;
            Reply::WebhookUrl(url.clone())
        }
        None => Reply::None,
    };
    let mut job = Job::new(spec, reply, JobKind::Manual);
    job.requested_at = Some(time::OffsetDateTime::now_utc());
    // What the worker's job stage calls; the words are the worker's too.
    let drawing =
        Drawing::resolve(&job.spec, job.grid).map_err(|e| UsageError(format!("--spec: {e}")))?;
    Ok((job, drawing))
}

/// Whether anything listens at the emulator's address: a refused connection
/// is said at once instead of after the client's retries.
async fn reachable(host: &str, timeout: Duration) -> Result<(), PublishFailure> {
    let unreachable = |source| PublishFailure::EmulatorUnreachable {
        host: host.to_owned(),
        source,
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(host)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e)),
        Err(_) => Err(unreachable(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {} s", timeout.as_secs()),
        ))),
    }
}

/// Where `gcloud auth application-default login` leaves its file.
fn adc_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLOUDSDK_CONFIG") {
        return Some(PathBuf::from(dir).join("application_default_credentials.json"));
    }
    let config = if cfg!(windows) {
        PathBuf::from(std::env::var_os("APPDATA")?)
    } else {
        PathBuf::from(std::env::var_os("HOME")?).join(".config")
    };
    Some(config.join("gcloud/application_default_credentials.json"))
}

/// Whether Application Default Credentials can come from anywhere: the
/// variable, gcloud's file, or a metadata server (on Google Cloud). Without
/// any, the client would ask a metadata server that is not there, again
/// and again, and say nothing.
async fn credentials() -> Result<(), PublishFailure> {
    if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    let file = adc_file();
    if file.as_ref().is_some_and(|f| f.is_file()) {
        return Ok(());
    }
    if metadata_server_answers().await {
        return Ok(());
    }
    Err(PublishFailure::NoCredentials {
        adc: file.map_or_else(
            || "no home directory".to_owned(),
            |f| f.display().to_string(),
        ),
    })
}

async fn metadata_server_answers() -> bool {
    // GCE_METADATA_HOST is how Google's clients are pointed elsewhere.
    let host = std::env::var("GCE_METADATA_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "169.254.169.254".to_owned());
    let Ok(http) = reqwest::Client::builder().timeout(METADATA_PROBE).build() else {
        return false;
    };
    http.get(format!("http://{host}/computeMetadata/v1/"))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A publish error, named when its cause is known.
fn failure(topic: String, emulator: Option<&str>, source: PublishError) -> PublishFailure {
    let text = source.to_string();
    if text.contains("NOT_FOUND") || text.contains("NotFound") || text.contains("not found") {
        let where_ = emulator.map_or_else(String::new, |h| format!(" on the emulator at {h}"));
        return PublishFailure::NoTopic {
            topic,
            where_,
            source,
        };
    }
    PublishFailure::Failed { topic, source }
}
