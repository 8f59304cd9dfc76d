//! The reference walker on small configurations: what counts as a
//! reference, what a scope binds, what is malformed.

use std::collections::BTreeSet;

use crate::hclx::Config;
use crate::refs;

fn refs_in(src: &str) -> (BTreeSet<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), src).unwrap();
    let config = Config::load(dir.path()).unwrap();
    let (found, problems) = refs::references(&config);
    (found.into_iter().map(|r| r.target).collect(), problems)
}

#[test]
fn walker_finds_references_in_templates_heredocs_and_function_calls() {
    let (found, problems) = refs_in(
        r#"
locals {
  a = "x-${var.one}-%{for s in var.two}${s}${local.three}%{endfor}"
  b = <<-EOT
    ${upper(google_pubsub_topic.jobs.name)} %{if data.google_project.p.number > 0}yes%{endif}
  EOT
  c = { (local.key) = [for k, v in module.m.map : "${k}=${v}" if v != var.skip] }
}
"#,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let want: BTreeSet<String> = [
        "var.one",
        "var.two",
        "local.three",
        "google_pubsub_topic.jobs",
        "data.google_project.p",
        "local.key",
        "module.m",
        "var.skip",
    ]
    .map(String::from)
    .into();
    assert_eq!(found, want);
}

#[test]
fn walker_knows_iterators_and_terraforms_own_names() {
    let (found, problems) = refs_in(
        r#"
resource "google_cloud_run_v2_service" "s" {
  for_each = var.services
  name     = "${each.key}-${count.index}-${path.module}-${terraform.workspace}"
  template {
    dynamic "containers" {
      for_each = each.value.containers
      content {
        image = containers.value.image
      }
    }
    dynamic "volumes" {
      for_each = var.volumes
      iterator = vol
      content {
        name = vol.key
      }
    }
  }
  lifecycle {
    ignore_changes = [template[0].annotations]
    postcondition {
      condition     = self.uri != ""
      error_message = "no uri"
    }
  }
}
"#,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let want: BTreeSet<String> = ["var.services", "var.volumes"].map(String::from).into();
    assert_eq!(found, want);
}

#[test]
fn walker_flags_names_that_resolve_to_nothing() {
    let (_, problems) = refs_in(
        r"
locals {
  a = containers.value
  b = [for x in var.l : y]
  c = var
}
",
    );
    assert!(
        problems.iter().any(|p| p.contains("bare name `y`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`var` must be followed")),
        "{problems:?}"
    );
    // `containers.value` outside its dynamic block is a reference to a
    // resource type "containers", which is not declared.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "locals {\n  a = containers.value\n}\n",
    )
    .unwrap();
    let config = Config::load(dir.path()).unwrap();
    assert!(
        refs::check(&config)
            .iter()
            .any(|p| p.contains("undeclared resource containers.value")),
    );
}
