//! Each rule about the designs (`var.topology`) fires: every test breaks a
//! copy of `terraform/` the way a careless edit would and expects the
//! specific problem, in the design it breaks.

use crate::{Copy, assert_reports};

#[test]
fn catches_a_single_service_whose_cpu_is_throttled_between_requests() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "        cpu_idle          = false",
            "        cpu_idle          = true",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "google_cloud_run_v2_service.single (WORKER_ROLE=single) must set containers.resources.cpu_idle = false",
        ],
    );
}

#[test]
fn catches_a_single_service_that_also_publishes_or_is_not_public() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "        value = \"single\"\n      }",
            "        value = \"single\"\n      }\n      env {\n        name  = \"CLOUD_TASKS_QUEUE\"\n        value = \"projects/p/locations/l/queues/q\"\n      }",
        )
        .replace(
            "terraform/run.tf",
            "  # Public like the ingress: requests are authenticated by their signature.\n  invoker_iam_disabled = true",
            "",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "sets CLOUD_TASKS_QUEUE, but WORKER_ROLE=single queues jobs in its own process",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "google_cloud_run_v2_service.single does not set invoker_iam_disabled = true",
        ],
    );
}

#[test]
fn catches_a_single_service_missing_an_ingress_setting() {
    // The single service reads the ingress's settings: the public key is
    // required there too.
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "      env {\n        name = \"DISCORD_PUBLIC_KEY\"\n        value_source {\n          secret_key_ref {\n            secret  = google_secret_manager_secret.discord_public_key.secret_id",
            "      env {\n        name = \"DISCORD_PUBLIC_KEYS\"\n        value_source {\n          secret_key_ref {\n            secret  = google_secret_manager_secret.discord_public_key.secret_id",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "google_cloud_run_v2_service.single does not set DISCORD_PUBLIC_KEY",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "sets DISCORD_PUBLIC_KEYS, but mandala-worker does not read it",
        ],
    );
}

#[test]
fn catches_a_replier_that_may_write_the_bucket_and_a_render_worker_that_may_not_publish() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "  role   = \"roles/storage.objectViewer\"\n  member = google_service_account.replier[0].member",
            "  role   = \"roles/storage.objectCreator\"\n  member = google_service_account.replier[0].member",
        )
        .replace(
            "terraform/iam.tf",
            "  topic  = google_pubsub_topic.replies[0].name\n  role   = \"roles/pubsub.publisher\"",
            "  topic  = google_pubsub_topic.replies[0].name\n  role   = \"roles/pubsub.subscriber\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_service_account.replier",
            "cannot read objects in google_storage_bucket.renders",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "has roles/storage.objectCreator on google_storage_bucket.renders; the replier only reads",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_service_account.worker (google_cloud_run_v2_service.worker's runtime) has no roles/pubsub.publisher on google_pubsub_topic.replies",
        ],
    );
}

#[test]
fn catches_a_replier_push_without_dead_letters_or_with_the_workers_audience() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "  dead_letter_policy {\n    dead_letter_topic     = google_pubsub_topic.replies_dead_letter[0].id",
            "  dead_letter_policy_disabled {\n    dead_letter_topic     = google_pubsub_topic.replies_dead_letter[0].id",
        )
        .replace(
            "terraform/pubsub.tf",
            "      audience              = local.replier_url",
            "      audience              = local.worker_url",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_pubsub_subscription.replier_push has no dead_letter_policy",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_pubsub_subscription.replier_push: oidc_token.audience",
            "is not google_cloud_run_v2_service.replier's URL",
        ],
    );
}

#[test]
fn catches_a_render_worker_without_a_reply_topic() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "for_each = local.split ? [\"REPLY_TOPIC\"] : []",
            "for_each = []",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_cloud_run_v2_service.worker: WORKER_ROLE=render needs REPLY_TOPIC",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_cloud_run_v2_service.replier (WORKER_ROLE=reply) has no push subscription on a render worker's REPLY_TOPIC",
        ],
    );
}

#[test]
fn catches_a_service_with_no_place_in_its_design() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "resource \"google_cloud_run_v2_service\" \"replier\" {\n  count = local.split ? 1 : 0",
            "resource \"google_cloud_run_v2_service\" \"replier\" {\n  count = local.two_tier ? 1 : 0",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub]",
            "google_cloud_run_v2_service.replier (role reply) has no place in the pubsub design",
        ],
    );
}

#[test]
fn catches_a_tasks_queue_whose_attempts_differ_from_the_workers() {
    let p = Copy::new()
        .replace(
            "terraform/tasks.tf",
            "max_attempts  = var.max_delivery_attempts",
            "max_attempts  = var.max_delivery_attempts + 1",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "google_cloud_tasks_queue.jobs: max_attempts (Some(6.0)) differs from google_cloud_run_v2_service.worker's MAX_DELIVERY_ATTEMPTS (Some(5.0))",
        ],
    );
}

