# The Cloud Run services. Which exist depends on var.topology (locals.tf);
# every one runs one of the two images, and its role comes from its
# environment.
#
# ingress (all but single): public, small and wide. It only checks a
#   signature, queues a job (Pub/Sub or Cloud Tasks) and answers, so one
#   vCPU serves hundreds of requests at once, and it may scale out far:
#   Discord must never see it time out.
# worker (all but single): private (only the push service account may
#   invoke it), bigger, one render per vCPU with a small waiting room of
#   pushes in front, and capped by worker_max_instances: the knob that
#   bounds what a flood of /mandala commands can cost. Jobs beyond the cap
#   wait in Pub/Sub or the Cloud Tasks queue. In pubsub-split it only
#   renders and stores (WORKER_ROLE=render), handing reply jobs on.
# replier (pubsub-split): private, thin; edits the Discord messages from
#   reply jobs (WORKER_ROLE=reply), sized and capped on its own.
# single (single): the worker image as the public interactions endpoint,
#   queueing jobs in its own process (WORKER_ROLE=single).
#
# Every setting is an environment variable the binary reads through its
# clap `Config`; the e2e test `terraform` checks each name set here against
# those definitions.
#
# Releases: every service runs its image by digest (locals.tf) and sends
# all traffic to its latest revision, so an apply is the whole rollout and
# undoes any traffic split made by hand (docs/DEPLOY.md, "Upgrading and
# rolling back"). Services roll in order, from the last stage to the
# first: the replier, then the worker, then the ingress, so that nothing
# ever hands a job to a stage older than itself.

resource "google_cloud_run_v2_service" "ingress" {
  count = local.two_tier ? 1 : 0

  name                = local.ingress_service_name
  location            = var.region
  description         = "Mandala Bot: Discord interactions endpoint"
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  # Discord has no Google credentials: Cloud Run's invoker check is off and
  # every request is authenticated by its Ed25519 signature instead. (No
  # allUsers binding, which domain-restricted sharing would refuse.)
  invoker_iam_disabled = true

  template {
    labels                           = local.release_labels
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
      # pubsub, pubsub-split: jobs are published to the jobs topic.
      dynamic "env" {
        for_each = local.jobs_on_pubsub ? ["PUBSUB_TOPIC"] : []
        content {
          name  = "PUBSUB_TOPIC"
          value = google_pubsub_topic.jobs[0].id
        }
      }
      # cloud-tasks: jobs become tasks, dispatched to the worker's
      # /tasks/run with an OIDC token for the push account, addressed to
      # the audience the worker verifies (its PUSH_AUDIENCE).
      dynamic "env" {
        for_each = local.cloud_tasks ? ["CLOUD_TASKS_QUEUE"] : []
        content {
          name  = "CLOUD_TASKS_QUEUE"
          value = google_cloud_tasks_queue.jobs[0].id
        }
      }
      dynamic "env" {
        for_each = local.cloud_tasks ? ["CLOUD_TASKS_URL"] : []
        content {
          name  = "CLOUD_TASKS_URL"
          value = "${local.worker_url}/tasks/run"
        }
      }
      dynamic "env" {
        for_each = local.cloud_tasks ? ["CLOUD_TASKS_SERVICE_ACCOUNT"] : []
        content {
          name  = "CLOUD_TASKS_SERVICE_ACCOUNT"
          value = google_service_account.push.email
        }
      }
      dynamic "env" {
        for_each = local.cloud_tasks ? ["CLOUD_TASKS_AUDIENCE"] : []
        content {
          name  = "CLOUD_TASKS_AUDIENCE"
          value = local.worker_url
        }
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

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.ingress_reads_public_key,
    google_pubsub_topic_iam_member.ingress_publishes_jobs,
    google_cloud_tasks_queue_iam_member.ingress_enqueues_jobs,
    google_service_account_iam_member.ingress_acts_as_push,
    google_service_account_iam_member.tasks_mint_push_tokens,
    google_project_iam_member.ingress_uses_queue,
    # The worker takes the new release's jobs before the ingress makes any.
    google_cloud_run_v2_service.worker,
  ]
}

resource "google_cloud_run_v2_service" "worker" {
  count = local.two_tier ? 1 : 0

  name        = local.worker_service_name
  location    = var.region
  description = "Mandala Bot: renders jobs pushed by Pub/Sub or dispatched by Cloud Tasks"
  # Pub/Sub pushes from inside Google's network; nothing else needs to reach it.
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    labels                           = local.release_labels
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
        # all: render, store and reply; render (pubsub-split): hand the
        # reply to the replier through the replies topic.
        name  = "WORKER_ROLE"
        value = local.worker_role
      }
      dynamic "env" {
        for_each = local.split ? ["REPLY_TOPIC"] : []
        content {
          name  = "REPLY_TOPIC"
          value = google_pubsub_topic.replies[0].id
        }
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
        # The last attempt tells the user instead of asking Pub/Sub (or
        # Cloud Tasks, whose queue has the same max_attempts) again.
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

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.worker_creates_renders,
    google_storage_bucket_iam_member.worker_reads_renders,
    google_project_iam_member.worker_uses_queue,
    google_pubsub_topic_iam_member.worker_publishes_replies,
    # pubsub-split: the replier takes the new release's reply jobs first.
    google_cloud_run_v2_service.replier,
  ]
}

