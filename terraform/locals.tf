# Names and values derived from the inputs, shared by several files.

locals {
  project_number = data.google_project.this.number

  # Which design (var.topology; docs/DEPLOY.md, Designs) decides which
  # resources exist: every design-specific resource has
  # `count = local.<one of these> ? 1 : 0`.
  #
  #   single         one public service (worker image, WORKER_ROLE=single)
  #   pubsub         ingress -> jobs topic -> push -> worker
  #   pubsub-split   ingress -> jobs topic -> push -> render worker
  #                  -> replies topic -> push -> replier
  #   cloud-tasks    ingress -> Cloud Tasks queue -> worker
  single      = var.topology == "single"
  split       = var.topology == "pubsub-split"
  cloud_tasks = var.topology == "cloud-tasks"
  # Two services, the ingress and a private worker (all but single).
  two_tier = !local.single
  # Jobs travel on the jobs topic and its push subscription.
  jobs_on_pubsub = local.two_tier && !local.cloud_tasks

  # The worker's role (WORKER_ROLE) in the two-tier designs.
  worker_role = local.split ? "render" : "all"

  ingress_service_name = "${var.name_prefix}-ingress"
  worker_service_name  = "${var.name_prefix}-worker"
  replier_service_name = "${var.name_prefix}-replier"
  single_service_name  = "${var.name_prefix}-bot"

  # The worker's URL, known before the service exists. Cloud Run gives every
  # service the deterministic address https://<service>-<project number>.<region>.run.app
  # (besides the older hashed one), and accepts ID tokens addressed to any of
  # its URLs. Computing it here breaks the cycle "the worker's PUSH_AUDIENCE
  # is the worker's own URL"; a postcondition on the worker checks that
  # Cloud Run really serves it under this address.
  worker_url  = "https://${local.worker_service_name}-${local.project_number}.${var.region}.run.app"
  replier_url = "https://${local.replier_service_name}-${local.project_number}.${var.region}.run.app"

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

  # cloud-tasks: the queue dispatches at most what the workers hold at once;
  # Cloud Run refuses more, and each refusal costs the task an attempt.
  tasks_max_concurrent_dispatches = coalesce(var.tasks_max_concurrent_dispatches, var.worker_max_instances * local.worker_concurrency)

  # The one public URL Discord calls: the ingress, or in single the one service.
  public_uri = local.single ? google_cloud_run_v2_service.single[0].uri : google_cloud_run_v2_service.ingress[0].uri

  # Pub/Sub's own service account, which moves undeliverable messages to
  # the dead-letter topic and mints the push OIDC tokens.
  pubsub_service_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Cloud Tasks' own service account, which mints the dispatches' OIDC tokens.
  cloudtasks_service_agent = "serviceAccount:service-${local.project_number}@gcp-sa-cloudtasks.iam.gserviceaccount.com"

  bucket_name = coalesce(var.bucket_name, "${var.project_id}-${var.name_prefix}-renders")

  # Images by digest: what runs is exactly what the release's build pushed
  # (tags are immutable too, but a digest cannot be re-pointed at all).
  image_registry = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  ingress_image  = "${local.image_registry}/mandala-ingress@${var.ingress_image_digest}"
  worker_image   = "${local.image_registry}/mandala-worker@${var.worker_image_digest}"

  # Every revision says which release it runs (a label value: lowercase
  # letters, digits, '_' and '-', at most 63).
  release_labels = {
    mandala-release = substr(replace(lower(var.image_tag), "/[^a-z0-9_-]/", "_"), 0, 63)
  }
}
