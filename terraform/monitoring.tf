# The operator's console, in every design: log-based metrics from the
# services' own lines, alert policies that page for what hurts users (each
# with a runbook in docs/OPERATIONS.md), an SLO on the interactions
# endpoint with burn-rate alerts, an uptime check, a dashboard, an
# optional billing budget, and an exclusion that keeps the noise of
# rejected requests out of the paid logs.
#
# The log filters use a small documented subset of the Logging query
# language (docs/OPERATIONS.md, "Log filters"): comparisons joined by AND,
# OR inside parentheses only, NOT, and sample() in exclusions. The e2e
# test `log_metrics` runs the real binaries, collects their JSON lines for
# a normal, a refused, a failed and a dead-lettered job, and checks that
# every filter here matches the lines it should and no others; the
# `terraform` test refuses a filter outside the subset, and an alert whose
# documentation does not link a runbook heading that exists.

locals {
  # Every service of every design, by name: a design switch changes no
  # filter. (tracing-stackdriver writes field names in camelCase:
  # told_user is jsonPayload.toldUser.)
  services_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=~\"^${var.name_prefix}-(ingress|worker|replier|bot)$\""
  # One line per request to /interactions (the ingress, or the single
  # service), and one per job (worker, replier, single service).
  interaction_lines = "${local.services_filter} AND jsonPayload.message=\"interaction\" AND jsonPayload.outcome:*"
  job_lines         = "${local.services_filter} AND jsonPayload.message=~\"^job \" AND jsonPayload.outcome:*"

  # Discord's public endpoint in this design, and the service that renders.
  public_service_name = local.single ? local.single_service_name : local.ingress_service_name
  render_service_name = local.single ? local.single_service_name : local.worker_service_name

  # Monitoring filters (not Logging's) on Cloud Run's own metrics.
  public_service_metrics = "resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.public_service_name}\""
  jobs_metric            = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.jobs.name}\" AND resource.type=\"cloud_run_revision\""

  # Outcomes of a job that ended without its image, whoever was told.
  imageless_outcomes = ["render_failed", "gave_up", "reply_dropped", "reply_unknown", "expired", "out_of_time", "dead_letter_told", "dead_letter_logged"]

  # An interaction token lives 15 minutes. A job still queued at 10 has 5
  # left: a few attempts of job_deadline_secs, then the last word. Past
  # that, users are about to get nothing at all.
  stale_queue_secs = 600

  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]
}

# ---------------------------------------------------------------- who is told

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  display_name = "Mandala Bot on call: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- log-based metrics

# Every job's one line (docs/OPERATIONS.md, "When a job cannot finish"):
# outcomes per design, whether the user was told, why a job was retried
# or given up, renders (no cache hit) and dead letters.
resource "google_logging_metric" "jobs" {
  name        = "${var.name_prefix}/jobs"
  description = "Jobs ended or retried, from each job's log line, by outcome, design, whether the user was told, reason, cache hit and dead letter."
  filter      = local.job_lines

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "outcome"
      description = "replied, stored, handed_off, answered_inline, redeliver, rejected, expired, cancelled, abandoned, out_of_time, render_failed, gave_up, reply_dropped, reply_unknown, dead_letter_told, dead_letter_logged"
    }
    labels {
      key         = "design"
      description = "single, pubsub, pubsub-split or cloud-tasks"
    }
    labels {
      key         = "told_user"
      description = "true when a last word replaced the image"
    }
    labels {
      key         = "reason"
      description = "what kept failing, for redeliver and gave_up: store, discord, slow or upgrade"
    }
    labels {
      key         = "cache_hit"
      description = "false when the image was rendered, true when it was found stored"
    }
    labels {
      key         = "dead_letter"
      description = "true for dead letters"
    }
  }

  label_extractors = {
    outcome     = "EXTRACT(jsonPayload.outcome)"
    design      = "EXTRACT(jsonPayload.design)"
    told_user   = "EXTRACT(jsonPayload.toldUser)"
    reason      = "EXTRACT(jsonPayload.reason)"
    cache_hit   = "EXTRACT(jsonPayload.cacheHit)"
    dead_letter = "EXTRACT(jsonPayload.deadLetter)"
  }

  depends_on = [google_project_service.apis]
}

