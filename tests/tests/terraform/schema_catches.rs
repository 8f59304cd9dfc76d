//! The provider-schema check: the derived schemas say what the provider's
//! documentation says about the resources this configuration uses, and
//! each rule fires: every test breaks a copy of `terraform/` the way a typo
//! or a provider release would and expects the specific complaint, against
//! both schemas. Skipped, loudly, without the cdktn-provider-google wheels.

use crate::schema::{Block, Mode};
use crate::{Copy, assert_reports, provider_schemas};

fn mode(block: &Block, path: &[&str]) -> Option<Mode> {
    let (last, blocks) = path.split_last()?;
    let inner = blocks
        .iter()
        .try_fold(block, |b, name| b.blocks.get(*name).map(|n| &n.block))?;
    inner.attributes.get(*last).map(|a| a.mode)
}

#[test]
fn the_derived_schemas_agree_with_the_providers_documentation() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    for s in schemas {
        let v = &s.version;
        assert!(
            s.guessed_names.is_empty(),
            "google {v}: names guessed, not read from the package: {:?}",
            s.guessed_names
        );
        let run = &s.resources["google_cloud_run_v2_service"];
        let sub = &s.resources["google_pubsub_subscription"];
        let bucket = &s.resources["google_storage_bucket"];
        let member = &s.resources["google_project_iam_member"];
        let account = &s.resources["google_service_account"];
        let project = &s.data_sources["google_project"];
        for (block, path, want) in [
            (run, &["name"][..], Mode::Required),
            (run, &["location"], Mode::Required),
            (run, &["ingress"], Mode::Optional),
            (run, &["uri"], Mode::Computed),
            (run, &["urls"], Mode::Computed),
            (run, &["template", "containers", "image"], Mode::Required),
            (
                run,
                &["template", "containers", "env", "name"],
                Mode::Required,
            ),
            (
                run,
                &["template", "scaling", "max_instance_count"],
                Mode::Optional,
            ),
            (sub, &["topic"], Mode::Required),
            (sub, &["push_config", "push_endpoint"], Mode::Required),
            (
                sub,
                &["push_config", "oidc_token", "service_account_email"],
                Mode::Required,
            ),
            (sub, &["expiration_policy", "ttl"], Mode::Required),
            (bucket, &["location"], Mode::Required),
            (bucket, &["url"], Mode::Computed),
            (bucket, &["self_link"], Mode::Computed),
            (
                bucket,
                &["lifecycle_rule", "action", "type"],
                Mode::Required,
            ),
            (member, &["role"], Mode::Required),
            (member, &["member"], Mode::Required),
            (member, &["etag"], Mode::Computed),
            (account, &["account_id"], Mode::Required),
            (account, &["email"], Mode::Computed),
            (account, &["member"], Mode::Computed),
            (project, &["project_id"], Mode::Optional),
            (project, &["number"], Mode::Computed),
        ] {
            assert_eq!(mode(block, path), Some(want), "google {v}: {path:?}");
        }
        assert!(
            run.blocks["template"].required,
            "google {v}: template is required"
        );
        assert!(!run.blocks["template"].list, "google {v}: one template");
        assert!(run.blocks["template"].block.blocks["containers"].list);
        assert!(bucket.blocks["lifecycle_rule"].list);
        assert!(bucket.blocks["lifecycle_rule"].block.blocks["action"].required);
        assert!(!sub.blocks["push_config"].required);
    }
}

/// Asserts the complaint is made against every schema (oldest and newest).
#[track_caller]
fn assert_every_release(problems: &[String], fragments: &[&str]) {
    let schemas = provider_schemas().expect("schemas were loaded by the caller");
    for s in schemas {
        let release = format!("google {}:", s.version);
        let mut with_release = vec![release.as_str()];
        with_release.extend_from_slice(fragments);
        assert_reports(problems, &with_release);
    }
}

#[test]
fn catches_a_misspelled_argument() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "max_instance_request_concurrency = var.ingress_concurrency",
            "max_instance_request_concurency = var.ingress_concurrency",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &[
            "run.tf: resource google_cloud_run_v2_service.ingress",
            "unknown argument `template.max_instance_request_concurency` (did you mean `max_instance_request_concurrency`?)",
        ],
    );
}

