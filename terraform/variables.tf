# Inputs. Every variable is typed, described and validated; the README's
# "Deployment" section lists them, and terraform.tfvars.example fills the
# required ones.

# ---------------------------------------------------------------- project

variable "project_id" {
  type        = string
  description = "The Google Cloud project to deploy into (its id, not its name or number)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region for Cloud Run, Artifact Registry, the bucket (unless bucket_location is set) and Cloud Scheduler."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (services, service accounts, topic, secrets). Keep it short: Cloud Run's deterministic URL needs <service>-<project number> to fit one DNS label."
  default     = "mandala"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-20 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "topology" {
  type        = string
  description = "The design (docs/DEPLOY.md, Designs): \"pubsub\" (ingress, Pub/Sub push, worker), \"single\" (one public service that answers Discord and renders), \"pubsub-split\" (ingress, render worker, reply topic, thin replier) or \"cloud-tasks\" (ingress, Cloud Tasks queue, worker). The same two images serve every design."
  default     = "pubsub"

  validation {
    condition     = contains(["single", "pubsub", "pubsub-split", "cloud-tasks"], var.topology)
    error_message = "topology must be one of single, pubsub, pubsub-split, cloud-tasks."
  }
}

# ---------------------------------------------------------------- release
#
# What runs: deploy/deploy.sh writes these three into release.auto.tfvars
# (git-ignored, read by every terraform command here), so a hand-run apply
# deploys the release last deployed, never whatever was built last. There
# are no defaults: without the file, plan stops and asks.

variable "image_tag" {
  type        = string
  description = "The release: the (immutable) tag both images were built under, e.g. the git commit. Recorded on every revision as the label mandala-release; the images themselves are deployed by digest."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a Docker tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-') naming one build, not latest."
  }
}

variable "ingress_image_digest" {
  type        = string
  description = "Digest (sha256:...) of the mandala-ingress image of the release, as the build pushed it. The ingress runs exactly this image."

  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.ingress_image_digest))
    error_message = "ingress_image_digest must be an image digest: sha256: and 64 lowercase hex digits."
  }
}

variable "worker_image_digest" {
  type        = string
  description = "Digest (sha256:...) of the mandala-worker image of the release. The worker, the replier and the single service run exactly this image."

  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.worker_image_digest))
    error_message = "worker_image_digest must be an image digest: sha256: and 64 lowercase hex digits."
  }
}

