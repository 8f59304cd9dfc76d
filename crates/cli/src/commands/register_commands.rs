//! `mandala register-commands`: publish the bot's commands to Discord —
//! `/mandala` and the "Remix mandala" and "Mandala for this user" context
//! menus, each with its names and descriptions in every language the bot
//! speaks.
//!
//! The definitions come from `mandala_model::discord::command::definitions()`,
//! generated from the model's bounds and strings, so Discord's UI enforces the
//! same limits the ingress checks. Registration is a bulk overwrite (PUT),
//! which is idempotent: running it twice changes nothing.

use anyhow::Context as _;
use mandala_model::discord::{command, user_agent};

use crate::UsageError;

/// Flags of `mandala register-commands`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The application id from the Developer Portal.
    #[arg(long, env = "DISCORD_APPLICATION_ID")]
    pub application_id: Option<String>,
    /// Register in one guild only (instant; good for testing) instead of globally.
    #[arg(long)]
    pub guild: Option<String>,
    /// Print the JSON that would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The bot token (Bot tab of the Developer Portal).
    #[arg(long, env = "DISCORD_BOT_TOKEN", hide_env_values = true)]
    pub bot_token: Option<String>,
    /// Discord's REST API base.
    #[arg(
        long,
        env = "DISCORD_API_BASE",
        default_value = "https://discord.com/api/v10"
    )]
    pub api_base: String,
}

fn snowflake(flag: &str, value: &str) -> Result<(), UsageError> {
    if !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--{flag}: {value:?} is not a Discord id (digits only)"
        )))
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let body = command::definitions();
    if args.dry_run {
        crate::say!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let app = args.application_id.ok_or_else(|| {
        UsageError("--application-id (or DISCORD_APPLICATION_ID) is required".into())
    })?;
    snowflake("application-id", &app)?;
    if let Some(g) = &args.guild {
        snowflake("guild", g)?;
    }
    let token = args
        .bot_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| UsageError("DISCORD_BOT_TOKEN (or --bot-token) is required".into()))?;
    let base = args.api_base.trim_end_matches('/');
    let url = match &args.guild {
        Some(g) => format!("{base}/applications/{app}/guilds/{g}/commands"),
        None => format!("{base}/applications/{app}/commands"),
    };
    let response = reqwest::Client::new()
        .put(&url)
        .header("Authorization", format!("Bot {}", token.trim()))
        .header("User-Agent", user_agent())
        .json(&body)
        .send()
        .await
        .with_context(|| format!("could not reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match status.as_u16() {
        200..=299 => {
            let registered: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let names: Vec<String> = registered
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            format!(
                                "/{} (id {})",
                                c["name"].as_str().unwrap_or("?"),
                                c["id"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let scope = args.guild.as_ref().map_or_else(
                || "globally (may take up to an hour to appear)".to_owned(),
                |g| format!("in guild {g}"),
            );
            crate::say!("registered {} {scope}", names.join(", "));
            Ok(())
        }
        401 => anyhow::bail!(
            "Discord rejected DISCORD_BOT_TOKEN (401): check the token on the Bot tab"
        ),
        403 => anyhow::bail!(
            "Discord answered 403: the bot token does not belong to application {app}, or the bot is not in that guild"
        ),
        _ => anyhow::bail!("Discord answered {status}: {text}"),
    }
}
