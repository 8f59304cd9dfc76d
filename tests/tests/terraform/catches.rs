//! Each rule of the checker fires: every test breaks a copy of
//! `terraform/` or `deploy/` the way a careless edit would and expects the
//! specific problem.

use crate::{Copy, assert_reports};

#[test]
fn catches_an_undeclared_variable() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "var.ingress_memory",
            "var.ingress_memroy",
        )
        .problems();
    assert_reports(&p, &["undeclared variable var.ingress_memroy", "run.tf"]);
    // ...and the one it replaced is now unused.
    assert_reports(&p, &["var.ingress_memory is declared but never used"]);
}

#[test]
fn catches_an_undeclared_resource_inside_a_string_template() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "\"${google_cloud_run_v2_service.worker[0].uri}/pubsub/push\"",
            "\"${google_cloud_run_v2_service.renderer.uri}/pubsub/push\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "undeclared resource google_cloud_run_v2_service.renderer",
            "pubsub.tf",
        ],
    );
}

#[test]
fn catches_an_undeclared_local_and_data_source() {
    let p = Copy::new()
        .replace(
            "terraform/locals.tf",
            "data.google_project.this.number",
            "data.google_project.that.number",
        )
        .replace(
            "terraform/outputs.tf",
            "? local.worker_url : null",
            "? local.worker_uri : null",
        )
        .problems();
    assert_reports(&p, &["undeclared data source data.google_project.that"]);
    assert_reports(
        &p,
        &["undeclared local value local.worker_uri", "outputs.tf"],
    );
}

#[test]
fn catches_a_public_worker() {
    let p = Copy::new()
        .append(
            "terraform/iam.tf",
            r#"
resource "google_cloud_run_v2_service_iam_member" "worker_public" {
  name     = google_cloud_run_v2_service.worker.name
  location = google_cloud_run_v2_service.worker.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
"#,
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_cloud_run_v2_service_iam_member.worker_public",
            "invocable by allUsers",
        ],
    );
}

#[test]
fn catches_another_invoker_of_the_worker_and_a_project_wide_invoker() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "  role     = \"roles/run.invoker\"\n  member   = google_service_account.push.member",
            "  role     = \"roles/run.invoker\"\n  member   = google_service_account.ingress.member",
        )
        .append(
            "terraform/iam.tf",
            r#"
resource "google_project_iam_member" "everyone_invokes" {
  project = var.project_id
  role    = "roles/run.invoker"
  member  = "allAuthenticatedUsers"
}
"#,
        )
        .problems();
    assert_reports(
        &p,
        &["google_service_account.push (the push account) has no roles/run.invoker"],
    );
    assert_reports(
        &p,
        &[
            "lets ${google_service_account.ingress.member} invoke google_cloud_run_v2_service.worker",
        ],
    );
    assert_reports(
        &p,
        &["google_project_iam_member.everyone_invokes", "project-wide"],
    );
}

#[test]
fn catches_a_private_ingress_and_a_public_binding() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "  invoker_iam_disabled = true",
            "  invoker_iam_disabled = false",
        )
        .append(
            "terraform/iam.tf",
            r#"
resource "google_cloud_run_v2_service_iam_member" "ingress_public" {
  count = local.two_tier ? 1 : 0

  name     = google_cloud_run_v2_service.ingress[0].name
  location = google_cloud_run_v2_service.ingress[0].location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
"#,
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub]",
            "google_cloud_run_v2_service.ingress does not set invoker_iam_disabled = true",
        ],
    );
    assert_reports(
        &p,
        &[
            "google_cloud_run_v2_service_iam_member.ingress_public opens google_cloud_run_v2_service.ingress to allUsers",
            "use invoker_iam_disabled",
        ],
    );
}

#[test]
fn catches_a_push_without_oidc_or_dead_letter_policy() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "    oidc_token {\n      service_account_email = google_service_account.push.email\n      audience              = local.worker_url\n    }\n",
            "",
        )
        .replace("terraform/pubsub.tf", "  dead_letter_policy {", "  dead_letter_policy_disabled {")
        .problems();
    assert_reports(&p, &["push_config has no oidc_token"]);
    assert_reports(&p, &["has no dead_letter_policy"]);
}

#[test]
fn catches_an_audience_that_is_not_the_worker_url() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "      audience              = local.worker_url",
            "      audience              = google_cloud_run_v2_service.ingress.uri",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "oidc_token.audience",
            "is not google_cloud_run_v2_service.worker's URL",
        ],
    );
    assert_reports(
        &p,
        &[
            "sets PUSH_AUDIENCE",
            "push subscription's oidc_token.audience",
        ],
    );
}

