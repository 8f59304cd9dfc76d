# Optional: a "mandala of the day" posted to a channel webhook by Cloud
# Scheduler (daily_mandala_enabled). It publishes an ordinary job to the jobs
# topic; options missing from daily_mandala_spec are chosen at random, so
# every day brings a different mandala. The job names the secret holding
# the webhook URL (secrets.tf); the worker (in pubsub-split, the replier)
# reads the latest version. It needs the jobs topic, so only the Pub/Sub
# designs have it (daily_mandala_enabled's validation says so).

resource "google_cloud_scheduler_job" "daily_mandala" {
  count = var.daily_mandala_enabled && local.jobs_on_pubsub ? 1 : 0

  name        = "${var.name_prefix}-of-the-day"
  description = "Publishes the mandala of the day to ${google_pubsub_topic.jobs[0].name}"
  region      = var.region
  schedule    = var.daily_mandala_schedule
  time_zone   = var.daily_mandala_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.jobs[0].id
    data = base64encode(jsonencode({
      v     = 1
      kind  = "schedule"
      spec  = jsondecode(var.daily_mandala_spec)
      reply = { webhook_secret = "${google_secret_manager_secret.daily_mandala_webhook[0].id}/versions/latest" }
    }))
    attributes = {
      kind   = "schedule"
      source = "scheduler"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_version.daily_mandala_webhook,
    google_secret_manager_secret_iam_member.worker_reads_daily_webhook,
  ]
}