# Every interaction's one line: what Discord got.
resource "google_logging_metric" "interactions" {
  name        = "${var.name_prefix}/interactions"
  description = "Interactions answered, from the interactions endpoint's log line, by outcome."
  filter      = local.interaction_lines

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "outcome"
      description = "queued, pong, answered_inline, a refusal (invalid spec, per-user cap) or a rejection (bad_signature, stale, replay, ...)"
    }
  }

  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
  }

  depends_on = [google_project_service.apis]
}

# How long the endpoint took to answer, inside the process (Cloud Run's
# request_latencies adds cold starts and the front end).
resource "google_logging_metric" "answer_latency" {
  name            = "${var.name_prefix}/answer_latency"
  description     = "Time the interactions endpoint spent on each request, in microseconds (jsonPayload.latencyUs)."
  filter          = local.interaction_lines
  value_extractor = "EXTRACT(jsonPayload.latencyUs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "us"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 50
    }
  }

  depends_on = [google_project_service.apis]
}

# The wait each queued user was promised (CAPACITY.md).
resource "google_logging_metric" "promised_wait" {
  name            = "${var.name_prefix}/promised_wait"
  description     = "The wait promised to each queued interaction at admission, in milliseconds (jsonPayload.waitMs)."
  filter          = "${local.interaction_lines} AND jsonPayload.waitMs:*"
  value_extractor = "EXTRACT(jsonPayload.waitMs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 100
    }
  }

  depends_on = [google_project_service.apis]
}

# How much later than promised each admitted job ended (negative: early):
# the error of the wait estimate.
resource "google_logging_metric" "estimate_error" {
  name            = "${var.name_prefix}/estimate_error"
  description     = "How much later than promised each admitted job ended, in milliseconds (jsonPayload.lateMs; negative is early)."
  filter          = "${local.job_lines} AND jsonPayload.lateMs:*"
  value_extractor = "EXTRACT(jsonPayload.lateMs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
  }

  bucket_options {
    explicit_buckets {
      bounds = [-300000, -60000, -30000, -10000, -5000, -2000, -1000, 0, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 900000]
    }
  }

  depends_on = [google_project_service.apis]
}