variable "image_keep_count" {
  type        = number
  description = "Artifact Registry keeps this many most recent versions of each image and deletes older ones (storage costs money)."
  default     = 10

  validation {
    condition     = var.image_keep_count >= 1 && var.image_keep_count <= 100 && floor(var.image_keep_count) == var.image_keep_count
    error_message = "image_keep_count must be a whole number from 1 to 100."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the two Cloud Run services from `terraform destroy`. They hold no data, so it is off by default."
  default     = false
}

# ---------------------------------------------------------------- Discord

variable "discord_application_id" {
  type        = string
  description = "The Discord application id (Developer Portal, General Information). The ingress rejects interactions for any other application."

  validation {
    condition     = can(regex("^[0-9]{17,20}$", var.discord_application_id))
    error_message = "discord_application_id must be a Discord snowflake: 17-20 digits."
  }
}

variable "discord_public_key" {
  type        = string
  description = "The application's Ed25519 public key, 64 hex digits (Developer Portal, General Information). Stored in Secret Manager."
  sensitive   = true

  validation {
    condition     = can(regex("^[0-9a-fA-F]{64}$", var.discord_public_key))
    error_message = "discord_public_key must be 64 hex digits."
  }
}

variable "discord_bot_token" {
  type        = string
  description = "The bot token (Developer Portal, Bot), used only by `mandala register-commands`. When set it is stored in Secret Manager (write-only: not in Terraform's state) so deploy.sh can read it back; null leaves the secret empty."
  sensitive   = true
  default     = null

  validation {
    condition     = var.discord_bot_token == null ? true : can(regex("^[A-Za-z0-9_.-]{50,120}$", var.discord_bot_token))
    error_message = "discord_bot_token must be a bot token (three dot-separated base64url parts), or null."
  }
}

# ---------------------------------------------------------------- Pub/Sub

variable "job_deadline_secs" {
  type        = number
  description = "Everything one push to the worker may take, in seconds (the worker's JOB_DEADLINE_SECS). The push subscription's ack deadline is 10 s above it and the worker's request timeout 5 s above it."
  default     = 50

  validation {
    condition     = var.job_deadline_secs >= 10 && var.job_deadline_secs <= 590 && floor(var.job_deadline_secs) == var.job_deadline_secs
    error_message = "job_deadline_secs must be a whole number from 10 to 590 (Pub/Sub's ack deadline, 10 s above it, is at most 600 s)."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one job before Pub/Sub moves it to the dead-letter topic (also the reply topic's, in pubsub-split, and the Cloud Tasks queue's max_attempts, in cloud-tasks). The worker's MAX_DELIVERY_ATTEMPTS: the last attempt tells the user."
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number from 5 to 100 (Pub/Sub's limits)."
  }
}

variable "retry_minimum_backoff_secs" {
  type        = number
  description = "Shortest wait before Pub/Sub (or, in cloud-tasks, Cloud Tasks) redelivers a job the worker did not acknowledge (exponential backoff starts here)."
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_secs >= 0 && var.retry_minimum_backoff_secs <= 600
    error_message = "retry_minimum_backoff_secs must be from 0 to 600."
  }
}

variable "retry_maximum_backoff_secs" {
  type        = number
  description = "Longest wait between redeliveries of one job (Pub/Sub's maximum_backoff, Cloud Tasks' max_backoff)."
  default     = 300

  validation {
    condition     = var.retry_maximum_backoff_secs >= var.retry_minimum_backoff_secs && var.retry_maximum_backoff_secs <= 600
    error_message = "retry_maximum_backoff_secs must be at least retry_minimum_backoff_secs and at most 600."
  }
}

# ---------------------------------------------------------------- bucket

variable "bucket_name" {
  type        = string
  description = "Name of the bucket for rendered images; null means \"<project_id>-<name_prefix>-renders\"."
  default     = null

  validation {
    condition     = var.bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit."
  }
}

variable "bucket_location" {
  type        = string
  description = "Location of the bucket; null means the region. A multi-region (US, EU) costs more and is slower to write from one region."
  default     = null

  validation {
    condition     = var.bucket_location == null ? true : can(regex("^[A-Za-z0-9-]+$", var.bucket_location))
    error_message = "bucket_location must be a location such as us-central1, US or EU."
  }
}

variable "render_retention_days" {
  type        = number
  description = "Rendered images older than this are deleted by a lifecycle rule (Discord keeps its own copy of every posted image)."
  default     = 30

  validation {
    condition     = var.render_retention_days >= 1 && var.render_retention_days <= 3650 && floor(var.render_retention_days) == var.render_retention_days
    error_message = "render_retention_days must be a whole number from 1 to 3650."
  }
}

variable "bucket_public_read" {
  type        = bool
  description = "Let anyone read the rendered images (for a public gallery). Off by default: the worker attaches the image to the Discord message, so nothing needs the bucket to be public."
  default     = false
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the bucket with the images still in it."
  default     = false
}

# ---------------------------------------------------------------- ingress

variable "ingress_cpu" {
  type        = number
  description = "vCPUs of one ingress instance. It only verifies a signature and publishes, so one is plenty."
  default     = 1

  validation {
    condition     = contains([1, 2], var.ingress_cpu)
    error_message = "ingress_cpu must be 1 or 2."
  }
}

variable "ingress_memory" {
  type        = string
  description = "Memory of one ingress instance (Cloud Run syntax, e.g. 256Mi)."
  default     = "256Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.ingress_memory))
    error_message = "ingress_memory must be a size such as 256Mi or 1Gi."
  }
}

