# Secrets in Secret Manager: the Discord public key (the ingress reads it as
# a secret environment variable), the bot token (read only by the operator:
# deploy/deploy.sh, for `mandala register-commands`, never by a service) and
# the daily mandala's channel webhook URL (the worker reads it when the
# Scheduler's job names it).

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

# The channel the mandala of the day is posted to. Whoever holds a webhook
# URL can post there, so the Scheduler's job names this secret instead of
# carrying the URL, which would otherwise sit in every Pub/Sub message and
# in 7 days of dead letters.
resource "google_secret_manager_secret" "daily_mandala_webhook" {
  count = var.daily_mandala_enabled ? 1 : 0

  secret_id = "${var.name_prefix}-daily-mandala-webhook"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "daily_mandala_webhook" {
  count = var.daily_mandala_enabled ? 1 : 0

  secret      = google_secret_manager_secret.daily_mandala_webhook[0].id
  secret_data = var.daily_mandala_webhook_url
}
