# cloud-tasks: the job queue is a Cloud Tasks queue. The ingress creates one
# task per job (named after its interaction, so a duplicate is refused);
# Cloud Tasks dispatches it to the worker's /tasks/run with an OIDC token
# for the push account, which the worker verifies as it verifies pushes.
#
# Unlike a push subscription it has no ordering keys (a user's burst may
# take several render slots at once) and no dead-letter topic: a task that
# failed max_attempts times is deleted, so the worker's last attempt
# (MAX_DELIVERY_ATTEMPTS, the same number) tells the user. Tasks carry no
# dispatch_deadline, so Cloud Tasks waits its default 10 minutes, longer
# than the worker's request timeout: it never retries a job still running.

resource "google_cloud_tasks_queue" "jobs" {
  count = local.cloud_tasks ? 1 : 0

  name     = "${var.name_prefix}-jobs"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.tasks_max_dispatches_per_second
    max_concurrent_dispatches = local.tasks_max_concurrent_dispatches
  }

  retry_config {
    max_attempts  = var.max_delivery_attempts
    min_backoff   = "${var.retry_minimum_backoff_secs}s"
    max_backoff   = "${var.retry_maximum_backoff_secs}s"
    max_doublings = var.tasks_max_doublings
  }

  depends_on = [google_project_service.apis]
}