#[test]
fn catches_an_ack_deadline_at_or_below_the_job_deadline() {
    let p = Copy::new()
        .replace(
            "terraform/locals.tf",
            "ack_deadline_seconds = var.job_deadline_secs + 10",
            "ack_deadline_seconds = 60",
        )
        .problems();
    // 60 > 50 with the defaults, but not once the deadline moves.
    assert_reports(
        &p,
        &[
            "ack_deadline_seconds 60 is not above",
            "JOB_DEADLINE_SECS 151",
            "every number input × 3 + 1",
        ],
    );
}

#[test]
fn catches_pubsub_limits_broken_with_the_operators_inputs() {
    let p = Copy::new()
        .replace(
            "terraform/locals.tf",
            "ack_deadline_seconds = var.job_deadline_secs + 10",
            "ack_deadline_seconds = var.job_deadline_secs + 600",
        )
        .replace(
            "terraform/pubsub.tf",
            "max_delivery_attempts = var.max_delivery_attempts",
            "max_delivery_attempts = 3",
        )
        .problems();
    assert_reports(
        &p,
        &["ack_deadline_seconds 650 is above Pub/Sub's limit of 600 (defaults)"],
    );
    assert_reports(
        &p,
        &["max_delivery_attempts must be 5..=100, is Some(3.0) (defaults)"],
    );
}

#[test]
fn catches_render_concurrency_that_differs_from_the_vcpus() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "value = tostring(local.worker_render_slots)",
            "value = \"2\"",
        )
        .problems();
    assert_reports(
        &p,
        &["RENDER_CONCURRENCY (Some(\"2\")) differs from the container's vCPUs (Some(\"7\"))"],
    );
}

#[test]
fn catches_a_request_concurrency_below_the_render_slots() {
    let p = Copy::new()
        .replace(
            "terraform/locals.tf",
            "worker_concurrency  = var.worker_cpu * var.worker_jobs_per_cpu",
            "worker_concurrency  = 1",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "max_instance_request_concurrency (Some(\"1\")) is not a whole multiple of RENDER_CONCURRENCY (Some(\"2\"))",
        ],
    );
}

#[test]
fn catches_a_project_wide_grant_without_a_condition() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "  condition {\n    title      = \"queue database only\"\n    expression = \"resource.name == \\\"${google_firestore_database.queue.id}\\\"\"\n  }\n}\n\n# The only principal",
            "}\n\n# The only principal",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_project_iam_member.worker_uses_queue grants google_service_account.worker (runtime of google_cloud_run_v2_service.worker) a project-wide role",
        ],
    );
}

#[test]
fn catches_env_vars_the_binary_does_not_read_port_and_local_settings() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "      env {\n        name  = \"BUCKET\"",
            "      env {\n        name  = \"RENDER_THREADS\"\n        value = \"4\"\n      }\n      env {\n        name  = \"PORT\"\n        value = \"8080\"\n      }\n      env {\n        name  = \"LOCAL_STORE_DIR\"\n        value = \"/tmp\"\n      }\n      env {\n        name  = \"BUCKET\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_cloud_run_v2_service.worker sets RENDER_THREADS, but mandala-worker does not read it",
        ],
    );
    assert_reports(&p, &["sets PORT, which Cloud Run sets itself"]);
    assert_reports(&p, &["sets LOCAL_STORE_DIR, a setting for local runs"]);
}

#[test]
fn catches_a_missing_required_setting_and_a_missing_cloud_backend() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "name = \"DISCORD_PUBLIC_KEY\"",
            "name = \"DISCORD_PUBLIC_KEYS\"",
        )
        .replace(
            "terraform/run.tf",
            "name  = \"PUBSUB_TOPIC\"",
            "name  = \"LOCAL_PUSH_URL\"",
        )
        .problems();
    assert_reports(
        &p,
        &["ingress does not set DISCORD_PUBLIC_KEY, which mandala-ingress requires"],
    );
    assert_reports(&p, &["ingress does not set PUBSUB_TOPIC"]);
    assert_reports(&p, &["sets LOCAL_PUSH_URL, a setting for local runs"]);
}

#[test]
fn catches_a_secret_the_service_may_not_read() {
    let p = Copy::new()
        .replace("terraform/iam.tf", "  role      = \"roles/secretmanager.secretAccessor\"\n  member    = google_service_account.ingress.member", "  role      = \"roles/secretmanager.secretAccessor\"\n  member    = google_service_account.worker.member")
        .problems();
    assert_reports(
        &p,
        &["google_service_account.ingress has no roles/secretmanager.secretAccessor"],
    );
}

#[test]
fn catches_a_dockerfile_binary_the_workspace_does_not_define() {
    let p = Copy::new()
        .replace(
            "deploy/Dockerfile",
            "--bin mandala-worker",
            "--bin mandala-renderer",
        )
        .problems();
    assert_reports(
        &p,
        &["Dockerfile builds binary mandala-renderer, which no workspace package defines"],
    );
    assert_reports(
        &p,
        &["stage mandala-worker runs mandala-worker, which no `cargo build --bin` builds"],
    );
}