variable "ingress_concurrency" {
  type        = number
  description = "Requests one ingress instance serves at once. Each costs microseconds of CPU and then waits on Pub/Sub, so this can be high."
  default     = 200

  validation {
    condition     = var.ingress_concurrency >= 1 && var.ingress_concurrency <= 1000 && floor(var.ingress_concurrency) == var.ingress_concurrency
    error_message = "ingress_concurrency must be a whole number from 1 to 1000."
  }
}

variable "ingress_min_instances" {
  type        = number
  description = "Ingress instances kept warm. 0 scales to zero (no cost at idle, a cold start of tens of milliseconds on the first request); 1 removes cold starts for about the price of a small always-on VM."
  default     = 0

  validation {
    condition     = var.ingress_min_instances >= 0 && var.ingress_min_instances <= 100 && floor(var.ingress_min_instances) == var.ingress_min_instances
    error_message = "ingress_min_instances must be a whole number from 0 to 100."
  }
}

variable "ingress_max_instances" {
  type        = number
  description = "Upper bound of ingress instances: the cap on what a flood of junk requests can cost. One instance answers thousands of interactions a second (docs/BENCHMARKS.md, Ingress), so 10 is far beyond any Discord bot's traffic; raise it only with measured need."
  default     = 10

  validation {
    condition     = var.ingress_max_instances >= 1 && var.ingress_max_instances <= 1000 && var.ingress_max_instances >= var.ingress_min_instances && floor(var.ingress_max_instances) == var.ingress_max_instances
    error_message = "ingress_max_instances must be a whole number from 1 to 1000 and at least ingress_min_instances."
  }
}

# ---------------------------------------------------------------- worker

variable "worker_cpu" {
  type        = number
  description = "vCPUs of one worker instance (in single, of the one service). The worker renders this many images at once (RENDER_CONCURRENCY); it holds worker_jobs_per_cpu times as many pushes."
  default     = 2

  validation {
    condition     = contains([1, 2, 4, 6, 8], var.worker_cpu)
    error_message = "worker_cpu must be 1, 2, 4, 6 or 8."
  }
}

variable "worker_memory" {
  type        = string
  description = "Memory of one worker instance (Cloud Run syntax). One render of the largest spec (4096 px, 12 layers x 32 elements) peaks at 180 MiB (PNG) to 220 MiB (WebP) on its own; a worker busy with such jobs measured up to 530 MiB with 1 vCPU, 680 MiB with 2 and 1080 MiB with 4 (freed memory stays with the render threads), so give it at least 512Mi + 256Mi per vCPU: 1Gi for the default 2. Cloud Run also needs 2Gi with 4 vCPUs and 4Gi with 6 or 8. Measurements: docs/BENCHMARKS.md."
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.worker_memory))
    error_message = "worker_memory must be a size such as 512Mi or 2Gi."
  }

  validation {
    condition     = try(tonumber(regex("^[0-9]+", var.worker_memory)) * (endswith(var.worker_memory, "Gi") ? 1024 : 1), 0) >= max(512 + 256 * var.worker_cpu, lookup({ "4" = 2048, "6" = 4096, "8" = 4096 }, tostring(var.worker_cpu), 512))
    error_message = "worker_memory is too small for worker_cpu: a worker renders worker_cpu of the largest images at once and needs 512Mi + 256Mi per vCPU (768Mi with 1, 1Gi with 2; docs/BENCHMARKS.md), and Cloud Run needs 2Gi with 4 vCPUs and 4Gi with 6 or 8."
  }
}

variable "worker_jobs_per_cpu" {
  type        = number
  description = "Pushes a worker instance holds per vCPU (its Cloud Run request concurrency is worker_cpu times this; it renders worker_cpu at once). Above 1, the worker sees several users' jobs and serves them in turn."
  default     = 4

  validation {
    condition     = var.worker_jobs_per_cpu >= 1 && var.worker_jobs_per_cpu <= 16 && floor(var.worker_jobs_per_cpu) == var.worker_jobs_per_cpu
    error_message = "worker_jobs_per_cpu must be a whole number in 1..16."
  }
}

