//! `mandala interact`: one signed `/mandala` interaction, then the reply.
//!
//! The scriptable version of the playground: it signs a slash command the
//! way Discord does, POSTs it to an interactions endpoint, prints the
//! acknowledgement, and waits for the worker's edit to arrive at the local
//! Discord stand-in (`GET /webhooks/{app}/{token}/messages/@original`). In
//! the single design a cheap job is answered 202 with the image sent
//! through the interaction callback; the image is read from the same place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mandala_model::discord::flags;
use mandala_model::{Format, RenderSpec};
use serde_json::Value;

use crate::UsageError;
use crate::dev::{DEV_APPLICATION_ID, client, keys};
use crate::spec_args::SpecArgs;

/// Flags of `mandala interact`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The interactions endpoint.
    #[arg(
        long,
        env = "MANDALA_URL",
        default_value = "http://127.0.0.1:8080/interactions"
    )]
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
    let spec = command_spec(&args)?;
    check_output(args.output.as_deref(), &spec)?;
    let api_base = api_base(&args)?;
    let http = reqwest::Client::new();
    let mut options = client::command_options(&spec);
    if let Some(grid) = args.grid {
        options.push(serde_json::json!({"name": "grid", "type": 5, "value": grid}));
    }
    let outgoing = client::command_with_options(&args.application_id, &options);
    let answer = client::send(&http, &args.url, &key, &outgoing)
        .await
        .with_context(|| format!("could not reach {}", args.url))?;
    report_answer(&answer)?;
    let url = format!(
        "{api_base}/webhooks/{}/{}/messages/@original",
        args.application_id, outgoing.token
    );
    let message = await_image(&http, &url, Duration::from_secs(args.timeout)).await?;
    print_reply(&message);
    if let Some(path) = &args.output {
        save(&http, &message, path).await?;
    }
    Ok(())
}

/// The spec `/mandala` can carry: its options are the flags', but for
/// `--variant` and `--ornaments`, which the command does not have.
fn command_spec(args: &Args) -> Result<RenderSpec, UsageError> {
    let spec = args.spec.to_spec()?;
    for (flag, set) in [
        ("--variant", spec.variant.is_some()),
        ("--ornaments/--no-ornaments", spec.ornaments.is_some()),
    ] {
        if set {
            return Err(UsageError(format!(
                "{flag}: /mandala has no such option, so the interaction cannot ask for it (mandala render draws it)"
            )));
        }
    }
    Ok(spec)
}

/// An `-o` whose extension names a format other than the one the reply
/// will be in is a mistake, not a file to write.
fn check_output(output: Option<&Path>, spec: &RenderSpec) -> Result<(), UsageError> {
    let Some(ext) = output
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    else {
        return Ok(());
    };
    let Ok(named) = ext.parse::<Format>() else {
        return Ok(());
    };
    let format = spec.format.unwrap_or_default();
    if named != format {
        return Err(UsageError(format!(
            "-o: the file is named .{ext} but the image will be {} (add --format {ext}, or name it .{})",
            format.extension(),
            format.extension()
        )));
    }
    Ok(())
}

/// Where the reply is read from: `--api-base`, or `/api/v10` beside `--url`.
fn api_base(args: &Args) -> Result<String, UsageError> {
    if let Some(b) = &args.api_base {
        return Ok(b.trim_end_matches('/').to_owned());
    }
    let root = args.url.strip_suffix("/interactions").ok_or_else(|| {
        UsageError("--url does not end in /interactions: give --api-base for the replies".into())
    })?;
    Ok(format!("{root}/api/v10"))
}

/// Prints the ingress's answer; an error unless it accepted the job (200
/// with a visible message, or 202: answered inline with the image through
/// the interaction callback, as the single design does for cheap jobs).
fn report_answer(answer: &client::Answer) -> anyhow::Result<()> {
    if answer.status == 202 {
        crate::say!("ingress answered 202: answered inline with the image");
        return Ok(());
    }
    let data = answer.response.as_ref().and_then(|r| r.data.as_ref());
    let content = data
        .and_then(|d| d.message.content.clone())
        .unwrap_or_default();
    let shown = if content.is_empty() {
        &answer.text
    } else {
        &content
    };
    crate::say!("ingress answered {}: {shown}", answer.status);
    if answer.status != 200 {
        anyhow::bail!("the interaction was not accepted");
    }
    if data
        .and_then(|d| d.message.flags)
        .is_some_and(|f| f & flags::EPHEMERAL != 0)
    {
        anyhow::bail!("the ingress refused the request (ephemeral reply above)");
    }
    Ok(())
}

/// Polls the original response at the stand-in until it carries an image.
async fn await_image(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = http
            .get(url)
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
                return Ok(m);
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "no reply within {} s (is the worker running? look at `mandala dev`'s log)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_reply(message: &Value) {
    crate::say!("reply: {}", message["content"].as_str().unwrap_or(""));
    for a in message["attachments"].as_array().into_iter().flatten() {
        crate::say!(
            "  attachment {} ({} bytes) {}",
            a["filename"].as_str().unwrap_or("?"),
            a["size"],
            a["url"].as_str().unwrap_or("")
        );
    }
    for row in message["components"].as_array().into_iter().flatten() {
        for b in row["components"].as_array().into_iter().flatten() {
            crate::say!(
                "  button {:<8} {}",
                b["label"].as_str().unwrap_or(""),
                b["custom_id"].as_str().unwrap_or("")
            );
        }
    }
}

/// Downloads the reply's image to `path`.
async fn save(http: &reqwest::Client, message: &Value, path: &Path) -> anyhow::Result<()> {
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
    crate::say!("saved {}", path.display());
    Ok(())
}
