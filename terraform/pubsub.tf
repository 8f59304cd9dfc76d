# The job queue of the Pub/Sub designs (pubsub, pubsub-split): the jobs
# topic, the push subscription that delivers every job to the worker, and
# the dead-letter topic where jobs that failed max_delivery_attempts times
# go: pushed to the worker, which tells their users, and kept for an
# operator. pubsub-split adds the same again for reply jobs, from the render
# worker to the replier.

resource "google_pubsub_topic" "jobs" {
  count = local.jobs_on_pubsub ? 1 : 0

  name = "${var.name_prefix}-jobs"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  count = local.jobs_on_pubsub ? 1 : 0

  name = "${var.name_prefix}-jobs-dead-letter"

  depends_on = [google_project_service.apis]
}

# Pull subscription on the dead-letter topic, so failed jobs can be looked
# at (`gcloud pubsub subscriptions pull ... --auto-ack`) and republished.
resource "google_pubsub_subscription" "dead_letter" {
  count = local.jobs_on_pubsub ? 1 : 0

  name  = "${var.name_prefix}-jobs-dead-letter-inspect"
  topic = google_pubsub_topic.dead_letter[0].id

  message_retention_duration = "604800s"
  retain_acked_messages      = false
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "worker_push" {
  count = local.jobs_on_pubsub ? 1 : 0

  name  = "${var.name_prefix}-jobs-worker-push"
  topic = google_pubsub_topic.jobs[0].id

  # Above the worker's job deadline, so Pub/Sub never redelivers a job the
  # worker is still working on.
  ack_deadline_seconds = local.ack_deadline_seconds

  # A job still undelivered after a day is stale (Discord's interaction
  # tokens live 15 minutes); normally the dead-letter policy moves it on
  # long before.
  message_retention_duration = "86400s"

  # Jobs are published with their user as the ordering key: one job per
  # user is out at a time, so a user's burst occupies one render slot and
  # the worker can serve users in turn. (Changing this replaces the
  # subscription, and with it any jobs still waiting in it.)
  enable_message_ordering = true

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.worker[0].uri}/pubsub/push"

    # Pub/Sub signs every push with an ID token for the push service
    # account; Cloud Run lets it through only because that account has
    # run.invoker on the worker, and the worker checks the same audience
    # and account itself (PUSH_AUDIENCE, PUSH_SERVICE_ACCOUNT).
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.worker_url
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_secs}s"
    maximum_backoff = "${var.retry_maximum_backoff_secs}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[0].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # A push subscription with no traffic for 31 days would otherwise be
  # deleted, silently stopping the bot.
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    # Without these, undeliverable jobs cannot be dead-lettered and the push
    # cannot be authorised.
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_v2_service_iam_member.worker_push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# The dead letters' last word: every job that exhausted its attempts is
# pushed to the worker's dead-letter route, which tells the user (their
# message would otherwise say "Rendering…" forever). The inspect
# subscription above keeps a copy for operators.
resource "google_pubsub_subscription" "dead_letter_push" {
  count = local.jobs_on_pubsub ? 1 : 0

  name  = "${var.name_prefix}-jobs-dead-letter-worker-push"
  topic = google_pubsub_topic.dead_letter[0].id

  ack_deadline_seconds = local.ack_deadline_seconds
  # Interaction tokens live 15 minutes: an older dead letter can tell
  # nobody, so its failures are given up after an hour (the inspect
  # subscription keeps every dead letter for 7 days).
  message_retention_duration = "3600s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.worker[0].uri}/pubsub/dead-letter"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.worker_url
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_secs}s"
    maximum_backoff = "${var.retry_maximum_backoff_secs}s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.worker_push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# ---------------------------------------------------------------- pubsub-split: reply jobs

# The render worker publishes one reply job per rendered job here; the
# replier's push subscription delivers them.
resource "google_pubsub_topic" "replies" {
  count = local.split ? 1 : 0

  name = "${var.name_prefix}-replies"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "replies_dead_letter" {
  count = local.split ? 1 : 0

  name = "${var.name_prefix}-replies-dead-letter"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "replies_dead_letter" {
  count = local.split ? 1 : 0

  name  = "${var.name_prefix}-replies-dead-letter-inspect"
  topic = google_pubsub_topic.replies_dead_letter[0].id

  message_retention_duration = "604800s"
  retain_acked_messages      = false
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "replier_push" {
  count = local.split ? 1 : 0

  name  = "${var.name_prefix}-replies-replier-push"
  topic = google_pubsub_topic.replies[0].id

  # Above the replier's job deadline, as for jobs.
  ack_deadline_seconds = local.ack_deadline_seconds

  # A reply older than an interaction token's 15 minutes can reach nobody.
  message_retention_duration = "3600s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.replier[0].uri}/pubsub/push"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.replier_url
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_secs}s"
    maximum_backoff = "${var.retry_maximum_backoff_secs}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.replies_dead_letter[0].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.replies_dead_letter_publisher,
    google_cloud_run_v2_service_iam_member.replier_push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# Replies that failed every attempt: the replier tells their users.
resource "google_pubsub_subscription" "replies_dead_letter_push" {
  count = local.split ? 1 : 0

  name  = "${var.name_prefix}-replies-dead-letter-replier-push"
  topic = google_pubsub_topic.replies_dead_letter[0].id

  ack_deadline_seconds       = local.ack_deadline_seconds
  message_retention_duration = "3600s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.replier[0].uri}/pubsub/dead-letter"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.replier_url
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_secs}s"
    maximum_backoff = "${var.retry_maximum_backoff_secs}s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.replier_push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}
