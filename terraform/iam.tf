# Identities and least-privilege grants. One runtime service account per
# service, one for Pub/Sub's pushes and Cloud Tasks' dispatches and one for
# Cloud Build:
#
#   ingress  publishes to the jobs topic (or, in cloud-tasks, enqueues tasks
#            that carry the push account's token), reads the public key
#            secret and reads and writes the queue ledger
#   worker   creates and reads objects in the renders bucket, reads and
#            writes the queue ledger, and reads the daily mandala's
#            webhook secret; in pubsub-split publishes reply jobs; in
#            single it is the one service's account and also reads the
#            public key secret
#   replier  (pubsub-split) reads objects in the renders bucket (never
#            writes), reads and writes the queue ledger, and reads the
#            daily mandala's webhook secret
#   push     invokes the worker and the replier (Pub/Sub and Cloud Tasks
#            sign as this account)
#   build    pushes images to the Artifact Registry repository
#
# The ingress, worker and push accounts exist in every design (they cost
# nothing), so switching designs never replaces an identity.

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

resource "google_service_account" "replier" {
  count = local.split ? 1 : 0

  account_id   = "${var.name_prefix}-replier"
  display_name = "Mandala Bot replier (Cloud Run runtime)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "Mandala Bot image builds (Cloud Build)"

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- ingress

resource "google_pubsub_topic_iam_member" "ingress_publishes_jobs" {
  count = local.jobs_on_pubsub ? 1 : 0

  topic  = google_pubsub_topic.jobs[0].name
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

# cloud-tasks: create tasks on the queue, each carrying an OIDC token for
# the push account, which needs actAs on that account.
resource "google_cloud_tasks_queue_iam_member" "ingress_enqueues_jobs" {
  count = local.cloud_tasks ? 1 : 0

  name     = google_cloud_tasks_queue.jobs[0].name
  location = google_cloud_tasks_queue.jobs[0].location
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.ingress.member
}

resource "google_service_account_iam_member" "ingress_acts_as_push" {
  count = local.cloud_tasks ? 1 : 0

  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.ingress.member
}

# ---------------------------------------------------------------- single

# It checks Discord's signatures itself, as the worker account.
resource "google_secret_manager_secret_iam_member" "single_reads_public_key" {
  count = local.single ? 1 : 0

  secret_id = google_secret_manager_secret.discord_public_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
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
  count = local.two_tier ? 1 : 0

  name     = google_cloud_run_v2_service.worker[0].name
  location = google_cloud_run_v2_service.worker[0].location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# pubsub-split: the render worker hands each reply to the replier.
resource "google_pubsub_topic_iam_member" "worker_publishes_replies" {
  count = local.split ? 1 : 0

  topic  = google_pubsub_topic.replies[0].name
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

# ---------------------------------------------------------------- replier (pubsub-split)

# It reads the image the render worker stored (to attach it, or link it);
# it never writes one.
resource "google_storage_bucket_iam_member" "replier_reads_renders" {
  count = local.split ? 1 : 0

  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.replier[0].member
}

# It ends each job in the queue ledger.
# The daily mandala's reply names its webhook by this secret.
resource "google_secret_manager_secret_iam_member" "replier_reads_daily_webhook" {
  count = local.split && var.daily_mandala_enabled ? 1 : 0

  secret_id = google_secret_manager_secret.daily_mandala_webhook[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.replier[0].member
}

resource "google_project_iam_member" "replier_uses_queue" {
  count = local.split ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.replier[0].member

  condition {
    title      = "queue database only"
    expression = "resource.name == \"${google_firestore_database.queue.id}\""
  }
}

resource "google_cloud_run_v2_service_iam_member" "replier_push_invoker" {
  count = local.split ? 1 : 0

  name     = google_cloud_run_v2_service.replier[0].name
  location = google_cloud_run_v2_service.replier[0].location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# ---------------------------------------------------------------- Pub/Sub service agent

# Mint OIDC tokens for the push account (needed in projects that enabled
# Pub/Sub before April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  count = local.jobs_on_pubsub ? 1 : 0

  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# cloud-tasks: the Cloud Tasks service agent mints the OIDC token each
# dispatch carries (needed in projects older than its default grant, as for
# Pub/Sub above; harmless elsewhere).
resource "google_service_account_iam_member" "tasks_mint_push_tokens" {
  count = local.cloud_tasks ? 1 : 0

  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.cloudtasks_service_agent
}

# Dead-lettering: the service agent republishes the message to the
# dead-letter topic and acknowledges it on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  count = local.jobs_on_pubsub ? 1 : 0

  topic  = google_pubsub_topic.dead_letter[0].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  count = local.jobs_on_pubsub ? 1 : 0

  subscription = google_pubsub_subscription.worker_push[0].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "replies_dead_letter_publisher" {
  count = local.split ? 1 : 0

  topic  = google_pubsub_topic.replies_dead_letter[0].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "replies_dead_letter_subscriber" {
  count = local.split ? 1 : 0

  subscription = google_pubsub_subscription.replier_push[0].name
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
