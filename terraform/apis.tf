# The Google APIs the deployment uses, and the Artifact Registry repository
# the images are pushed to.

locals {
  apis = concat(
    [
      # What Terraform itself calls: the project (data.google_project,
      # project IAM) and the API switches. In a fresh project these must be
      # on before the first plan; deploy/deploy.sh enables them with gcloud
      # first, and they stay listed here so nothing turns them off.
      "cloudresourcemanager.googleapis.com",
      "serviceusage.googleapis.com",
      "run.googleapis.com",
      "pubsub.googleapis.com",
      "storage.googleapis.com",
      "secretmanager.googleapis.com",
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "iam.googleapis.com",
      # Pub/Sub mints the push subscription's OIDC tokens through it.
      "iamcredentials.googleapis.com",
      # The queue ledger.
      "firestore.googleapis.com",
      # The operator's console (monitoring.tf): log-based metrics and
      # exclusions, alert policies, uptime check, SLO, dashboard.
      "logging.googleapis.com",
      "monitoring.googleapis.com",
    ],
    var.budget_billing_account != null ? ["billingbudgets.googleapis.com"] : [],
    var.daily_mandala_enabled ? ["cloudscheduler.googleapis.com"] : [],
    local.cloud_tasks ? ["cloudtasks.googleapis.com"] : [],
  )
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project = var.project_id
  service = each.value

  # Other things in the project may use these APIs too: destroying this
  # deployment must not switch them off.
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  repository_id = var.name_prefix
  location      = var.region
  format        = "DOCKER"
  description   = "Mandala Bot images (mandala-ingress, mandala-worker)."

  cleanup_policy_dry_run = false

  # A tag names one build forever: a release (image_tag) cannot be
  # re-pointed at other bytes, so a rollback to it gets what was tested.
  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "604800s"
    }
  }

  depends_on = [google_project_service.apis]
}