variable "worker_min_instances" {
  type        = number
  description = "Worker instances kept warm (in single, instances of the one service). 0 scales to zero."
  default     = 0

  validation {
    condition     = var.worker_min_instances >= 0 && var.worker_min_instances <= 100 && floor(var.worker_min_instances) == var.worker_min_instances
    error_message = "worker_min_instances must be a whole number from 0 to 100."
  }
}

variable "worker_max_instances" {
  type        = number
  description = "Upper bound of worker instances: the cost cap. Jobs beyond worker_max_instances x worker_cpu renders at once wait in Pub/Sub (or the Cloud Tasks queue) and are retried with backoff. In single it caps the one service, which answers Discord too: keep it high enough for the traffic."
  default     = 5

  validation {
    condition     = var.worker_max_instances >= 1 && var.worker_max_instances <= 1000 && var.worker_max_instances >= var.worker_min_instances && floor(var.worker_max_instances) == var.worker_max_instances
    error_message = "worker_max_instances must be a whole number from 1 to 1000 and at least worker_min_instances."
  }
}

# ---------------------------------------------------------------- single (topology = "single")

variable "inline_render_max_ms" {
  type        = number
  description = "topology single: answer an interaction with the image itself when its render is predicted to take at most this many milliseconds and a render slot is free (the worker's INLINE_RENDER_MAX_MS); 0 turns it off."
  default     = 250

  validation {
    condition     = var.inline_render_max_ms >= 0 && var.inline_render_max_ms <= 1500 && floor(var.inline_render_max_ms) == var.inline_render_max_ms
    error_message = "inline_render_max_ms must be a whole number from 0 to 1500."
  }
}

# ---------------------------------------------------------------- replier (topology = "pubsub-split")

variable "replier_cpu" {
  type        = number
  description = "topology pubsub-split: vCPUs of one replier instance. It only reads a stored image and edits a Discord message."
  default     = 1

  validation {
    condition     = contains([1, 2], var.replier_cpu)
    error_message = "replier_cpu must be 1 or 2."
  }
}

variable "replier_memory" {
  type        = string
  description = "topology pubsub-split: memory of one replier instance (Cloud Run syntax). Each reply in flight holds one image (up to Discord's upload limit)."
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.replier_memory))
    error_message = "replier_memory must be a size such as 512Mi or 1Gi."
  }
}

variable "replier_concurrency" {
  type        = number
  description = "topology pubsub-split: reply jobs one replier instance handles at once; each mostly waits on Cloud Storage and Discord."
  default     = 16

  validation {
    condition     = var.replier_concurrency >= 1 && var.replier_concurrency <= 1000 && floor(var.replier_concurrency) == var.replier_concurrency
    error_message = "replier_concurrency must be a whole number from 1 to 1000."
  }
}

variable "replier_min_instances" {
  type        = number
  description = "topology pubsub-split: replier instances kept warm. 0 scales to zero."
  default     = 0

  validation {
    condition     = var.replier_min_instances >= 0 && var.replier_min_instances <= 100 && floor(var.replier_min_instances) == var.replier_min_instances
    error_message = "replier_min_instances must be a whole number from 0 to 100."
  }
}

variable "replier_max_instances" {
  type        = number
  description = "topology pubsub-split: upper bound of replier instances, capped separately from the render workers. Reply jobs beyond replier_max_instances x replier_concurrency wait in Pub/Sub."
  default     = 3

  validation {
    condition     = var.replier_max_instances >= 1 && var.replier_max_instances <= 1000 && var.replier_max_instances >= var.replier_min_instances && floor(var.replier_max_instances) == var.replier_max_instances
    error_message = "replier_max_instances must be a whole number from 1 to 1000 and at least replier_min_instances."
  }
}

# ---------------------------------------------------------------- Cloud Tasks (topology = "cloud-tasks")

variable "tasks_max_dispatches_per_second" {
  type        = number
  description = "topology cloud-tasks: the queue's rate_limits.max_dispatches_per_second, tasks started per second at most."
  default     = 20

  validation {
    condition     = var.tasks_max_dispatches_per_second > 0 && var.tasks_max_dispatches_per_second <= 500
    error_message = "tasks_max_dispatches_per_second must be above 0 and at most 500 (Cloud Tasks' limit)."
  }
}

