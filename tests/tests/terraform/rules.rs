//! The deployment's rules, checked on the parsed configuration:
//!
//! - each Cloud Run service runs one of the workspace's service binaries
//!   (found from its image name) and sets only environment variables that
//!   binary reads, every required one, the cloud back end rather than the
//!   local one, and never what Cloud Run sets itself (`PORT`);
//! - the push subscription delivers to a service with an OIDC token whose
//!   account and audience are the ones that service verifies, dead-letters
//!   after a bounded number of attempts, retries with backoff, and waits
//!   longer than the service's job deadline;
//! - a push or Cloud Tasks target is private: only the push account may
//!   invoke it; the other service is public, since Discord has no Google
//!   credentials;
//! - runtime accounts get their grants on single resources (publisher on
//!   the topic the push subscription reads, object roles on the bucket the
//!   service writes, accessor on the secrets it reads), never project-wide;
//! - secret values are written write-only (never kept in the state) by a
//!   Terraform that has write-only arguments, and a scheduled job's message
//!   carries no webhook URL, only the name of a secret the push target may
//!   read;
//! - each design (`var.topology`) has its services, roles, queue and the
//!   settings that tie them together (`designs.rs`).
//!
//! The checker runs on one design's instance of the configuration
//! ([`crate::instance`]); relations between numbers are evaluated under
//! every scenario of that design ([`crate::eval`]). This file finds the
//! services and checks their variables and environment; `push.rs` checks
//! the push subscriptions, `access.rs` the IAM grants, `secrets.rs` the
//! secrets and `designs.rs` the designs and the Cloud Tasks queue.

use std::collections::BTreeMap;

use hcl::Body;
use hcl::expr::Expression;

#[path = "access.rs"]
mod access;
#[path = "designs.rs"]
mod designs;
#[path = "push.rs"]
mod push;
#[path = "secrets.rs"]
mod secrets;

use access::{is_account, members_of};

use crate::eval::Scenario;
use crate::hclx::{Config, Labeled, attr, block, blocks, body_at, render, traversal_path};

/// What one binary reads: its environment variables and whether clap
/// requires each.
#[derive(Debug, Clone)]
pub struct Settings {
    pub binary: String,
    pub env: BTreeMap<String, bool>,
}

impl Settings {
    /// From a binary's `clap::Command` (the `Config` struct's definition).
    pub fn of(cmd: &clap::Command) -> Settings {
        let env = cmd
            .get_arguments()
            .filter_map(|a| {
                a.get_env()
                    .map(|e| (e.to_string_lossy().into_owned(), a.is_required_set()))
            })
            .collect();
        Settings {
            binary: cmd.get_name().to_owned(),
            env,
        }
    }

    fn reads(&self, name: &str) -> bool {
        self.env.contains_key(name)
    }
}

/// Variables Cloud Run sets in every container; setting them is refused or
/// ignored.
const CLOUD_RUN_RESERVED: &[&str] = &["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"];

/// Settings that choose a back end: on Cloud Run the first must be set and
/// the second (the one-machine alternative) must not. (Where jobs go,
/// PUBSUB_TOPIC or CLOUD_TASKS_QUEUE, depends on the design: `designs.rs`.)
const CLOUD_CHOICES: &[(&str, &str)] = &[("BUCKET", "LOCAL_STORE_DIR")];

/// Roles whose members may run or call a Cloud Run service.
const INVOKER_ROLES: &[&str] = &[
    "roles/run.invoker",
    "roles/run.admin",
    "roles/run.developer",
];

const PUBLIC_MEMBERS: &[&str] = &["allUsers", "allAuthenticatedUsers"];

/// The two service binaries (and images).
const INGRESS_BINARY: &str = "mandala-ingress";
const WORKER_BINARY: &str = "mandala-worker";

/// A Cloud Run service and what it runs.
struct Service<'a> {
    res: Labeled<'a>,
    template: &'a Body,
    /// What the binary reads; with WORKER_ROLE=single, the worker's and the
    /// ingress's settings together (it reads both from one environment).
    settings: Settings,
    /// The worker's WORKER_ROLE (`all` unless set); `None` for the ingress.
    role: Option<String>,
    /// Environment variable name to its plain value or its secret reference.
    env: BTreeMap<String, Env<'a>>,
    /// `X` of `google_service_account.X`, the runtime identity.
    account: Option<String>,
}

enum Env<'a> {
    Plain(&'a Expression),
    Secret(&'a Body),
}

impl Service<'_> {
    fn address(&self) -> String {
        self.res.address()
    }
}