#[test]
fn catches_an_unknown_nested_block() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "        http_get {\n          path = \"/healthz\"",
            "        http_probe {\n          path = \"/healthz\"",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &[
            "google_cloud_run_v2_service.ingress",
            "unknown block `template.containers.startup_probe.http_probe`",
        ],
    );
}

#[test]
fn catches_an_unknown_dynamic_block_and_a_typo_inside_a_dynamic_blocks_content() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "      env {\n        name  = \"GOOGLE_CLOUD_PROJECT\"\n        value = var.project_id\n      }",
            r#"      dynamic "envs" {
        for_each = { GOOGLE_CLOUD_PROJECT = var.project_id }
        content {
          name  = envs.key
          value = envs.value
        }
      }
      dynamic "env" {
        for_each = { GOOGLE_CLOUD_PROJECT = var.project_id }
        content {
          name   = env.key
          valeu  = env.value
        }
      }"#,
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &[
            "google_cloud_run_v2_service.ingress",
            "unknown dynamic block `template.containers.envs` (did you mean `env`?)",
        ],
    );
    assert_every_release(
        &p,
        &["unknown argument `template.containers.env.valeu` (did you mean `value`?)"],
    );
    // The well-formed dynamic "env" stands in for the block: no other complaint.
    assert_eq!(p.len(), 4, "{}", p.join("\n"));
}

#[test]
fn catches_a_missing_required_argument_and_block() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "  topic = google_pubsub_topic.jobs[0].id\n",
            "",
        )
        .replace(
            "terraform/storage.tf",
            "    action {\n      type = \"Delete\"\n    }\n",
            "",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &[
            "pubsub.tf: resource google_pubsub_subscription.worker_push",
            "missing required argument `topic`",
        ],
    );
    assert_every_release(
        &p,
        &[
            "storage.tf: resource google_storage_bucket.renders",
            "missing required block `lifecycle_rule.action`",
        ],
    );
}

#[test]
fn catches_a_computed_only_attribute_set() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "  deletion_protection = var.deletion_protection\n\n  template {\n    labels                           = local.release_labels\n    service_account                  = google_service_account.worker.email",
            "  deletion_protection = var.deletion_protection\n  uri                 = local.worker_url\n\n  template {\n    labels                           = local.release_labels\n    service_account                  = google_service_account.worker.email",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &["google_cloud_run_v2_service.worker", "uri is computed-only"],
    );
}

#[test]
fn catches_references_to_attributes_that_do_not_exist() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/locals.tf",
            ": google_cloud_run_v2_service.ingress[0].uri",
            ": google_cloud_run_v2_service.ingress[0].url",
        )
        .replace(
            "terraform/locals.tf",
            "data.google_project.this.number",
            "data.google_project.this.project_number",
        )
        .replace(
            "terraform/run.tf",
            "contains(self.urls,",
            "contains(self.url,",
        )
        .append(
            "terraform/outputs.tf",
            r#"
output "deep" {
  value = [
    google_cloud_run_v2_service.worker.template[0].containers[0].imag,
    google_cloud_run_v2_service.worker.conditions.type,
    google_storage_bucket.renders.url.host,
  ]
}
"#,
        )
        .schema_problems(schemas);
    for fragments in [
        &[
            "locals.tf: locals",
            "google_cloud_run_v2_service.ingress",
            "no attribute `url`",
            "(did you mean `uri`?)",
        ][..],
        &["data.google_project.this.project_number: no attribute `project_number`"],
        &[
            "run.tf: resource google_cloud_run_v2_service.worker",
            "self.url: no attribute `url`",
        ],
        &[
            "template[0].containers[0].imag",
            "`template[0].containers[0]` has no such attribute or block (did you mean `image`?)",
        ],
        &[
            "conditions.type",
            "`conditions` is a list: pick an element (`conditions[0].type`)",
        ],
        &[
            "renders.url.host",
            "`url` is a string: it has no attribute `host`",
        ],
    ] {
        assert_every_release(&p, fragments);
    }
}

