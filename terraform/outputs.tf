# What the operator needs after `terraform apply`.

output "interactions_endpoint_url" {
  description = "Paste this into the Discord Developer Portal: General Information, Interactions Endpoint URL."
  value       = "${google_cloud_run_v2_service.ingress.uri}/interactions"
}

output "ingress_url" {
  description = "Base URL of the public ingress service."
  value       = google_cloud_run_v2_service.ingress.uri
}

output "worker_url" {
  description = "URL of the private worker service (only the push service account may call it); also the push OIDC audience."
  value       = local.worker_url
}

output "jobs_topic" {
  description = "The jobs topic, as the ingress's PUBSUB_TOPIC and `mandala publish --topic` take it."
  value       = google_pubsub_topic.jobs.id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding jobs that failed every delivery attempt."
  value       = google_pubsub_subscription.dead_letter.name
}

output "bucket" {
  description = "Bucket the rendered images are stored in (renders/v1/<spec hash>.<ext>)."
  value       = google_storage_bucket.renders.name
}

output "manual_job_command" {
  description = "Queues one render job by hand; the image lands in the bucket."
  value       = "gcloud pubsub topics publish ${google_pubsub_topic.jobs.name} --project=${var.project_id} --message='{\"spec\":{\"seed\":42}}'"
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
