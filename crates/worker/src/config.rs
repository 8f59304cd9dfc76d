//! The worker's configuration: one definition per setting, read from the
//! environment (and, for local runs, from flags of the same name).
//!
//! This struct is also the source of truth for deployment checks: the
//! Terraform test derives the set of variables the binary reads from it.

use clap::Parser;

/// Settings of `mandala-worker`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mandala-worker",
    version,
    about = "Renders jobs pushed by Pub/Sub, stores them and replies on Discord"
)]
pub struct Config {
    /// TCP port to listen on (Cloud Run sets it).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// The Google Cloud project, for trace correlation in Cloud Logging (set by Terraform).
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub google_cloud_project: Option<String>,

    /// Store images in this Cloud Storage bucket.
    #[arg(long, env = "BUCKET")]
    pub bucket: Option<String>,

    /// Store images in this local directory instead (the one-machine default).
    #[arg(long, env = "LOCAL_STORE_DIR")]
    pub local_store_dir: Option<std::path::PathBuf>,

    /// `http://host:port` of a Cloud Storage emulator; used with anonymous credentials.
    #[arg(long, env = "STORAGE_EMULATOR_HOST")]
    pub storage_emulator_host: Option<String>,

    /// Discord's REST API base; point it at a stand-in for local runs and tests.
    #[arg(
        long,
        env = "DISCORD_API_BASE",
        default_value = "https://discord.com/api/v10"
    )]
    pub discord_api_base: String,

    /// Renders running at once; defaults to the number of CPUs.
    #[arg(long, env = "RENDER_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub render_concurrency: Option<u32>,

    /// Verify the push request's OIDC token against this audience (the worker's URL).
    #[arg(long, env = "PUSH_AUDIENCE")]
    pub push_audience: Option<String>,

    /// With PUSH_AUDIENCE: the service account the token must be for.
    #[arg(long, env = "PUSH_SERVICE_ACCOUNT")]
    pub push_service_account: Option<String>,

    /// Everything one push may take, in seconds; keep below the subscription's ack deadline.
    #[arg(long, env = "JOB_DEADLINE_SECS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(5..=590))]
    pub job_deadline_secs: u64,
}