#[test]
fn catches_a_builder_older_than_the_msrv_or_a_mismatched_runtime() {
    let p = Copy::new()
        .replace(
            "deploy/Dockerfile",
            "ARG RUST_VERSION=1.95",
            "ARG RUST_VERSION=1.80",
        )
        .replace(
            "deploy/Dockerfile",
            "ARG DEBIAN_RELEASE=bookworm",
            "ARG DEBIAN_RELEASE=trixie",
        )
        .problems();
    assert_reports(
        &p,
        &["Dockerfile builds with Rust 1.80 but mandala-ingress needs rust-version 1.91"],
    );
    assert_reports(
        &p,
        &[
            "the builder's Debian (Some(\"trixie\"))",
            "must be the same release",
        ],
    );
}

#[test]
fn catches_a_build_without_the_workspace_build_settings() {
    let p = Copy::new()
        .replace("deploy/Dockerfile", "COPY .cargo .cargo\n", "")
        .append(".dockerignore", ".cargo\n")
        .problems();
    assert_reports(
        &p,
        &[
            "stage builder compiles (`cargo chef cook",
            ".cargo/config.toml is copied in",
        ],
    );
    assert_reports(
        &p,
        &[".dockerignore pattern \".cargo\" excludes .cargo/config.toml"],
    );
}

#[test]
fn catches_a_build_context_without_a_workspace_manifest() {
    let p = Copy::new()
        .append(".dockerignore", "tests\ncrates/*/Cargo.toml\n")
        .replace(".dockerignore", "\ntarget\n", "\n")
        .replace(".dockerignore", "**/target\n", "")
        .problems();
    assert_reports(
        &p,
        &[".dockerignore pattern \"tests\" excludes tests/Cargo.toml"],
    );
    assert_reports(&p, &["excludes crates/worker/Cargo.toml"]);
    assert_reports(&p, &[".dockerignore must exclude target/"]);
}

#[test]
fn catches_an_image_without_a_dockerfile_target_or_build() {
    let p = Copy::new()
        .replace(
            "deploy/cloudbuild.yaml",
            "--target=mandala-worker",
            "--target=mandala-workers",
        )
        .problems();
    assert_reports(&p, &["cloudbuild.yaml builds --target=mandala-workers"]);
    assert_reports(
        &p,
        &["cloudbuild.yaml does not build --target=mandala-worker"],
    );
}

#[test]
fn catches_an_example_value_for_no_variable() {
    let p = Copy::new()
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_max_instances  = 5",
            "worker_max_instance   = 5",
        )
        .problems();
    assert_reports(
        &p,
        &["terraform.tfvars.example sets worker_max_instance, which is not a variable"],
    );
}

#[test]
fn catches_an_unvalidated_variable() {
    let p = Copy::new()
        .append(
            "terraform/variables.tf",
            "\nvariable \"extra\" {\n  type = number\n}\n",
        )
        .problems();
    assert_reports(&p, &["variable extra has no description"]);
    assert_reports(&p, &["variable extra has no validation block"]);
    assert_reports(&p, &["var.extra is declared but never used"]);
}

#[test]
fn catches_a_dead_letter_push_that_keeps_trying_for_days() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "message_retention_duration = \"3600s\"",
            "message_retention_duration = \"604800s\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_pubsub_subscription.dead_letter_push pushes dead letters without a dead_letter_policy",
        ],
    );
}

#[test]
fn catches_a_secret_written_into_the_state() {
    let p = Copy::new()
        .replace(
            "terraform/secrets.tf",
            "  secret_data_wo         = var.discord_bot_token\n",
            "  secret_data            = var.discord_bot_token\n",
        )
        .replace(
            "terraform/secrets.tf",
            "  secret_data_wo_version = parseint(substr(sha256(var.daily_mandala_webhook_url), 0, 8), 16)\n",
            "",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_secret_manager_secret_version.discord_bot_token sets secret_data",
            "keeps in its state",
        ],
    );
    assert_reports(
        &p,
        &[
            "google_secret_manager_secret_version.daily_mandala_webhook sets secret_data_wo without secret_data_wo_version",
        ],
    );
}

#[test]
fn catches_write_only_secrets_with_a_terraform_too_old_for_them() {
    let p = Copy::new()
        .replace(
            "terraform/versions.tf",
            "required_version = \">= 1.11\"",
            "required_version = \">= 1.9\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "required_version \">= 1.9\" admits Terraform 1.9",
            "need 1.11",
        ],
    );
}

