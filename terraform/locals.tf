# Names and values derived from the inputs, shared by several files.

locals {
  project_number = data.google_project.this.number

  ingress_service_name = "${var.name_prefix}-ingress"
  worker_service_name  = "${var.name_prefix}-worker"

  # The worker's URL, known before the service exists. Cloud Run gives every
  # service the deterministic address https://<service>-<project number>.<region>.run.app
  # (besides the older hashed one), and accepts ID tokens addressed to any of
  # its URLs. Computing it here breaks the cycle "the worker's PUSH_AUDIENCE
  # is the worker's own URL"; a postcondition on the worker checks that
  # Cloud Run really serves it under this address.
  worker_url = "https://${local.worker_service_name}-${local.project_number}.${var.region}.run.app"

  # Time budget of one push, from the inside out: the worker gives up on a
  # job after job_deadline_secs, Cloud Run cuts the request 5 s later, and
  # Pub/Sub waits 10 s past the deadline before it redelivers.
  worker_timeout_secs  = var.job_deadline_secs + 5
  ack_deadline_seconds = var.job_deadline_secs + 10

  # One render per vCPU (RENDER_CONCURRENCY). Cloud Run lets each instance
  # hold worker_jobs_per_cpu times as many pushes, so that the worker sees
  # several users' jobs at once and gives each free render slot to the one
  # served least recently: Pub/Sub pushes the oldest message first, and
  # fairness between users is decided here. Instances are added when their
  # CPUs are busy (Cloud Run's CPU target) or their room fills.
  worker_render_slots = var.worker_cpu
  worker_concurrency  = var.worker_cpu * var.worker_jobs_per_cpu

  # Pub/Sub's own service account, which moves undeliverable messages to
  # the dead-letter topic and mints the push OIDC tokens.
  pubsub_service_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  bucket_name = coalesce(var.bucket_name, "${var.project_id}-${var.name_prefix}-renders")

  image_registry = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  ingress_image  = "${local.image_registry}/mandala-ingress:${var.image_tag}"
  worker_image   = "${local.image_registry}/mandala-worker:${var.image_tag}"
}