#[test]
fn catches_unknown_resource_and_data_source_types() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/storage.tf",
            "resource \"google_storage_bucket_iam_member\" \"public_read\"",
            "resource \"google_storage_bucket_iam_membership\" \"public_read\"",
        )
        .replace(
            "terraform/versions.tf",
            "data \"google_project\" \"this\"",
            "data \"google_projects_info\" \"this\"",
        )
        .replace(
            "terraform/locals.tf",
            "data.google_project.this",
            "data.google_projects_info.this",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &[
            "storage.tf: resource google_storage_bucket_iam_membership.public_read",
            "unknown resource type `google_storage_bucket_iam_membership` (did you mean `google_storage_bucket_iam_member`?)",
        ],
    );
    assert_every_release(
        &p,
        &[
            "versions.tf: data google_projects_info.this",
            "unknown data source `google_projects_info`",
        ],
    );
}

#[test]
fn catches_an_argument_written_as_a_block_a_block_as_an_argument_and_a_repeated_single_block() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "        limits = {\n          cpu    = tostring(var.ingress_cpu)\n          memory = var.ingress_memory\n        }",
            "        limits {\n          cpu    = tostring(var.ingress_cpu)\n          memory = var.ingress_memory\n        }",
        )
        .replace(
            "terraform/storage.tf",
            "  soft_delete_policy {\n    retention_duration_seconds = 0\n  }\n\n  depends_on = [google_project_service.apis]\n}\n\n# Only",
            "  soft_delete_policy = {\n    retention_duration_seconds = 0\n  }\n\n  depends_on = [google_project_service.apis]\n}\n\n# Only",
        )
        .replace(
            "terraform/pubsub.tf",
            "  expiration_policy {\n    ttl = \"\"\n  }\n}",
            "  expiration_policy {\n    ttl = \"\"\n  }\n  expiration_policy {\n    ttl = \"86400s\"\n  }\n}",
        )
        .schema_problems(schemas);
    assert_every_release(
        &p,
        &["template.containers.resources.limits is an argument: write `limits = ...`"],
    );
    assert_every_release(
        &p,
        &[
            "google_storage_bucket.renders",
            "soft_delete_policy is a block: write `soft_delete_policy { ... }`",
        ],
    );
    assert_every_release(
        &p,
        &[
            "google_pubsub_subscription.dead_letter",
            "block `expiration_policy` may appear only once (found 2)",
        ],
    );
}

#[test]
fn meta_arguments_and_valid_references_are_not_complaints() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let p = Copy::new()
        .append(
            "terraform/outputs.tf",
            r#"
resource "google_pubsub_topic" "extra" {
  for_each   = toset(["a", "b"])
  provider   = google
  name       = "extra-${each.key}"
  depends_on = [google_project_service.apis]

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [labels]
  }

  connection {
    host = "example.invalid"
  }

  provisioner "local-exec" {
    command = "echo ${self.name} ${self.effective_labels["k"]}"
  }
}

data "google_project" "extra" {
  count = 1

  lifecycle {
    postcondition {
      condition     = self.number != ""
      error_message = "no project number"
    }
  }
}

output "references_that_exist" {
  value = [
    google_pubsub_topic.extra["a"].id,
    google_project_service.apis["run.googleapis.com"].service,
    google_cloud_run_v2_service.worker.template[0].containers[0].env[*].name,
    google_cloud_run_v2_service.worker.conditions[0].type,
    google_cloud_run_v2_service.worker.urls[0],
    google_cloud_run_v2_service.worker.terraform_labels["goog-terraform-provisioned"],
    google_storage_bucket.renders.lifecycle_rule[0].condition[0].age,
    data.google_project.extra[0].number,
  ]
}
"#,
        )
        .schema_problems(schemas);
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn catches_a_pin_that_admits_releases_no_schema_covers() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let oldest = &schemas[0].version;
    let older = Copy::new()
        .replace("terraform/versions.tf", "\"~> 7.40\"", "\"~> 7.30\"")
        .schema_problems(schemas);
    assert_reports(
        &older,
        &[
            "versions.tf: google version \"~> 7.30\" admits 7.30.0",
            &format!("older than the oldest release whose schema is checked ({oldest})"),
        ],
    );
    let open = Copy::new()
        .replace("terraform/versions.tf", "\"~> 7.40\"", "\">= 7.40\"")
        .schema_problems(schemas);
    assert_reports(&open, &["\">= 7.40\" admits major releases after 7.x"]);
    let newer = Copy::new()
        .replace(
            "terraform/versions.tf",
            "\"~> 7.40\"",
            "\">= 7.40, < 7.41\"",
        )
        .schema_problems(schemas);
    assert_reports(&newer, &["excludes", "the newest release checked"]);
}
