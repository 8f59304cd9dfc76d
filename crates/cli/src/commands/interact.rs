//! `mandala interact`: one signed `/mandala` interaction, then the reply.
//!
//! The scriptable version of the playground: it signs a slash command the
//! way Discord does, POSTs it to an interactions endpoint, prints the
//! acknowledgement, and waits for the worker's edit to arrive at the local
//! Discord stand-in (`GET /webhooks/{app}/{token}/messages/@original`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mandala_model::discord::flags;
use serde_json::Value;

use crate::UsageError;
use crate::dev::{DEV_APPLICATION_ID, client, keys};
use crate::spec_args::SpecArgs;

/// Flags of `mandala interact`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The interactions endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/interactions")]
    pub url: String,
    /// Sign with this Ed25519 seed (64 hex digits) instead of the development key.
    #[arg(long, value_name = "HEX")]
    pub key_seed: Option<String>,
    /// Where `mandala dev` keeps its development key.
    #[arg(long, default_value = ".mandala")]
    pub dir: PathBuf,
    /// The application id the interaction claims to be for.
    #[arg(long, default_value = DEV_APPLICATION_ID)]
    pub application_id: String,
    /// Where the reply is read from (default: `/api/v10` beside --url, the local stand-in).
    #[arg(long)]
    pub api_base: Option<String>,
    /// How long to wait for the reply, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Save the replied image here.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Like `/mandala grid:`: `false` for one image, `true` for a grid of four
    /// (default: the ingress's GRID_COMMANDS).
    #[arg(long, value_name = "BOOL")]
    pub grid: Option<bool>,
    #[command(flatten)]
    pub spec: SpecArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let key = match &args.key_seed {
        Some(seed) => keys::parse_seed(seed).map_err(|e| UsageError(format!("--key-seed: {e}")))?,
        None => keys::load(&args.dir)?,
    };
    let spec = args.spec.to_spec()?;
    let api_base = match &args.api_base {
        Some(b) => b.trim_end_matches('/').to_owned(),
        None => {
            let root = args.url.strip_suffix("/interactions").ok_or_else(|| {
                UsageError(
                    "--url does not end in /interactions: give --api-base for the replies".into(),
                )
            })?;
            format!("{root}/api/v10")
        }
    };
    let http = reqwest::Client::new();
    let mut options = client::command_options(&spec);
    if let Some(grid) = args.grid {
        options.push(serde_json::json!({"name": "grid", "type": 5, "value": grid}));
    }
    let outgoing = client::command_with_options(&args.application_id, &options);
    let answer = client::send(&http, &args.url, &key, &outgoing)
        .await
        .with_context(|| format!("could not reach {}", args.url))?;
    let data = answer.response.as_ref().and_then(|r| r.data.as_ref());
    let content = data
        .and_then(|d| d.message.content.clone())
        .unwrap_or_default();
    println!(
        "ingress answered {}: {}",
        answer.status,
        if content.is_empty() {
            &answer.text
        } else {
            &content
        }
    );
    if answer.status != 200 {
        anyhow::bail!("the interaction was not accepted");
    }
    if data
        .and_then(|d| d.message.flags)
        .is_some_and(|f| f & flags::EPHEMERAL != 0)
    {
        anyhow::bail!("the ingress refused the request (ephemeral reply above)");
    }

    let url = format!(
        "{api_base}/webhooks/{}/{}/messages/@original",
        args.application_id, outgoing.token
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let message: Value = loop {
        let r = http
            .get(&url)
            .header("User-Agent", mandala_model::discord::user_agent())
            .send()
            .await;
        if let Ok(r) = r
            && r.status().is_success()
        {
            let m: Value = r
                .json()
                .await
                .context("the stand-in's message is not JSON")?;
            if m["attachments"].as_array().is_some_and(|a| !a.is_empty()) {
                break m;
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "no reply within {} s (is the worker running? look at `mandala dev`'s log)",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("reply: {}", message["content"].as_str().unwrap_or(""));
    for a in message["attachments"].as_array().into_iter().flatten() {
        println!(
            "  attachment {} ({} bytes) {}",
            a["filename"].as_str().unwrap_or("?"),
            a["size"],
            a["url"].as_str().unwrap_or("")
        );
    }
    for row in message["components"].as_array().into_iter().flatten() {
        for b in row["components"].as_array().into_iter().flatten() {
            println!(
                "  button {:<8} {}",
                b["label"].as_str().unwrap_or(""),
                b["custom_id"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(path) = &args.output {
        let file_url = message["attachments"][0]["url"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the reply's attachment has no URL to download"))?;
        let bytes = http
            .get(file_url)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("saved {}", path.display());
    }
    Ok(())
}
