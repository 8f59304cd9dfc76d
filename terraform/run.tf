# The two Cloud Run services.
#
# ingress: public, small and wide. It only checks a signature, publishes a
#   job and answers, so one vCPU serves hundreds of requests at once, and
#   it may scale out far: Discord must never see it time out.
# worker: private (only the push service account may invoke it), bigger,
#   one render per vCPU with a small waiting room of pushes in front, and
#   capped by worker_max_instances: the knob that bounds what a flood of
#   /mandala commands can cost. Jobs beyond the cap wait in Pub/Sub.
#
# Every setting is an environment variable the binary reads through its
# clap `Config`; the e2e test `terraform` checks each name set here against
# those definitions.

resource "google_cloud_run_v2_service" "ingress" {
  name                = local.ingress_service_name
  location            = var.region
  description         = "Mandala Bot: Discord interactions endpoint"
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.ingress.email
    max_instance_request_concurrency = var.ingress_concurrency
    # Discord gives up after 3 s; nothing the ingress does takes longer.
    timeout = "10s"

    scaling {
      min_instance_count = var.ingress_min_instances
      max_instance_count = var.ingress_max_instances
    }

    containers {
      name  = "ingress"
      image = local.ingress_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(var.ingress_cpu)
          memory = var.ingress_memory
        }
        # CPU only while serving: no cost between requests.
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "DISCORD_APPLICATION_ID"
        value = var.discord_application_id
      }
      env {
        name  = "PUBSUB_TOPIC"
        value = google_pubsub_topic.jobs.id
      }
      env {
        name  = "FIRESTORE_DATABASE"
        value = google_firestore_database.queue.id
      }
      env {
        name  = "MAX_QUEUED_PER_USER"
        value = tostring(var.max_queued_per_user)
      }
      env {
        name = "DISCORD_PUBLIC_KEY"
        value_source {
          secret_key_ref {
            secret = google_secret_manager_secret.discord_public_key.secret_id
            # A new key version rolls out a new revision.
            version = google_secret_manager_secret_version.discord_public_key.version
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 1
        timeout_seconds   = 1
        failure_threshold = 10
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.ingress_reads_public_key,
    google_pubsub_topic_iam_member.ingress_publishes_jobs,
    google_project_iam_member.ingress_uses_queue,
  ]
}

resource "google_cloud_run_v2_service" "worker" {
  name        = local.worker_service_name
  location    = var.region
  description = "Mandala Bot: renders jobs pushed by Pub/Sub"
  # Pub/Sub pushes from inside Google's network; nothing else needs to reach it.
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.worker.email
    max_instance_request_concurrency = local.worker_concurrency
    timeout                          = "${local.worker_timeout_secs}s"

    scaling {
      min_instance_count = var.worker_min_instances
      max_instance_count = var.worker_max_instances
    }

    containers {
      name  = "worker"
      image = local.worker_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(var.worker_cpu)
          memory = var.worker_memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "BUCKET"
        value = google_storage_bucket.renders.name
      }
      env {
        name  = "RENDER_CONCURRENCY"
        value = tostring(local.worker_render_slots)
      }
      env {
        name  = "FIRESTORE_DATABASE"
        value = google_firestore_database.queue.id
      }
      env {
        # The last attempt tells the user instead of asking Pub/Sub again.
        name  = "MAX_DELIVERY_ATTEMPTS"
        value = tostring(var.max_delivery_attempts)
      }
      env {
        name  = "JOB_DEADLINE_SECS"
        value = tostring(var.job_deadline_secs)
      }
      env {
        name  = "PUSH_AUDIENCE"
        value = local.worker_url
      }
      env {
        name  = "PUSH_SERVICE_ACCOUNT"
        value = google_service_account.push.email
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 1
        timeout_seconds   = 1
        failure_threshold = 10
      }
    }
  }

  lifecycle {
    # PUSH_AUDIENCE and the push subscription's audience are the URL
    # computed in locals.tf; make sure Cloud Run really serves it.
    postcondition {
      condition     = contains(self.urls, local.worker_url)
      error_message = "Cloud Run does not list ${local.worker_url} among the worker's URLs (${join(", ", self.urls)}); the push audience would not match. Is name_prefix too long for a deterministic URL, or are default run.app URLs disabled?"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.worker_creates_renders,
    google_storage_bucket_iam_member.worker_reads_renders,
    google_project_iam_member.worker_uses_queue,
  ]
}