#[test]
fn catches_a_webhook_url_in_the_scheduled_message() {
    let p = Copy::new()
        .replace(
            "terraform/scheduler.tf",
            "reply = { webhook_secret = \"${google_secret_manager_secret.daily_mandala_webhook[0].id}/versions/latest\" }",
            "reply = { webhook_url = var.daily_mandala_webhook_url }",
        )
        .problems();
    assert_reports(
        &p,
        &["google_cloud_scheduler_job.daily_mandala puts a webhook URL in its message"],
    );
}

#[test]
fn catches_a_named_secret_the_worker_may_not_read() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "  secret_id = google_secret_manager_secret.daily_mandala_webhook[0].id\n  role      = \"roles/secretmanager.secretAccessor\"\n  member    = google_service_account.worker.member",
            "  secret_id = google_secret_manager_secret.daily_mandala_webhook[0].id\n  role      = \"roles/secretmanager.secretAccessor\"\n  member    = google_service_account.ingress.member",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_cloud_scheduler_job.daily_mandala names google_secret_manager_secret.daily_mandala_webhook",
            "may not read",
        ],
    );
}

#[test]
fn catches_a_base_image_not_pinned_by_digest() {
    let p = Copy::new()
        .replace(
            "deploy/Dockerfile",
            "ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:",
            "ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot\nARG UNUSED=",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "stage mandala-ingress starts from gcr.io/distroless/cc-debian12:nonroot",
            "not pinned by digest",
        ],
    );
}

#[test]
fn catches_an_alert_without_a_runbook_and_a_filter_outside_the_subset() {
    let p = Copy::new()
        .replace(
            "terraform/monitoring.tf",
            "Runbook: docs/OPERATIONS.md#discord-rate-limits",
            "Runbook: docs/OPERATIONS.md#discord-rate-limit",
        )
        .replace(
            "terraform/monitoring.tf",
            "url          = \"${var.runbook_url}#out-of-memory-kills\"",
            "url          = \"https://example.com/oom\"",
        )
        .replace(
            "terraform/monitoring.tf",
            "AND jsonPayload.message:\\\"queue ledger unavailable\\\"\"",
            "jsonPayload.message:\\\"queue ledger unavailable\\\"\"",
        )
        .replace(
            "terraform/monitoring.tf",
            "filter = \"${local.services_filter} AND logName=",
            "filter = \"${local.services_filter} AND ${google_logging_metric.jobs.name} AND logName=",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_monitoring_alert_policy.discord_rate_limited points at docs/OPERATIONS.md#discord-rate-limit,",
            "no such heading",
        ],
    );
    assert_reports(
        &p,
        &[
            "google_monitoring_alert_policy.out_of_memory",
            "must link ${var.runbook_url}#out-of-memory-kills",
        ],
    );
    assert_reports(
        &p,
        &[
            "google_logging_metric.ledger_unavailable",
            "outside the subset",
            "implicit AND",
        ],
    );
    assert_reports(
        &p,
        &[
            "google_monitoring_alert_policy.out_of_memory (log-match condition)",
            "does not evaluate from the inputs alone",
        ],
    );
}

#[test]
fn catches_a_runbook_heading_removed_from_the_operations_guide() {
    let p = Copy::new()
        .replace(
            "docs/OPERATIONS.md",
            "### Queue ledger unavailable",
            "### The queue ledger",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_monitoring_alert_policy.ledger_unavailable points at docs/OPERATIONS.md#queue-ledger-unavailable",
            "no such heading",
        ],
    );
}

#[test]
fn catches_an_alert_on_a_label_the_metric_does_not_extract_and_an_unwatched_queue() {
    let p = Copy::new()
        .replace(
            "terraform/monitoring.tf",
            "AND metric.label.dead_letter=\\\"true\\\"\"",
            "AND metric.label.dead_lettered=\\\"true\\\"\"",
        )
        .replace(
            "terraform/monitoring.tf",
            "subscription_id=\\\"${google_pubsub_subscription.worker_push[0].name}\\\"",
            "subscription_id=\\\"mandala-jobs\\\"",
        )
        .replace(
            "terraform/monitoring.tf",
            "      threshold_value = var.worker_max_instances\n",
            "      threshold_value = 5\n",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "google_monitoring_alert_policy.dead_letters filters google_logging_metric.jobs on label dead_lettered",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = pubsub]",
            "nothing alerts when the oldest job of google_pubsub_subscription.worker_push is older than a token allows",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "the instance cap alert for google_cloud_run_v2_service.single uses threshold",
        ],
    );
}

#[test]
fn catches_a_design_without_its_alerts() {
    let p = Copy::new()
        .replace(
            "terraform/monitoring.tf",
            "  count = var.alerts_enabled && !local.cloud_tasks ? 1 : 0",
            "  count = var.alerts_enabled && local.jobs_on_pubsub ? 1 : 0",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "google_monitoring_alert_policy.dead_letters is missing",
        ],
    );
}
