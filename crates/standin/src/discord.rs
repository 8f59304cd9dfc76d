//! A stand-in for Discord's REST API, for local runs and tests.
//!
//! It serves the routes the bot uses, relative to the API base (mount it
//! with `Router::nest("/api/v10", standin.router())`), and checks requests
//! the way Discord would: method and path, `User-Agent: DiscordBot (url,
//! version)`, the multipart shape (one `payload_json`, `files[n]` parts with
//! file names, every `attachments[].id` matched by a file or a kept
//! attachment, every `attachment://` embed naming an uploaded file), the
//! documented limits, and that uploaded images decode. It answers with
//! Discord's error bodies and records every request (with the JSON it
//! carried, for contract tests) and the current state of every message, so
//! tests can assert on what a user would see. It can be told to fail the
//! next requests with a 429, a 500, a 404 or a 413, or to withhold their
//! answer (with or without acting on them: a timeout whose outcome the
//! sender cannot know).
//!
//! Layout: [`state`] is what the stand-in remembers, below everything
//! else; [`gate`] checks and records every request; [`messages`] and
//! [`command_routes`] are the routes; [`body`] reads message requests,
//! [`view`] renders messages as Discord answers with them, [`errors`] holds
//! Discord's error answers; [`multipart`] reads forms, [`checks`] validates
//! message bodies and files, [`commands`] validates slash command
//! definitions. This file mounts the routes.

// Helpers return the finished error `Response` as their `Err`; boxing it
// would only add noise to a test stand-in.
#![allow(clippy::result_large_err)]

mod body;
mod checks;
mod command_routes;
mod commands;
mod errors;
mod gate;
mod messages;
mod multipart;
mod state;
mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use command_routes::{get_commands, get_guild_commands, put_commands, put_guild_commands};
use errors::not_found;
use gate::{BODY_LIMIT, gate};
use messages::{
    delete_message, edit_message, execute_webhook, get_attachment, get_message,
    interaction_callback,
};

pub use state::{DiscordStandin, Failure, RecordedAttachment, RecordedMessage, RecordedRequest};

impl DiscordStandin {
    /// Serves the stand-in alone on a free loopback port, mounted at
    /// `/api/v10` like Discord's API, until the runtime stops; returns the
    /// API base URL (`http://127.0.0.1:PORT/api/v10`).
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/api/v10", listener.local_addr()?);
        let app = Router::new().nest("/api/v10", self.router());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Discord stand-in stopped");
            }
        });
        Ok(base)
    }

    /// Routes relative to the API base.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/webhooks/{webhook}/{token}", post(execute_webhook))
            .route(
                "/interactions/{interaction}/{token}/callback",
                post(interaction_callback),
            )
            .route(
                "/webhooks/{webhook}/{token}/messages/{message}",
                get(get_message).patch(edit_message).delete(delete_message),
            )
            .route(
                "/applications/{app}/commands",
                put(put_commands).get(get_commands),
            )
            .route(
                "/applications/{app}/guilds/{guild}/commands",
                put(put_guild_commands).get(get_guild_commands),
            )
            .route(
                "/attachments/{message}/{attachment}/{filename}",
                get(get_attachment),
            )
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(axum::middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use mandala_model::discord::snowflake;

    #[test]
    fn user_agents() {
        use super::gate::valid_user_agent;
        assert!(valid_user_agent(
            "DiscordBot (https://github.com/x/y, 0.1.0)"
        ));
        assert!(!valid_user_agent("reqwest/0.13"));
        assert!(!valid_user_agent("DiscordBot (https://x)"));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let id = snowflake::from_timestamp_ms(1_764_000_000_123, 0);
        assert_eq!(
            super::view::snowflake_time(&id),
            "2025-11-24T16:00:00.123000+00:00"
        );
    }
}
