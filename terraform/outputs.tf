# What the operator needs after `terraform apply`.

output "interactions_endpoint_url" {
  description = "Paste this into the Discord Developer Portal: General Information, Interactions Endpoint URL. It is the ingress's (in single, the one service's), so switching to or from single changes it."
  value       = "${local.public_uri}/interactions"
}

output "ingress_url" {
  description = "Base URL of the public service: the ingress, or in single the one service."
  value       = local.public_uri
}

output "worker_url" {
  description = "URL of the private worker service (only the push service account may call it); also the push OIDC audience. Null in single, which has no separate worker."
  value       = local.two_tier ? local.worker_url : null
}

output "jobs_topic" {
  description = "The jobs topic, as the ingress's PUBSUB_TOPIC and `mandala publish --topic` take it. Null unless topology is pubsub or pubsub-split."
  value       = local.jobs_on_pubsub ? google_pubsub_topic.jobs[0].id : null
}

output "dead_letter_subscription" {
  description = "Pull subscription holding jobs that failed every delivery attempt. Null unless topology is pubsub or pubsub-split (Cloud Tasks deletes a task after its last attempt)."
  value       = local.jobs_on_pubsub ? google_pubsub_subscription.dead_letter[0].name : null
}

output "topology" {
  description = "The design deployed (var.topology)."
  value       = var.topology
}

output "replies_topic" {
  description = "pubsub-split: the topic the render worker publishes reply jobs to (its REPLY_TOPIC); null in the other designs."
  value       = local.split ? google_pubsub_topic.replies[0].id : null
}

output "tasks_queue" {
  description = "cloud-tasks: the Cloud Tasks queue, as the ingress's CLOUD_TASKS_QUEUE takes it (projects/P/locations/L/queues/Q); null in the other designs."
  value       = local.cloud_tasks ? google_cloud_tasks_queue.jobs[0].id : null
}

output "bucket" {
  description = "Bucket the rendered images are stored in (renders/v1/<spec hash>.<ext>)."
  value       = google_storage_bucket.renders.name
}

output "manual_job_command" {
  description = "Queues one render job by hand; the image lands in the bucket. A Pub/Sub message, or in cloud-tasks a task; single has no queue outside its service, so there it only says so."
  value = (
    local.jobs_on_pubsub ? "gcloud pubsub topics publish ${google_pubsub_topic.jobs[0].name} --project=${var.project_id} --message='{\"spec\":{\"seed\":42}}'"
    : local.cloud_tasks ? "gcloud tasks create-http-task --queue=${google_cloud_tasks_queue.jobs[0].name} --location=${var.region} --project=${var.project_id} --url=${local.worker_url}/tasks/run --method=POST --header=Content-Type:application/json --oidc-service-account-email=${google_service_account.push.email} --oidc-token-audience=${local.worker_url} --body-content='{\"spec\":{\"seed\":42}}'"
    : "echo 'topology single queues jobs inside its one service: send /mandala in Discord instead'"
  )
}

output "image_repository" {
  description = "Artifact Registry path the images are pushed to (deploy/cloudbuild.yaml's _REPOSITORY)."
  value       = local.image_registry
}

output "build_service_account" {
  description = "Service account Cloud Build runs as (gcloud builds submit --service-account)."
  value       = google_service_account.build.id
}

output "build_sources_bucket" {
  description = "Staging bucket for Cloud Build sources (gcloud builds submit --gcs-source-staging-dir)."
  value       = google_storage_bucket.build_sources.name
}

output "bot_token_secret" {
  description = "Secret Manager secret holding the bot token for `mandala register-commands`."
  value       = google_secret_manager_secret.discord_bot_token.secret_id
}

output "daily_mandala_webhook_secret" {
  description = "Secret Manager secret holding the daily mandala's webhook URL (null unless daily_mandala_enabled); add a version to change the channel."
  value       = var.daily_mandala_enabled ? google_secret_manager_secret.daily_mandala_webhook[0].secret_id : null
}

output "discord_application_id" {
  description = "The Discord application id the ingress accepts."
  value       = var.discord_application_id
}

output "release" {
  description = "What runs: the release's tag and both images by digest (the worker image also runs the replier and the single service)."
  value = {
    image_tag     = var.image_tag
    ingress_image = local.ingress_image
    worker_image  = local.worker_image
  }
}

output "alert_notifications" {
  description = "Who the alert policies notify. Without alert_emails they open incidents in Cloud Monitoring but notify no one, and this says so in every plan."
  value = (
    length(var.alert_emails) > 0
    ? "Alerts notify: ${join(", ", var.alert_emails)}"
    : "NOBODY IS NOTIFIED: alert_emails is empty, so the alert policies open incidents in Cloud Monitoring but page no one. Set alert_emails (docs/DEPLOY.md, Inputs)."
  )
}

output "dashboard" {
  description = "The Cloud Monitoring dashboard of this deployment."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.console.id), length(split("/", google_monitoring_dashboard.console.id)) - 1)}?project=${var.project_id}"
}
