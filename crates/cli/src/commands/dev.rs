//! `mandala dev`: the whole bot on this machine.
//!
//! Ingress and worker run in this process on loopback, joined by the local
//! push delivery, storing under `./.mandala/`. Without a real application's
//! key it also serves a Discord stand-in and the playground page; with one
//! (and a tunnel) it serves real Discord.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::UsageError;
use crate::dev::{DevOptions, DevStack, StoreLocation, Topology};

/// Flags of `mandala dev`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the ingress, playground and Discord stand-in.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of the worker.
    #[arg(long, default_value_t = 8081)]
    pub worker_port: u16,
    /// Address to listen on. Keep loopback unless a tunnel needs otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// State directory: development key, images, undelivered jobs.
    #[arg(long, default_value = ".mandala")]
    pub dir: PathBuf,
    /// A real application's public key; without it a development key pair is used.
    #[arg(long, env = "DISCORD_PUBLIC_KEY", hide_env_values = true)]
    pub discord_public_key: Option<String>,
    /// A real application's id.
    #[arg(long, env = "DISCORD_APPLICATION_ID")]
    pub discord_application_id: Option<String>,
    /// Discord's API for replies; without it the local stand-in answers.
    #[arg(long, env = "DISCORD_API_BASE")]
    pub discord_api_base: Option<String>,
    /// Publish through a Pub/Sub emulator at HOST:PORT (topic and push subscription are created).
    /// Needs --firestore-emulator: with Pub/Sub the queue ledger is shared through Firestore.
    #[arg(long, value_name = "HOST:PORT", requires = "firestore_emulator")]
    pub pubsub_emulator: Option<String>,
    /// Keep the queue ledger in a Firestore emulator at HOST:PORT (with --pubsub-emulator).
    #[arg(long, value_name = "HOST:PORT")]
    pub firestore_emulator: Option<String>,
    /// Store through a Cloud Storage emulator at URL (the bucket is created).
    #[arg(long, value_name = "URL")]
    pub gcs_emulator: Option<String>,
    /// Renders at once (default: number of CPUs).
    #[arg(long)]
    pub render_concurrency: Option<u32>,
    /// Which design to run: pubsub (ingress, queue, worker), single (one
    /// service), pubsub-split (render and reply stages) or cloud-tasks
    /// (through the local Cloud Tasks twin).
    #[arg(long, value_enum, default_value_t = Topology::Pubsub)]
    pub topology: Topology,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.discord_public_key.is_some() != args.discord_application_id.is_some() {
        return Err(UsageError(
            "DISCORD_PUBLIC_KEY and DISCORD_APPLICATION_ID go together: set both to serve a real application, or neither for the local stand-in".into(),
        )
        .into());
    }
    mandala_service::logging::init();
    let real = args.discord_public_key.is_some();
    let options = DevOptions {
        dir: args.dir,
        host: args.host,
        port: args.port,
        worker_port: args.worker_port,
        discord_public_key: args.discord_public_key,
        discord_application_id: args.discord_application_id,
        discord_api_base: args
            .discord_api_base
            .or_else(|| real.then(|| "https://discord.com/api/v10".to_owned())),
        pubsub_emulator: args.pubsub_emulator,
        firestore_emulator: args.firestore_emulator,
        gcs_emulator: args.gcs_emulator,
        render_concurrency: args.render_concurrency,
        topology: args.topology,
        ..DevOptions::ephemeral(std::path::PathBuf::new())
    };
    let stack = DevStack::start(options).await?;
    print_banner(&stack);
    mandala_service::shutdown::signal().await;
    crate::say!(
        "\nshutting down: finishing in-flight work, keeping undelivered jobs for the next start…"
    );
    stack.shutdown().await;
    crate::say!("stopped cleanly");
    Ok(())
}

fn print_banner(s: &DevStack) {
    let store = match &s.store {
        StoreLocation::Directory(d) => d.display().to_string(),
        StoreLocation::Bucket { endpoint, bucket } => format!("gs://{bucket} at {endpoint}"),
    };
    let discord = match &s.standin {
        Some(_) => format!("local stand-in at {}/api/v10", s.base_url),
        None => "real Discord (https://discord.com/api/v10)".to_owned(),
    };
    crate::say!(
        "\nMandala Bot is running on this machine.\n\n  \
         playground        {base}/\n  \
         interactions      {base}/interactions\n  \
         design            {topology}\n  \
         worker            {worker}{route}\n  \
         {replier}\
         Discord replies   {discord}\n  \
         images            {store}\n  \
         application id    {app}\n  \
         public key        {key}\n",
        base = s.base_url,
        worker = s.worker_url,
        topology = s.options.topology.as_str(),
        route = match s.options.topology {
            Topology::CloudTasks => "/tasks/run (through the Cloud Tasks twin)",
            Topology::Single => " (in the ingress's process)",
            _ => "/pubsub/push",
        },
        replier = s.replier_url.as_ref().map_or_else(String::new, |r| format!(
            "replier           {r}/pubsub/push\n  "
        )),
        app = s.application_id,
        key = s.public_key_hex,
    );
    // The hint must reach this stack: its port and its key's directory.
    let mut interact = "cargo run --release -- interact --seed 42".to_owned();
    if !s.base_url.ends_with(":8080") {
        let _ = write!(interact, " --url {}/interactions", s.base_url);
    }
    if s.options.dir != std::path::Path::new(".mandala") {
        let _ = write!(interact, " --dir {}", s.options.dir.display());
    }
    if s.standin.is_some() {
        crate::say!(
            "Try it: open the playground, or run `{interact}` in another terminal.\n\n\
             To serve a real Discord application instead:\n  \
             1. expose this port through a tunnel, e.g. `cloudflared tunnel --url {base}` or `ngrok http {port}`;\n  \
             2. restart with DISCORD_PUBLIC_KEY=<Public Key> DISCORD_APPLICATION_ID=<Application ID> (General Information page);\n  \
             3. set the Interactions Endpoint URL to https://<tunnel host>/interactions and save (Discord sends a signed PING);\n  \
             4. `DISCORD_BOT_TOKEN=<token> cargo run --release -- register-commands --application-id <id> --guild <your test server id>`.\n",
            base = s.base_url,
            port = s.base_url.rsplit(':').next().unwrap_or("8080"),
            interact = interact,
        );
    } else {
        crate::say!(
            "Serving real Discord: set the Interactions Endpoint URL to https://<your tunnel>/interactions, then use /mandala.\n"
        );
    }
    crate::say!(
        "Ctrl-C stops cleanly; jobs not yet delivered are kept in {}/ and resumed on the next start.",
        s.options.dir.display()
    );
}