# The queue ledger (Firestore) failing: admission goes on without caps
# and estimates, workers without marking jobs started or ended.
resource "google_logging_metric" "ledger_unavailable" {
  name        = "${var.name_prefix}/ledger_unavailable"
  description = "Lines saying the queue ledger was unavailable (ingress admission, worker start marks)."
  filter      = "${local.services_filter} AND severity>=WARNING AND jsonPayload.message:\"queue ledger unavailable\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

# Each 429 Discord answered appears in exactly one line: the retry it
# waited out, or the job line of the delivery it could not wait for.
resource "google_logging_metric" "discord_rate_limited" {
  name        = "${var.name_prefix}/discord_rate_limited"
  description = "Discord answers 429 Too Many Requests (waited out or sent back for redelivery)."
  filter      = "${local.services_filter} AND jsonPayload.message:\"429 Too Many Requests\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- the noise of rejected requests

# Every unsigned, stale or replayed request to the public endpoint writes
# an app line and a Cloud Run request log entry, and logs are billed by the
# GiB ingested. Keep a sample (rejected_log_sample) of both; log-based
# metrics still count every line (they are computed before exclusions).
resource "google_logging_project_exclusion" "rejected_interactions" {
  count = var.rejected_log_sample < 1 ? 1 : 0

  name        = "${var.name_prefix}-rejected-interactions"
  description = "Mandala Bot: keep ${var.rejected_log_sample * 100}% of the interactions endpoint's lines for rejected requests (4xx)."
  filter      = "${local.interaction_lines} AND jsonPayload.status>=400 AND jsonPayload.status<500 AND sample(insertId, ${1 - var.rejected_log_sample})"

  depends_on = [google_project_service.apis]
}

resource "google_logging_project_exclusion" "rejected_requests" {
  count = var.rejected_log_sample < 1 ? 1 : 0

  name        = "${var.name_prefix}-rejected-requests"
  description = "Mandala Bot: keep ${var.rejected_log_sample * 100}% of Cloud Run's request log entries for 4xx answers of the interactions endpoint."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.public_service_name}\" AND logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\" AND httpRequest.status>=400 AND httpRequest.status<500 AND sample(insertId, ${1 - var.rejected_log_sample})"

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- alerts
#
# Cloud Monitoring bills alert policies by condition (docs/DEPLOY.md,
# Cost knobs); alerts_enabled = false drops them all and keeps the rest.

# Pub/Sub (or the single service's own queue) gave up on a job: every
# delivery failed without the worker answering. (cloud-tasks has no dead
# letters: its last attempt ends as gave_up.)
resource "google_monitoring_alert_policy" "dead_letters" {
  count = var.alerts_enabled && !local.cloud_tasks ? 1 : 0

  display_name          = "${var.name_prefix}: dead letters arriving"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "Dead letters in the last 10 minutes"
    condition_threshold {
      filter          = "${local.jobs_metric} AND metric.label.dead_letter=\"true\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: jobs dead-lettered"
    mime_type = "text/markdown"
    content   = "Jobs failed every delivery attempt without the worker answering (crashes, timeouts); their users were told, or their tokens had expired. Runbook: docs/OPERATIONS.md#dead-letters-arriving"
    links {
      display_name = "Runbook: dead letters arriving"
      url          = "${var.runbook_url}#dead-letters-arriving"
    }
  }
}

# Jobs wait longer than an interaction token lives: users get nothing.
resource "google_monitoring_alert_policy" "stale_queue" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: jobs waiting longer than a token lives"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels

  # pubsub, pubsub-split: the oldest job (and reply job) not yet acknowledged.
  dynamic "conditions" {
    for_each = local.jobs_on_pubsub ? ["jobs"] : []
    content {
      display_name = "Oldest unacknowledged job older than ${local.stale_queue_secs} s"
      condition_threshold {
        filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.worker_push[0].name}\""
        comparison      = "COMPARISON_GT"
        threshold_value = local.stale_queue_secs
        duration        = "60s"
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
      }
    }
  }

  dynamic "conditions" {
    for_each = local.split ? ["replies"] : []
    content {
      display_name = "Oldest unacknowledged reply job older than ${local.stale_queue_secs} s"
      condition_threshold {
        filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.replier_push[0].name}\""
        comparison      = "COMPARISON_GT"
        threshold_value = local.stale_queue_secs
        duration        = "60s"
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
      }
    }
  }

  # Every design: jobs that reached a worker after their token expired.
  conditions {
    display_name = "Jobs expired before they were rendered"
    condition_threshold {
      filter          = "${local.jobs_metric} AND metric.label.outcome=\"expired\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: jobs outlive their interaction tokens"
    mime_type = "text/markdown"
    content   = "Jobs have waited ${local.stale_queue_secs} s or more, or reached a worker after their token expired: their users will see \"Rendering...\" and then nothing. Runbook: docs/OPERATIONS.md#jobs-waiting-longer-than-a-token-lives"
    links {
      display_name = "Runbook: jobs waiting longer than a token lives"
      url          = "${var.runbook_url}#jobs-waiting-longer-than-a-token-lives"
    }
  }
}

resource "google_monitoring_alert_policy" "answers_5xx" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: interactions answered with 5xx"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels

  conditions {
    display_name = "More than 1% of requests to ${local.public_service_name} answered 5xx over 5 minutes"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND ${local.public_service_metrics} AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.public_service_metrics}"
      comparison         = "COMPARISON_GT"
      threshold_value    = 0.01
      duration           = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: the interactions endpoint answers 5xx"
    mime_type = "text/markdown"
    content   = "Discord gets server errors: users see \"The application did not respond\". Runbook: docs/OPERATIONS.md#interactions-answered-with-5xx"
    links {
      display_name = "Runbook: interactions answered with 5xx"
      url          = "${var.runbook_url}#interactions-answered-with-5xx"
    }
  }
}

resource "google_monitoring_alert_policy" "answers_slow" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: interactions answered slowly"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "99th percentile answer from ${local.public_service_name} above 2.5 s for 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.public_service_metrics}"
      comparison      = "COMPARISON_GT"
      threshold_value = 2500
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: interactions answered close to Discord's 3 s"
    mime_type = "text/markdown"
    content   = "Answers take longer than 2.5 s at the front end; past 3 s Discord shows \"The application did not respond\". Runbook: docs/OPERATIONS.md#interactions-answered-slowly"
    links {
      display_name = "Runbook: interactions answered slowly"
      url          = "${var.runbook_url}#interactions-answered-slowly"
    }
  }
}