variable "tasks_max_concurrent_dispatches" {
  type        = number
  description = "topology cloud-tasks: the queue's rate_limits.max_concurrent_dispatches; null means what the workers can hold (worker_max_instances x worker_cpu x worker_jobs_per_cpu). More would be refused by Cloud Run, and every refusal costs the task an attempt."
  default     = null

  validation {
    condition     = var.tasks_max_concurrent_dispatches == null ? true : (var.tasks_max_concurrent_dispatches >= 1 && var.tasks_max_concurrent_dispatches <= 5000 && floor(var.tasks_max_concurrent_dispatches) == var.tasks_max_concurrent_dispatches)
    error_message = "tasks_max_concurrent_dispatches must be null or a whole number from 1 to 5000."
  }

  validation {
    condition     = var.tasks_max_concurrent_dispatches == null ? true : var.tasks_max_concurrent_dispatches <= var.worker_max_instances * var.worker_cpu * var.worker_jobs_per_cpu
    error_message = "tasks_max_concurrent_dispatches must not exceed what the workers hold (worker_max_instances x worker_cpu x worker_jobs_per_cpu): Cloud Run would refuse the rest, and each refusal costs the task one of its max_delivery_attempts."
  }
}

variable "tasks_max_doublings" {
  type        = number
  description = "topology cloud-tasks: the queue's retry_config.max_doublings: how often the wait between attempts doubles from retry_minimum_backoff_secs before it grows linearly up to retry_maximum_backoff_secs. (max_attempts is max_delivery_attempts.)"
  default     = 5

  validation {
    condition     = var.tasks_max_doublings >= 0 && var.tasks_max_doublings <= 16 && floor(var.tasks_max_doublings) == var.tasks_max_doublings
    error_message = "tasks_max_doublings must be a whole number from 0 to 16."
  }
}

# ---------------------------------------------------------------- mandala of the day

variable "max_queued_per_user" {
  type        = number
  description = "Jobs one user may have waiting or rendering at once (button clicks count); beyond, they are told privately. 0 means no limit."
  default     = 5

  validation {
    condition     = var.max_queued_per_user >= 0 && var.max_queued_per_user <= 1000 && floor(var.max_queued_per_user) == var.max_queued_per_user
    error_message = "max_queued_per_user must be a whole number in 0..1000."
  }
}

variable "queue_database_location" {
  type        = string
  description = "Location of the queue ledger's Firestore database (a region such as us-central1, or a multi-region such as nam5); default: the region."
  default     = null

  validation {
    condition     = var.queue_database_location == null ? true : can(regex("^[a-z]+[0-9]*(-[a-z]+[0-9]+)?$", var.queue_database_location))
    error_message = "queue_database_location must be a Firestore location id such as us-central1 or nam5."
  }
}

variable "daily_mandala_enabled" {
  type        = bool
  description = "Create a Cloud Scheduler job that publishes a \"mandala of the day\" job posting to daily_mandala_webhook_url. Needs a jobs topic: topology pubsub or pubsub-split."
  default     = false

  validation {
    condition     = !var.daily_mandala_enabled || contains(["pubsub", "pubsub-split"], var.topology)
    error_message = "daily_mandala_enabled needs the jobs topic, which only topology pubsub and pubsub-split have."
  }
}

variable "daily_mandala_webhook_url" {
  type        = string
  description = "Discord channel webhook URL the mandala of the day is posted to (channel settings, Integrations, Webhooks). Required when daily_mandala_enabled. Stored in Secret Manager (write-only: not in Terraform's state); the Scheduler's job names the secret, never the URL."
  sensitive   = true
  default     = null

  validation {
    condition     = var.daily_mandala_webhook_url == null ? !var.daily_mandala_enabled : can(regex("^https://(discord\\.com|discordapp\\.com|ptb\\.discord\\.com|canary\\.discord\\.com)/api/webhooks/[0-9]+/[A-Za-z0-9_-]+$", var.daily_mandala_webhook_url))
    error_message = "daily_mandala_webhook_url must be a Discord webhook URL (https://discord.com/api/webhooks/ID/TOKEN), and is required when daily_mandala_enabled is true."
  }
}

