# Identities and least-privilege grants. One runtime service account per
# service, one for Pub/Sub's pushes and one for Cloud Build:
#
#   ingress  publishes to the jobs topic, reads the public key secret and
#            reads and writes the queue ledger
#   worker   creates and reads objects in the renders bucket, reads and
#            writes the queue ledger, and reads the daily mandala's
#            webhook secret
#   push     invokes the worker (Pub/Sub signs its pushes as this account)
#   build    pushes images to the Artifact Registry repository

resource "google_service_account" "ingress" {
  account_id   = "${var.name_prefix}-ingress"
  display_name = "Mandala Bot ingress (Cloud Run runtime)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "worker" {
  account_id   = "${var.name_prefix}-worker"
  display_name = "Mandala Bot worker (Cloud Run runtime)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "push" {
  account_id   = "${var.name_prefix}-push"
  display_name = "Mandala Bot Pub/Sub push to the worker"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "Mandala Bot image builds (Cloud Build)"

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- ingress

resource "google_pubsub_topic_iam_member" "ingress_publishes_jobs" {
  topic  = google_pubsub_topic.jobs.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.ingress.member
}

resource "google_secret_manager_secret_iam_member" "ingress_reads_public_key" {
  secret_id = google_secret_manager_secret.discord_public_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingress.member
}

# Firestore grants are project roles; the condition narrows this one to the
# queue's own database.
resource "google_project_iam_member" "ingress_uses_queue" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.ingress.member

  condition {
    title      = "queue database only"
    expression = "resource.name == \"${google_firestore_database.queue.id}\""
  }
}

# Discord must reach the interactions endpoint without Google credentials;
# every request is authenticated by its Ed25519 signature instead.
resource "google_cloud_run_v2_service_iam_member" "ingress_public" {
  name     = google_cloud_run_v2_service.ingress.name
  location = google_cloud_run_v2_service.ingress.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# ---------------------------------------------------------------- worker

# Create renders (objectCreator cannot overwrite, which suits
# content-addressed names) and read them back for the exists check.
resource "google_storage_bucket_iam_member" "worker_creates_renders" {
  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.worker.member
}

resource "google_storage_bucket_iam_member" "worker_reads_renders" {
  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member
}

# The daily mandala's job names this secret; the worker reads the URL.
resource "google_secret_manager_secret_iam_member" "worker_reads_daily_webhook" {
  count = var.daily_mandala_enabled ? 1 : 0

  secret_id = google_secret_manager_secret.daily_mandala_webhook[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

resource "google_project_iam_member" "worker_uses_queue" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.worker.member

  condition {
    title      = "queue database only"
    expression = "resource.name == \"${google_firestore_database.queue.id}\""
  }
}

# The only principal that may call the private worker.
resource "google_cloud_run_v2_service_iam_member" "worker_push_invoker" {
  name     = google_cloud_run_v2_service.worker.name
  location = google_cloud_run_v2_service.worker.location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# ---------------------------------------------------------------- Pub/Sub service agent

# Mint OIDC tokens for the push account (needed in projects that enabled
# Pub/Sub before April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Dead-lettering: the service agent republishes the message to the
# dead-letter topic and acknowledges it on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  subscription = google_pubsub_subscription.worker_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# ---------------------------------------------------------------- Cloud Build

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_project_iam_member" "build_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# Cloud Build reads the uploaded source from this staging bucket
# (deploy.sh passes --gcs-source-staging-dir).
resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.build_sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