resource "google_monitoring_alert_policy" "workers_at_cap" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: workers at their instance cap"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${local.render_service_name} at worker_max_instances (${var.worker_max_instances}) for 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.render_service_name}\""
      comparison      = "COMPARISON_GE"
      threshold_value = var.worker_max_instances
      duration        = "600s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  dynamic "conditions" {
    for_each = local.split ? ["replier"] : []
    content {
      display_name = "${local.replier_service_name} at replier_max_instances (${var.replier_max_instances}) for 10 minutes"
      condition_threshold {
        filter          = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.replier_service_name}\""
        comparison      = "COMPARISON_GE"
        threshold_value = var.replier_max_instances
        duration        = "600s"
        aggregations {
          alignment_period     = "60s"
          per_series_aligner   = "ALIGN_MAX"
          cross_series_reducer = "REDUCE_SUM"
        }
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: rendering at its cost cap"
    mime_type = "text/markdown"
    content   = "Every worker instance allowed is busy: users take turns and waits grow. Runbook: docs/OPERATIONS.md#workers-at-their-instance-cap"
    links {
      display_name = "Runbook: workers at their instance cap"
      url          = "${var.runbook_url}#workers-at-their-instance-cap"
    }
  }
}

# Cloud Run's own line when it kills an instance over its memory limit.
resource "google_monitoring_alert_policy" "out_of_memory" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: out-of-memory kills"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "An instance exceeded its memory limit"
    condition_matched_log {
      filter = "${local.services_filter} AND logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fvarlog%2Fsystem\" AND textPayload:\"Memory limit of\""
    }
  }

  alert_strategy {
    auto_close = "1800s"
    notification_rate_limit {
      period = "3600s"
    }
  }

  documentation {
    subject   = "Mandala Bot: an instance was killed for memory"
    mime_type = "text/markdown"
    content   = "Cloud Run stopped an instance over its memory limit: its jobs are redelivered (or, in single, lost). Runbook: docs/OPERATIONS.md#out-of-memory-kills"
    links {
      display_name = "Runbook: out-of-memory kills"
      url          = "${var.runbook_url}#out-of-memory-kills"
    }
  }
}

resource "google_monitoring_alert_policy" "ledger_unavailable" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: queue ledger unavailable"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "More than 2 ledger failures in 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.ledger_unavailable.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 2
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: the queue ledger (Firestore) fails"
    mime_type = "text/markdown"
    content   = "Admission goes on without per-user caps or wait estimates, and workers cannot mark jobs started or ended. Runbook: docs/OPERATIONS.md#queue-ledger-unavailable"
    links {
      display_name = "Runbook: queue ledger unavailable"
      url          = "${var.runbook_url}#queue-ledger-unavailable"
    }
  }
}

resource "google_monitoring_alert_policy" "discord_rate_limited" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: Discord rate limits"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels

  conditions {
    display_name = "More than 50 Discord 429s in 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.discord_rate_limited.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 50
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: Discord is rate-limiting the bot"
    mime_type = "text/markdown"
    content   = "Replies wait or are redelivered; Discord bans an IP for a while after 10,000 invalid requests (401, 403, 429) in 10 minutes. Runbook: docs/OPERATIONS.md#discord-rate-limits"
    links {
      display_name = "Runbook: Discord rate limits"
      url          = "${var.runbook_url}#discord-rate-limits"
    }
  }
}

resource "google_monitoring_alert_policy" "jobs_without_image" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: jobs ending without an image"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "More than 2 jobs in 15 minutes ended without their image"
    condition_threshold {
      filter          = "${local.jobs_metric} AND metric.label.outcome=one_of(${join(", ", [for o in local.imageless_outcomes : "\"${o}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 2
      duration        = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: users get a message instead of their mandala"
    mime_type = "text/markdown"
    content   = "Jobs ended as ${join(", ", local.imageless_outcomes)}. Runbook: docs/OPERATIONS.md#jobs-ending-without-an-image"
    links {
      display_name = "Runbook: jobs ending without an image"
      url          = "${var.runbook_url}#jobs-ending-without-an-image"
    }
  }
}

# ---------------------------------------------------------------- uptime

