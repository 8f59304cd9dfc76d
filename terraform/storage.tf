# The bucket rendered images are stored in, under content-addressed names
# (renders/v1/<spec hash>.<ext>), so the same spec is rendered once.

resource "google_storage_bucket" "renders" {
  name          = local.bucket_name
  location      = coalesce(var.bucket_location, var.region)
  storage_class = "STANDARD"
  force_destroy = var.bucket_force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = var.bucket_public_read ? "inherited" : "enforced"

  # Renders are reproducible from their spec: old ones are deleted rather
  # than kept forever.
  lifecycle_rule {
    condition {
      age = var.render_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Deleted renders need not linger as billable soft-deleted objects.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  depends_on = [google_project_service.apis]
}

# Only with bucket_public_read: anyone may read the images (a public gallery).
resource "google_storage_bucket_iam_member" "public_read" {
  count = var.bucket_public_read ? 1 : 0

  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# Source archives uploaded by `gcloud builds submit` (deploy/deploy.sh);
# a week is enough to rerun a build.
resource "google_storage_bucket" "build_sources" {
  name          = "${var.project_id}-${var.name_prefix}-builds"
  location      = var.region
  storage_class = "STANDARD"
  force_destroy = true

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  depends_on = [google_project_service.apis]
}