# pubsub-split: the reply stage. It never renders: it reads the image the
# render worker stored, edits the Discord message and ends the job in the
# queue ledger. Small, many replies per instance (each waits on Cloud
# Storage and Discord), capped on its own so a slow Discord does not hold
# render slots.
resource "google_cloud_run_v2_service" "replier" {
  count = local.split ? 1 : 0

  name        = local.replier_service_name
  location    = var.region
  description = "Mandala Bot: edits Discord messages from reply jobs pushed by Pub/Sub"
  # Pub/Sub pushes from inside Google's network; nothing else needs to reach it.
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    labels                           = local.release_labels
    service_account                  = google_service_account.replier[0].email
    max_instance_request_concurrency = var.replier_concurrency
    timeout                          = "${local.worker_timeout_secs}s"

    scaling {
      min_instance_count = var.replier_min_instances
      max_instance_count = var.replier_max_instances
    }

    containers {
      name  = "replier"
      image = local.worker_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(var.replier_cpu)
          memory = var.replier_memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "WORKER_ROLE"
        value = "reply"
      }
      env {
        # Read only: the render worker stored the image.
        name  = "BUCKET"
        value = google_storage_bucket.renders.name
      }
      env {
        name  = "FIRESTORE_DATABASE"
        value = google_firestore_database.queue.id
      }
      env {
        # The reply subscription's max_delivery_attempts: the last attempt
        # tells the user instead of asking Pub/Sub again.
        name  = "MAX_DELIVERY_ATTEMPTS"
        value = tostring(var.max_delivery_attempts)
      }
      env {
        name  = "JOB_DEADLINE_SECS"
        value = tostring(var.job_deadline_secs)
      }
      env {
        name  = "PUSH_AUDIENCE"
        value = local.replier_url
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
    postcondition {
      condition     = contains(self.urls, local.replier_url)
      error_message = "Cloud Run does not list ${local.replier_url} among the replier's URLs (${join(", ", self.urls)}); the push audience would not match. Is name_prefix too long for a deterministic URL, or are default run.app URLs disabled?"
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.replier_reads_renders,
    google_project_iam_member.replier_uses_queue,
  ]
}

# single: one public service from the worker image that is the
# interactions endpoint, the queue and the worker (WORKER_ROLE=single). It
# reads the ingress's settings from the same environment and queues jobs
# in its own process, so it has no PUBSUB_TOPIC or CLOUD_TASKS_QUEUE.
#
# What it gives up: rendering has no cap of its own (the instances that
# answer Discord are the ones that render), and jobs still queued when an
# instance dies are lost (a graceful stop tells their users; a crash
# tells nobody).
resource "google_cloud_run_v2_service" "single" {
  count = local.single ? 1 : 0

  name                = local.single_service_name
  location            = var.region
  description         = "Mandala Bot: Discord interactions endpoint, queue and renderer in one"
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  # Public like the ingress: requests are authenticated by their signature.
  invoker_iam_disabled = true

  template {
    labels          = local.release_labels
    service_account = google_service_account.worker.email
    # Requests are Discord's interactions (cheap); renders run beside them,
    # RENDER_CONCURRENCY at a time.
    max_instance_request_concurrency = var.ingress_concurrency
    # Discord gives up after 3 s; an inline answer fits inside that.
    timeout = "10s"

    scaling {
      min_instance_count = var.worker_min_instances
      max_instance_count = var.worker_max_instances
    }

    containers {
      name  = "single"
      image = local.worker_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(var.worker_cpu)
          memory = var.worker_memory
        }
        # Jobs are rendered after the interaction is answered: the
        # instance needs its CPU between requests too.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "WORKER_ROLE"
        value = "single"
      }
      env {
        name  = "INLINE_RENDER_MAX_MS"
        value = tostring(var.inline_render_max_ms)
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
        # Shared by every instance: per-user caps and wait estimates hold
        # across instances.
        name  = "FIRESTORE_DATABASE"
        value = google_firestore_database.queue.id
      }
      env {
        # In-process deliveries of one job; the last tells the user.
        name  = "MAX_DELIVERY_ATTEMPTS"
        value = tostring(var.max_delivery_attempts)
      }
      env {
        name  = "JOB_DEADLINE_SECS"
        value = tostring(var.job_deadline_secs)
      }
      # The ingress's settings.
      env {
        name  = "DISCORD_APPLICATION_ID"
        value = var.discord_application_id
      }
      env {
        name  = "MAX_QUEUED_PER_USER"
        value = tostring(var.max_queued_per_user)
      }
      env {
        name = "DISCORD_PUBLIC_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.discord_public_key.secret_id
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

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.worker_creates_renders,
    google_storage_bucket_iam_member.worker_reads_renders,
    google_project_iam_member.worker_uses_queue,
    google_secret_manager_secret_iam_member.single_reads_public_key,
  ]
}
