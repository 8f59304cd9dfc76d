//! Contracts with Discord's HTTP API: every payload the bot sends, checked
//! against Discord's own OpenAPI description ([`openapi`]) and against the
//! documented limits that description does not express ([`limits`]).
//!
//! The description is not copied into this repository: [`discord_api`]
//! reads it from the shared anchors beside the checkout
//! (`../shared/anchors/discord-openapi/openapi.json`, with the commit it was
//! taken from in `SOURCE.md`), or from `MANDALA_DISCORD_OPENAPI`. Tests that
//! need it skip loudly without it (see `mandala_standin::suites`).
//!
//! The operations the bot calls, by `operationId`:
//!
//! | what | operation |
//! |---|---|
//! | `mandala register-commands` | [`BULK_SET_COMMANDS`], [`BULK_SET_GUILD_COMMANDS`] |
//! | the ingress's answers | [`INTERACTION_RESPONSE`] |
//! | the worker's edits, last words, waiting notices | [`EDIT_ORIGINAL`] |
//! | the worker's channel webhook posts | [`EXECUTE_WEBHOOK`] |
//! | a redelivered webhook job's edit | [`EDIT_WEBHOOK_MESSAGE`] |

pub mod limits;
pub mod openapi;

use std::path::PathBuf;
use std::sync::OnceLock;

pub use openapi::Api;

pub const BULK_SET_COMMANDS: &str = "bulk_set_application_commands";
pub const BULK_SET_GUILD_COMMANDS: &str = "bulk_set_guild_application_commands";
pub const INTERACTION_RESPONSE: &str = "create_interaction_response";
pub const EDIT_ORIGINAL: &str = "update_original_webhook_message";
pub const EXECUTE_WEBHOOK: &str = "execute_webhook";
pub const EDIT_WEBHOOK_MESSAGE: &str = "update_webhook_message";

/// Where the description is read from: `MANDALA_DISCORD_OPENAPI`, else the
/// shared anchors beside the checkout.
pub fn discord_api_path() -> PathBuf {
    std::env::var_os("MANDALA_DISCORD_OPENAPI").map_or_else(
        || crate::workspace_root().join("../shared/anchors/discord-openapi/openapi.json"),
        PathBuf::from,
    )
}

/// The commit the description was taken from, as `SOURCE.md` beside it says.
pub fn discord_api_commit() -> Option<String> {
    let source = discord_api_path().with_file_name("SOURCE.md");
    let text = std::fs::read_to_string(source).ok()?;
    let after = text.split("at commit").nth(1)?;
    let commit: String = after
        .trim_start()
        .trim_start_matches('`')
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (commit.len() >= 7).then_some(commit)
}

/// Discord's API description, read once per test binary; `Err` says why
/// it is not there (the caller reports the skip).
pub fn discord_api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        let path = discord_api_path();
        if !path.exists() {
            return Err(format!(
                "{} is missing (Discord's OpenAPI description; set MANDALA_DISCORD_OPENAPI to use another copy)",
                path.display()
            ));
        }
        Api::from_file(&path)
    })
    .as_ref()
    .map_err(Clone::clone)
}