pub struct Checker<'a> {
    config: &'a Config,
    /// The design this instance of the configuration is (`var.topology`).
    topology: &'a str,
    locals: BTreeMap<&'a str, &'a Expression>,
    scenarios: &'a [Scenario],
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    pub fn new(config: &'a Config, scenarios: &'a [Scenario], topology: &'a str) -> Self {
        Checker {
            config,
            topology,
            locals: config.locals(),
            scenarios,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn render(&self, e: &Expression) -> String {
        render(e, &self.locals)
    }

    /// Runs every rule; the binaries are those whose configuration is known.
    pub fn run(mut self, binaries: &'a [Settings]) -> Vec<String> {
        self.variables();
        let services = self.services(binaries);
        for s in &services {
            self.environment(s);
            self.least_privilege(s);
            self.resources_used(s);
        }
        for s in &services {
            self.publisher(s);
            self.worker_role(s);
        }
        for settings in binaries {
            // In single the worker image is the interactions endpoint too.
            if self.topology == "single" && settings.binary != WORKER_BINARY {
                continue;
            }
            if !services
                .iter()
                .any(|s| s.settings.binary == settings.binary)
            {
                self.problem(format!(
                    "no google_cloud_run_v2_service runs {} (no container image named .../{}:TAG)",
                    settings.binary, settings.binary
                ));
            }
        }
        let mut targets = self.push_subscriptions(&services);
        targets.extend(self.tasks_queues(&services));
        self.design(&services, &targets);
        for s in &services {
            if targets.contains(s.res.name) {
                self.private(s);
            } else {
                self.public(s);
            }
        }
        self.scheduled_jobs(&services, &targets);
        self.secrets_out_of_state();
        self.project_iam();
        self.problems
    }

    /// Every variable is typed and described; every non-bool one validated.
    fn variables(&mut self) {
        let vars: Vec<(String, String, bool, bool, bool, bool)> = self
            .config
            .variables()
            .into_iter()
            .map(|(name, (file, body))| {
                let ty = attr(body, "type");
                let described = matches!(attr(body, "description"), Some(Expression::String(s)) if !s.trim().is_empty());
                let is_bool = ty.is_some_and(|t| t.to_string() == "bool");
                (
                    name.to_owned(),
                    file.to_owned(),
                    ty.is_some(),
                    described,
                    is_bool,
                    block(body, "validation").is_some(),
                )
            })
            .collect();
        for (name, file, typed, described, is_bool, validated) in vars {
            if file != "variables.tf" {
                self.problem(format!(
                    "variable {name} is declared in {file}; inputs belong in variables.tf"
                ));
            }
            if !typed {
                self.problem(format!("variable {name} has no type"));
            }
            if !described {
                self.problem(format!("variable {name} has no description"));
            }
            if !is_bool && !validated {
                self.problem(format!("variable {name} has no validation block"));
            }
        }
    }

    fn services(&mut self, binaries: &'a [Settings]) -> Vec<Service<'a>> {
        let mut out = Vec::new();
        for res in self.config.resources("google_cloud_run_v2_service") {
            let addr = res.address();
            let Some(template) = body_at(res.body, &["template"]) else {
                self.problem(format!("{addr} has no template block"));
                continue;
            };
            let containers: Vec<_> = blocks(template, "containers").collect();
            let [container] = containers.as_slice() else {
                self.problem(format!(
                    "{addr} must have exactly one containers block (has {})",
                    containers.len()
                ));
                continue;
            };
            let container = container.body();
            let Some(image) = attr(container, "image") else {
                self.problem(format!("{addr} has no container image"));
                continue;
            };
            let image = self.render(image);
            let binary = image_binary(&image);
            let Some(settings) = binaries.iter().find(|s| s.binary == binary) else {
                let known: Vec<_> = binaries.iter().map(|s| s.binary.as_str()).collect();
                self.problem(format!(
                    "{addr} runs image {image}: {binary:?} is not one of the service binaries {known:?}"
                ));
                continue;
            };
            let mut settings = settings.clone();
            let mut env = BTreeMap::new();
            for b in container.blocks() {
                match b.identifier() {
                    "env" => {}
                    "dynamic" if b.labels().first().is_some_and(|l| l.as_str() == "env") => {
                        self.problem(format!(
                            "{addr}: a dynamic \"env\" block cannot be checked; list each variable"
                        ));
                        continue;
                    }
                    _ => continue,
                }
                let name = match attr(b.body(), "name") {
                    Some(Expression::String(n)) => n.clone(),
                    other => {
                        self.problem(format!(
                            "{addr}: env name must be a literal string, got {other:?}"
                        ));
                        continue;
                    }
                };
                let value = if let Some(v) = attr(b.body(), "value") {
                    Env::Plain(v)
                } else if let Some(r) = body_at(b.body(), &["value_source", "secret_key_ref"]) {
                    Env::Secret(r)
                } else {
                    self.problem(format!("{addr}: env {name} has neither value nor secret"));
                    continue;
                };
                if env.insert(name.clone(), value).is_some() {
                    self.problem(format!("{addr}: env {name} is set twice"));
                }
            }
            let account = attr(template, "service_account").and_then(|e| {
                traversal_path(e)
                    .filter(|p| p.len() == 3 && p[0] == "google_service_account" && p[2] == "email")
                    .map(|p| p[1].clone())
            });
            if account.is_none() {
                self.problem(format!(
                    "{addr}: template.service_account must be google_service_account.X.email \
                     (a dedicated runtime account, not the default compute account)"
                ));
            }
            let role = (settings.binary == WORKER_BINARY).then(|| match env.get("WORKER_ROLE") {
                Some(Env::Plain(r)) => self.render(r),
                _ => "all".to_owned(),
            });
            if role.as_deref() == Some("single")
                && let Some(ingress) = binaries.iter().find(|b| b.binary == INGRESS_BINARY)
            {
                for (name, required) in &ingress.env {
                    let r = settings.env.entry(name.clone()).or_insert(false);
                    *r = *r || *required;
                }
            }
            out.push(Service {
                res,
                template,
                settings,
                role,
                env,
                account,
            });
        }
        if out.is_empty() && self.problems.is_empty() {
            self.problem("no google_cloud_run_v2_service found");
        }
        out
    }

    /// Every variable set is read by the binary; every required one is set;
    /// the cloud back end is chosen; nothing Cloud Run reserves is set.
    fn environment(&mut self, s: &Service) {
        let addr = s.address();
        let bin = &s.settings.binary;
        let reads: Vec<&str> = s.settings.env.keys().map(String::as_str).collect();
        for name in s.env.keys() {
            if CLOUD_RUN_RESERVED.contains(&name.as_str()) {
                self.problem(format!(
                    "{addr} sets {name}, which Cloud Run sets itself: remove it"
                ));
            } else if !s.settings.reads(name) {
                self.problem(format!(
                    "{addr} sets {name}, but {bin} does not read it (it reads {reads:?})"
                ));
            }
            if name.starts_with("LOCAL_") || name.ends_with("_EMULATOR_HOST") {
                self.problem(format!(
                    "{addr} sets {name}, a setting for local runs, on Cloud Run"
                ));
            }
        }
        for (name, required) in &s.settings.env {
            if *required && !s.env.contains_key(name) {
                self.problem(format!("{addr} does not set {name}, which {bin} requires"));
            }
        }
        for (cloud, local) in CLOUD_CHOICES {
            if s.settings.reads(cloud) && !s.env.contains_key(*cloud) {
                self.problem(format!(
                    "{addr} does not set {cloud}: on Cloud Run {bin} must use it rather than {local}"
                ));
            }
        }
        for (name, value) in &s.env {
            if let Env::Secret(r) = value {
                self.secret_env(s, name, r);
            }
        }
    }

    /// A secret-backed variable names a secret this service's account may read.
    fn secret_env(&mut self, s: &Service, name: &str, r: &Body) {
        let addr = s.address();
        let secret = attr(r, "secret")
            .and_then(traversal_path)
            .filter(|p| p.len() == 3 && p[0] == "google_secret_manager_secret");
        let Some(secret) = secret else {
            self.problem(format!(
                "{addr}: env {name} must reference google_secret_manager_secret.X.secret_id"
            ));
            return;
        };
        if attr(r, "version").is_none() {
            self.problem(format!("{addr}: env {name} has no secret version"));
        }
        let Some(account) = &s.account else { return };
        let target = format!("google_secret_manager_secret.{}", secret[1]);
        let granted = self.grants(
            "google_secret_manager_secret_iam_member",
            "secret_id",
            &target,
        );
        if !granted.iter().any(|(role, member)| {
            role == "roles/secretmanager.secretAccessor" && is_account(member, account)
        }) {
            self.problem(format!(
                "{addr} reads {target} as {name}, but google_service_account.{account} has no \
                 roles/secretmanager.secretAccessor on it"
            ));
        }
    }

    /// Runtime accounts have no project-wide roles. Some services (Firestore)
    /// grant only at the project level; such a grant must carry an IAM
    /// condition that narrows it to `resource.name ==` one resource.
    fn least_privilege(&mut self, s: &Service) {
        let Some(account) = &s.account else { return };
        for kind in ["google_project_iam_member", "google_project_iam_binding"] {
            for r in self.config.resources(kind) {
                let members = members_of(r.body, &self.locals);
                let narrowed = crate::hclx::block(r.body, "condition")
                    .and_then(|c| attr(&c.body, "expression"))
                    .map(|e| self.render(e))
                    .is_some_and(|text| {
                        text.contains("resource.name ==") && text.contains("${google_")
                    });
                if members.iter().any(|m| is_account(m, account)) && !narrowed {
                    self.problem(format!(
                        "{} grants google_service_account.{account} (runtime of {}) a project-wide role; \
                         grant it on the one resource it needs",
                        r.address(),
                        s.address()
                    ));
                }
            }
        }
    }
}

/// The binary an image name runs: `.../mandala-worker:TAG` is `mandala-worker`.
fn image_binary(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last).to_owned()
}
