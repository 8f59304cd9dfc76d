# Discord credentials in Secret Manager. The ingress reads the public key as
# a secret environment variable; the bot token is read only by the operator
# (deploy/deploy.sh, for `mandala register-commands`), never by a service.

resource "google_secret_manager_secret" "discord_public_key" {
  secret_id = "${var.name_prefix}-discord-public-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "discord_public_key" {
  secret      = google_secret_manager_secret.discord_public_key.id
  secret_data = lower(var.discord_public_key)
}

resource "google_secret_manager_secret" "discord_bot_token" {
  secret_id = "${var.name_prefix}-discord-bot-token"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Only when the token was given: otherwise the secret stays empty and the
# operator adds a version by hand (see the README) or passes the token to
# register-commands directly.
resource "google_secret_manager_secret_version" "discord_bot_token" {
  # Whether a token was given is not a secret; the token is.
  count = nonsensitive(var.discord_bot_token != null) ? 1 : 0

  secret      = google_secret_manager_secret.discord_bot_token.id
  secret_data = var.discord_bot_token
}
