# The queue ledger: one Firestore database that every ingress and worker
# instance shares, holding each user's outstanding jobs (for the per-user
# cap and the wait estimate) and each worker instance's measured speed.
#
# Firestore bills per operation and stored byte, nothing while idle. The
# first Firestore database created in a project gets the free tier; TTL
# deletes are billed like other deletes.

resource "google_firestore_database" "queue" {
  name        = "${var.name_prefix}-queue"
  location_id = coalesce(var.queue_database_location, var.region)
  type        = "FIRESTORE_NATIVE"

  # Every record lives at most 15 minutes (an interaction token's life):
  # nothing here is worth keeping, so `terraform destroy` deletes it.
  delete_protection_state = "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "DELETE"

  depends_on = [google_project_service.apis]
}

# Records that nobody removed (an instance died mid-job) are deleted by
# Firestore after their `expire_at`; they stop counting long before, since
# every query filters on the tokens' expiry.
resource "google_firestore_field" "queue_expiry" {
  database   = google_firestore_database.queue.name
  collection = "mandala_queue"
  field      = "expire_at"

  ttl_config {}
  # A TTL timestamp needs no index.
  index_config {}
}

resource "google_firestore_field" "worker_report_expiry" {
  database   = google_firestore_database.queue.name
  collection = "mandala_workers"
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# The entries themselves are a JSON string nothing queries: not indexed.
resource "google_firestore_field" "queue_entries_unindexed" {
  database   = google_firestore_database.queue.name
  collection = "mandala_queue"
  field      = "jobs"

  index_config {}
}