# From outside, as Discord would: an unsigned interaction must be refused
# with 401. (Not /healthz: Google's front end answers some paths ending in
# z itself.) Each check writes one rejected-request line, which the
# exclusion above samples.
resource "google_monitoring_uptime_check_config" "interactions" {
  display_name = "${var.name_prefix}: ${local.public_service_name} refuses an unsigned interaction"
  timeout      = "10s"
  period       = "300s"

  http_check {
    path                = "/interactions"
    port                = 443
    use_ssl             = true
    validate_ssl        = true
    request_method      = "POST"
    content_type        = "USER_PROVIDED"
    custom_content_type = "application/json"
    body                = base64encode("{\"type\":1}")
    accepted_response_status_codes {
      status_value = 401
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = trimprefix(local.public_uri, "https://")
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "endpoint_unreachable" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: interactions endpoint unreachable"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels

  conditions {
    display_name = "Uptime checks failing from more than one region"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.interactions.uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "600s"
      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    subject   = "Mandala Bot: Discord cannot reach the interactions endpoint"
    mime_type = "text/markdown"
    content   = "An unsigned POST to /interactions did not get its 401 from several regions. Runbook: docs/OPERATIONS.md#interactions-endpoint-unreachable"
    links {
      display_name = "Runbook: interactions endpoint unreachable"
      url          = "${var.runbook_url}#interactions-endpoint-unreachable"
    }
  }
}

# ---------------------------------------------------------------- SLO

# What Discord's users feel of the endpoint, from Cloud Run's front end
# (cold starts included): answered within 2.5 s (Discord waits 3), and not
# with a server error. Two objectives, since a request-based SLI counts one
# kind of good.
resource "google_monitoring_custom_service" "interactions" {
  service_id   = "${var.name_prefix}-interactions"
  display_name = "Mandala Bot interactions endpoint (${local.public_service_name})"

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_slo" "answered_in_time" {
  service             = google_monitoring_custom_service.interactions.service_id
  slo_id              = "answered-in-time"
  display_name        = "99% of interactions answered within 2.5 s, over 28 days"
  goal                = 0.99
  rolling_period_days = 28

  request_based_sli {
    distribution_cut {
      distribution_filter = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.public_service_metrics}"
      range {
        min = 0
        max = 2500
      }
    }
  }
}

resource "google_monitoring_slo" "answered_without_error" {
  service             = google_monitoring_custom_service.interactions.service_id
  slo_id              = "answered-without-error"
  display_name        = "99.9% of interactions answered without 5xx, over 28 days"
  goal                = 0.999
  rolling_period_days = 28

  request_based_sli {
    good_total_ratio {
      bad_service_filter   = "metric.type=\"run.googleapis.com/request_count\" AND ${local.public_service_metrics} AND metric.label.response_code_class=\"5xx\""
      total_service_filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.public_service_metrics}"
    }
  }
}

# Burn rates from the SRE workbook: 2% of the 28-day budget in an hour
# (14.4x) pages now; 5% in six hours (6x) pages too, for slower leaks.
resource "google_monitoring_alert_policy" "error_budget" {
  count = var.alerts_enabled ? 1 : 0

  display_name          = "${var.name_prefix}: error budget burning"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels

  conditions {
    display_name = "Answered in time: budget burning 14.4x over 1 hour"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.answered_in_time.name}\", \"3600s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 14.4
      duration        = "0s"
    }
  }

  conditions {
    display_name = "Answered in time: budget burning 6x over 6 hours"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.answered_in_time.name}\", \"21600s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 6
      duration        = "0s"
    }
  }

  conditions {
    display_name = "Answered without 5xx: budget burning 14.4x over 1 hour"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.answered_without_error.name}\", \"3600s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 14.4
      duration        = "0s"
    }
  }

  conditions {
    display_name = "Answered without 5xx: budget burning 6x over 6 hours"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.answered_without_error.name}\", \"21600s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 6
      duration        = "0s"
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    subject   = "Mandala Bot: the interactions SLO is burning its error budget"
    mime_type = "text/markdown"
    content   = "Too many interactions are answered late (over 2.5 s) or with 5xx for the 28-day objectives. Runbook: docs/OPERATIONS.md#error-budget-burning"
    links {
      display_name = "Runbook: error budget burning"
      url          = "${var.runbook_url}#error-budget-burning"
    }
  }
}