#[test]
fn catches_tasks_the_ingress_may_not_create_or_the_worker_would_refuse() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "role     = \"roles/cloudtasks.enqueuer\"",
            "role     = \"roles/cloudtasks.viewer\"",
        )
        .replace(
            "terraform/iam.tf",
            "  service_account_id = google_service_account.push.name\n  role               = \"roles/iam.serviceAccountUser\"",
            "  service_account_id = google_service_account.worker.name\n  role               = \"roles/iam.serviceAccountUser\"",
        )
        .replace(
            "terraform/run.tf",
            "          name  = \"CLOUD_TASKS_AUDIENCE\"\n          value = local.worker_url",
            "          name  = \"CLOUD_TASKS_AUDIENCE\"\n          value = \"${local.worker_url}/tasks/run\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "google_service_account.ingress (google_cloud_run_v2_service.ingress's runtime) has no roles/cloudtasks.enqueuer on google_cloud_tasks_queue.jobs",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "has no roles/iam.serviceAccountUser on google_service_account.push",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "google_cloud_run_v2_service.worker sets PUSH_AUDIENCE",
            "but the ingress's CLOUD_TASKS_AUDIENCE",
        ],
    );
}

#[test]
fn catches_tasks_without_a_token_account() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "for_each = local.cloud_tasks ? [\"CLOUD_TASKS_SERVICE_ACCOUNT\"] : []",
            "for_each = []",
        )
        .replace(
            "terraform/run.tf",
            "for_each = local.cloud_tasks ? [\"CLOUD_TASKS_AUDIENCE\"] : []",
            "for_each = []",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "sets no CLOUD_TASKS_SERVICE_ACCOUNT: tasks would carry no OIDC token",
        ],
    );
}

#[test]
fn catches_more_concurrent_dispatches_than_the_workers_hold_and_a_short_dispatch_deadline() {
    let p = Copy::new()
        .replace(
            "terraform/tasks.tf",
            "max_concurrent_dispatches = local.tasks_max_concurrent_dispatches",
            "max_concurrent_dispatches = 1000",
        )
        .replace(
            "terraform/run.tf",
            "    timeout                          = \"${local.worker_timeout_secs}s\"\n\n    scaling {\n      min_instance_count = var.worker_min_instances",
            "    timeout                          = \"900s\"\n\n    scaling {\n      min_instance_count = var.worker_min_instances",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "google_cloud_tasks_queue.jobs: max_concurrent_dispatches (Some(1000.0)) is above what google_cloud_run_v2_service.worker holds",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "request timeout (Some(900.0) s) < Cloud Tasks' dispatch deadline",
        ],
    );
}

#[test]
fn catches_an_ingress_with_two_places_for_jobs_and_tasks_without_their_api() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "for_each = local.jobs_on_pubsub ? [\"PUBSUB_TOPIC\"] : []",
            "for_each = [\"PUBSUB_TOPIC\"]",
        )
        .replace(
            "terraform/apis.tf",
            "    local.cloud_tasks ? [\"cloudtasks.googleapis.com\"] : [],\n",
            "",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "google_cloud_run_v2_service.ingress sets PUBSUB_TOPIC and CLOUD_TASKS_QUEUE",
        ],
    );
    assert_reports(
        &p,
        &[
            "[topology = cloud-tasks]",
            "does not enable cloudtasks.googleapis.com",
        ],
    );
}

#[test]
fn catches_a_design_the_checker_does_not_know_and_one_without_an_example() {
    let p = Copy::new()
        .replace(
            "terraform/variables.tf",
            "contains([\"single\", \"pubsub\", \"pubsub-split\", \"cloud-tasks\"], var.topology)",
            "contains([\"single\", \"pubsub\", \"pubsub-split\", \"cloud-tasks\", \"kafka\"], var.topology)",
        )
        .replace(
            "terraform/single.tfvars.example",
            "topology = \"single\"",
            "topology = \"pubsub\"",
        )
        .problems();
    assert_reports(
        &p,
        &["var.topology's validation admits \"kafka\", a design the checker does not know"],
    );
    assert_reports(
        &p,
        &[
            "[topology = single]",
            "no *.tfvars.example",
            "chooses topology = \"single\"",
        ],
    );
}

#[test]
fn catches_an_image_no_design_runs() {
    // As if no design ran the ingress: the build would ship an image for nothing.
    let deployed = std::collections::BTreeSet::from(["mandala-worker".to_owned()]);
    let p = crate::images::check(&crate::workspace_root(), &deployed, crate::workspace());
    assert_reports(
        &p,
        &["the Dockerfile ships mandala-ingress, but no design (topology) runs it on Cloud Run"],
    );
}

#[test]
fn catches_a_replier_whose_attempts_differ_from_its_subscription() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "        # tells the user instead of asking Pub/Sub again.\n        name  = \"MAX_DELIVERY_ATTEMPTS\"\n        value = tostring(var.max_delivery_attempts)",
            "        # tells the user instead of asking Pub/Sub again.\n        name  = \"MAX_DELIVERY_ATTEMPTS\"\n        value = tostring(var.max_delivery_attempts - 1)",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "[topology = pubsub-split]",
            "google_pubsub_subscription.replier_push: dead_letter_policy.max_delivery_attempts (Some(5.0)) differs from google_cloud_run_v2_service.replier's MAX_DELIVERY_ATTEMPTS (Some(4.0))",
        ],
    );
}
