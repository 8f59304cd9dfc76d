# Secrets in Secret Manager: the Discord public key (the ingress reads it as
# a secret environment variable), the bot token (read only by the operator:
# deploy/deploy.sh, for `mandala register-commands`, never by a service) and
# the daily mandala's channel webhook URL (the worker reads it when the
# Scheduler's job names it).
#
# Every value is written with the write-only `secret_data_wo` (Terraform
# >= 1.11): Terraform hands it to Secret Manager and keeps it out of its
# state. A write-only value cannot be compared with what was written, so
# `secret_data_wo_version` says when to write a new one; it is the value's
# fingerprint (its SHA-256's first 32 bits), so changing a value is enough
# for the next apply to write it, and the state holds only those 32 bits,
# from which a token cannot be recovered.

resource "google_secret_manager_secret" "discord_public_key" {
  secret_id = "${var.name_prefix}-discord-public-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "discord_public_key" {
  secret                 = google_secret_manager_secret.discord_public_key.id
  secret_data_wo         = lower(var.discord_public_key)
  secret_data_wo_version = parseint(substr(sha256(lower(var.discord_public_key)), 0, 8), 16)
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

  secret                 = google_secret_manager_secret.discord_bot_token.id
  secret_data_wo         = var.discord_bot_token
  secret_data_wo_version = parseint(substr(sha256(var.discord_bot_token), 0, 8), 16)
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

  secret                 = google_secret_manager_secret.daily_mandala_webhook[0].id
  secret_data_wo         = var.daily_mandala_webhook_url
  secret_data_wo_version = parseint(substr(sha256(var.daily_mandala_webhook_url), 0, 8), 16)
}