# ---------------------------------------------------------------- dashboard

locals {
  # One chart of one or more series (Monitoring's dashboard JSON).
  dashboard_services = "resource.type=\"cloud_run_revision\" AND resource.label.service_name=monitoring.regex.full_match(\"^${var.name_prefix}-(ingress|worker|replier|bot)$\")"
  dashboard_widgets = concat(
    [
      {
        title = "Interactions answered per second, by outcome"
        xyChart = { dataSets = [{ plotType = "STACKED_AREA", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.interactions.name}\" AND resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.outcome"] }
        } } }] }
      },
      {
        title = "Answer latency at the front end, ms (p50, p99; Discord waits 3,000)"
        xyChart = { dataSets = [for p in ["50", "99"] : { plotType = "LINE", legendTemplate = "p${p}", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.public_service_metrics}"
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_PERCENTILE_${p}", crossSeriesReducer = "REDUCE_MAX" }
        } } }] }
      },
      {
        title = "Waits promised at admission, ms (p50, p95)"
        xyChart = { dataSets = [for p in ["50", "95"] : { plotType = "LINE", legendTemplate = "p${p}", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.promised_wait.name}\" AND resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_PERCENTILE_${p}", crossSeriesReducer = "REDUCE_MAX" }
        } } }] }
      },
      {
        title = "Estimate error: later than promised, ms (p5, p50, p95; negative is early)"
        xyChart = { dataSets = [for p in ["05", "50", "95"] : { plotType = "LINE", legendTemplate = "p${p}", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.estimate_error.name}\" AND resource.type=\"cloud_run_revision\""
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_PERCENTILE_${p}", crossSeriesReducer = "REDUCE_MAX" }
        } } }] }
      },
      {
        title = "Renders per second (jobs not found stored)"
        xyChart = { dataSets = [{ plotType = "LINE", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "${local.jobs_metric} AND metric.label.cache_hit=\"false\""
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM" }
        } } }] }
      },
      {
        title = "Job outcomes per second"
        xyChart = { dataSets = [{ plotType = "STACKED_AREA", timeSeriesQuery = { timeSeriesFilter = {
          filter      = local.jobs_metric
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.outcome"] }
        } } }] }
      },
      {
        title = "Instances, by service"
        xyChart = { dataSets = [{ plotType = "LINE", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"run.googleapis.com/container/instance_count\" AND ${local.dashboard_services}"
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name"] }
        } } }] }
      },
      {
        title = "Bytes sent per second, by service (mostly images to Discord)"
        xyChart = { dataSets = [{ plotType = "LINE", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"run.googleapis.com/container/network/sent_bytes_count\" AND ${local.dashboard_services}"
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name"] }
        } } }] }
      },
    ],
    local.jobs_on_pubsub ? [
      {
        title = "Oldest job not yet acknowledged, s (a token lives 900)"
        xyChart = { dataSets = [{ plotType = "LINE", timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=monitoring.regex.full_match(\"^${var.name_prefix}-(jobs-worker|replies-replier)-push$\")"
          aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX", groupByFields = ["resource.label.subscription_id"] }
        } } }] }
      },
    ] : [],
  )
}

resource "google_monitoring_dashboard" "console" {
  dashboard_json = jsonencode({
    displayName = "Mandala Bot (${var.topology})"
    gridLayout = {
      columns = "2"
      widgets = local.dashboard_widgets
    }
  })

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------- budget

# Optional: a monthly budget on this project, e-mailed to the billing
# account's admins and to alert_emails at 50%, 90% and 100% of the amount
# (and when the forecast passes it). A budget alerts; it does not stop
# spending (worker_max_instances caps the compute).
resource "google_billing_budget" "monthly" {
  count    = var.budget_billing_account != null && var.budget_monthly_amount != null ? 1 : 0
  provider = google.billing

  billing_account = var.budget_billing_account
  display_name    = "${var.name_prefix} (${var.project_id}) monthly"

  budget_filter {
    projects        = ["projects/${local.project_number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      units = tostring(var.budget_monthly_amount)
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }
  threshold_rules {
    threshold_percent = 0.9
  }
  threshold_rules {
    threshold_percent = 1.0
  }
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = local.notification_channels
  }

  depends_on = [google_project_service.apis]
}