variable "daily_mandala_schedule" {
  type        = string
  description = "When the mandala of the day is posted, as a cron expression (five fields) in daily_mandala_time_zone."
  default     = "0 9 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.daily_mandala_schedule))) == 5
    error_message = "daily_mandala_schedule must be a five-field cron expression such as \"0 9 * * *\"."
  }
}

variable "daily_mandala_time_zone" {
  type        = string
  description = "IANA time zone of daily_mandala_schedule."
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.daily_mandala_time_zone))
    error_message = "daily_mandala_time_zone must be an IANA time zone such as Etc/UTC or Europe/Berlin."
  }
}

variable "daily_mandala_spec" {
  type        = string
  description = "Render spec of the mandala of the day, as JSON (the job's \"spec\"); options left out are chosen at random every day."
  default     = "{\"size\":1024}"

  validation {
    condition     = can(keys(jsondecode(var.daily_mandala_spec)))
    error_message = "daily_mandala_spec must be a JSON object, e.g. {\"size\":1024,\"palette\":\"ocean\"}."
  }
}

# ---------------------------------------------------------------- monitoring

variable "alert_emails" {
  type        = list(string)
  description = "E-mail addresses the alert policies (and the budget) notify. Empty: the policies still open incidents in Cloud Monitoring, but notify no one (the output alert_notifications says so)."
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", e))])
    error_message = "alert_emails must be e-mail addresses."
  }
}

variable "alerts_enabled" {
  type        = bool
  description = "Create the alert policies (monitoring.tf). Cloud Monitoring bills each alert condition by the month (13 to 17 conditions, by design; docs/DEPLOY.md, Cost knobs); false keeps the log-based metrics, the dashboard, the SLOs and the uptime check and pages nobody."
  default     = true
}

variable "runbook_url" {
  type        = string
  description = "Where the runbooks (docs/OPERATIONS.md) are read: every alert's documentation links a section of it. Point it at your fork."
  default     = "https://github.com/mandala-bot/mandala-bot/blob/main/docs/OPERATIONS.md"

  validation {
    condition     = can(regex("^https://[^#[:space:]]+$", var.runbook_url))
    error_message = "runbook_url must be an https:// URL without a #fragment (each alert adds its section's)."
  }
}

variable "rejected_log_sample" {
  type        = number
  description = "Share of the log lines of rejected requests (4xx from the interactions endpoint: unsigned, stale, replayed) that is kept; the rest is excluded from ingestion, which is billed. Log-based metrics still count every one. 1 keeps them all."
  default     = 0.01

  validation {
    condition     = var.rejected_log_sample > 0 && var.rejected_log_sample <= 1
    error_message = "rejected_log_sample must be above 0 and at most 1."
  }
}

variable "budget_billing_account" {
  type        = string
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for an optional monthly budget on this project; with budget_monthly_amount. The deployer needs Billing Account Costs Manager on it."
  default     = null

  validation {
    condition     = var.budget_billing_account == null ? true : can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.budget_billing_account))
    error_message = "budget_billing_account must be a billing account id such as 012345-6789AB-CDEF01, or null."
  }
}

variable "budget_monthly_amount" {
  type        = number
  description = "The monthly budget, in the billing account's currency: alerts at 50%, 90% and 100% of it and when the forecast passes it. Null: no budget."
  default     = null

  validation {
    condition     = (var.budget_monthly_amount == null) == (var.budget_billing_account == null) && (var.budget_monthly_amount == null ? true : var.budget_monthly_amount >= 1 && floor(var.budget_monthly_amount) == var.budget_monthly_amount)
    error_message = "budget_monthly_amount must be a whole amount of at least 1, set together with budget_billing_account (or both null)."
  }
}
