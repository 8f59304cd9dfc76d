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
//! - the push target is private: only the push account may invoke it; the
//!   other service is public, since Discord has no Google credentials;
//! - runtime accounts get their grants on single resources (publisher on
//!   the topic the push subscription reads, object roles on the bucket the
//!   service writes, accessor on the secrets it reads), never project-wide.
//!
//! Relations between numbers are evaluated under every scenario of
//! [`crate::eval`].

use std::collections::{BTreeMap, BTreeSet};

use hcl::Body;
use hcl::expr::Expression;

use crate::eval::{Scenario, as_number, as_seconds, as_text};
use crate::hclx::{
    Config, Labeled, attr, block, blocks, body_at, normalize, render, traversal_path,
};

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
/// the second (the one-machine alternative) must not.
const CLOUD_CHOICES: &[(&str, &str)] = &[
    ("PUBSUB_TOPIC", "LOCAL_PUSH_URL"),
    ("BUCKET", "LOCAL_STORE_DIR"),
];

/// Roles whose members may run or call a Cloud Run service.
const INVOKER_ROLES: &[&str] = &[
    "roles/run.invoker",
    "roles/run.admin",
    "roles/run.developer",
];

const PUBLIC_MEMBERS: &[&str] = &["allUsers", "allAuthenticatedUsers"];

/// A Cloud Run service and what it runs.
struct Service<'a> {
    res: Labeled<'a>,
    template: &'a Body,
    settings: &'a Settings,
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
    locals: BTreeMap<&'a str, &'a Expression>,
    scenarios: &'a [Scenario],
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    pub fn new(config: &'a Config, scenarios: &'a [Scenario]) -> Self {
        Checker {
            config,
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
        for settings in binaries {
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
        let targets = self.push_subscriptions(&services);
        for s in &services {
            if targets.contains(s.res.name) {
                self.private(s);
            } else {
                self.public(s);
            }
        }
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
            out.push(Service {
                res,
                template,
                settings,
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

    /// Runtime accounts have no project-wide roles.
    fn least_privilege(&mut self, s: &Service) {
        let Some(account) = &s.account else { return };
        for kind in ["google_project_iam_member", "google_project_iam_binding"] {
            for r in self.config.resources(kind) {
                let members = members_of(r.body, &self.locals);
                if members.iter().any(|m| is_account(m, account)) {
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

    /// Checks every push subscription; returns the services they target.
    fn push_subscriptions(&mut self, services: &[Service]) -> BTreeSet<String> {
        let mut targets = BTreeSet::new();
        let subs = self.config.resources("google_pubsub_subscription");
        for sub in &subs {
            let Some(push) = body_at(sub.body, &["push_config"]) else {
                continue;
            };
            let addr = sub.address();
            let endpoint = attr(push, "push_endpoint")
                .map(|e| self.render(e))
                .unwrap_or_default();
            let Some(service) = services.iter().find(|s| {
                endpoint.contains(&format!("{}.uri", s.address()))
                    || endpoint.contains(&format!("{}.urls", s.address()))
            }) else {
                self.problem(format!(
                    "{addr} pushes to {endpoint:?}, which is not a Cloud Run service of this configuration"
                ));
                continue;
            };
            targets.insert(service.res.name.to_owned());
            self.push_subscription(sub, push, service, &subs);
        }
        if targets.is_empty() {
            self.problem("no google_pubsub_subscription pushes to a Cloud Run service");
        }
        targets
    }

    fn push_subscription(
        &mut self,
        sub: &Labeled,
        push: &Body,
        service: &Service,
        subs: &[Labeled],
    ) {
        let addr = sub.address();
        let svc = service.address();

        // OIDC: the account and audience the service verifies.
        match body_at(push, &["oidc_token"]) {
            None => self.problem(format!(
                "{addr}: push_config has no oidc_token; the private {svc} would refuse every push"
            )),
            Some(oidc) => self.oidc(&addr, oidc, service),
        }

        // Dead-lettering.
        match body_at(sub.body, &["dead_letter_policy"]) {
            None => self.problem(format!(
                "{addr} has no dead_letter_policy: a job that always fails would be retried for 7 days"
            )),
            Some(dl) => self.dead_letter(sub, dl, subs),
        }

        match body_at(sub.body, &["retry_policy"]) {
            None => self.problem(format!(
                "{addr} has no retry_policy: failed pushes would be retried immediately"
            )),
            Some(rp) => {
                let min = attr(rp, "minimum_backoff");
                let max = attr(rp, "maximum_backoff");
                if let (Some(min), Some(max)) = (min, max) {
                    for sc in self.scenarios {
                        if let (Ok(a), Ok(b)) = (sc.eval(min), sc.eval(max))
                            && let (Some(a), Some(b)) = (as_seconds(&a), as_seconds(&b))
                            && a > b
                        {
                            self.problem(format!(
                                "{addr}: minimum_backoff {a}s > maximum_backoff {b}s ({})",
                                sc.name
                            ));
                        }
                    }
                } else {
                    self.problem(format!(
                        "{addr}: retry_policy needs minimum_backoff and maximum_backoff (exponential backoff)"
                    ));
                }
            }
        }

        let never_expires = body_at(sub.body, &["expiration_policy"])
            .and_then(|e| attr(e, "ttl"))
            .is_some_and(|t| matches!(t, Expression::String(s) if s.is_empty()));
        if !never_expires {
            self.problem(format!(
                "{addr} needs expiration_policy {{ ttl = \"\" }}: an idle subscription is deleted after 31 days"
            ));
        }

        self.deadlines(sub, service);
        self.concurrency(service);
    }

    fn oidc(&mut self, addr: &str, oidc: &Body, service: &Service) {
        let svc = service.address();
        let account = attr(oidc, "service_account_email");
        let audience = attr(oidc, "audience");
        let (Some(account), Some(audience)) = (account, audience) else {
            self.problem(format!(
                "{addr}: oidc_token needs service_account_email and audience (the worker's URL)"
            ));
            return;
        };
        let Some(push_account) = traversal_path(account)
            .filter(|p| p.len() == 3 && p[0] == "google_service_account" && p[2] == "email")
            .map(|p| p[1].clone())
        else {
            self.problem(format!(
                "{addr}: oidc_token.service_account_email must be google_service_account.X.email"
            ));
            return;
        };
        if service.account.as_deref() == Some(push_account.as_str()) {
            self.problem(format!(
                "{addr} pushes as {svc}'s own runtime account; use a dedicated push account"
            ));
        }

        // The audience is the service's URL: its `uri`, or the deterministic
        // https://<name>-<project number>.<region>.run.app, which a
        // postcondition must then confirm.
        let aud = self.render(audience);
        let name = attr(service.res.body, "name")
            .map(|n| self.render(n))
            .unwrap_or_default();
        let direct = aud.contains(&format!("{svc}.uri"));
        let deterministic = !name.is_empty()
            && aud.starts_with(&format!("https://{name}-"))
            && aud.ends_with(".run.app");
        if !direct && !deterministic {
            self.problem(format!(
                "{addr}: oidc_token.audience {aud:?} is not {svc}'s URL"
            ));
        }
        if deterministic && !direct {
            let checked = body_at(service.res.body, &["lifecycle"]).is_some_and(|l| {
                blocks(l, "postcondition").any(|p| {
                    attr(p.body(), "condition").is_some_and(|c| {
                        let c = c.to_string();
                        c.contains("self.urls") && normalize_text(&c, &self.locals).contains(&aud)
                    })
                })
            });
            if !checked {
                self.problem(format!(
                    "{addr}: the audience {aud:?} is computed, but {svc} has no postcondition \
                     checking it is among self.urls"
                ));
            }
        }

        // The service verifies the same audience and account.
        self.same_as_env(service, "PUSH_AUDIENCE", audience, "oidc_token.audience");
        self.same_as_env(
            service,
            "PUSH_SERVICE_ACCOUNT",
            account,
            "oidc_token.service_account_email",
        );

        // Only the push account may invoke the service.
        let invokers = self.invokers(service);
        if !invokers.iter().any(|(_, m)| is_account(m, &push_account)) {
            self.problem(format!(
                "google_service_account.{push_account} (the push account) has no roles/run.invoker on {svc}"
            ));
        }
        for (res, member) in &invokers {
            if !is_account(member, &push_account) && !is_public(member) {
                self.problem(format!(
                    "{res} lets {member} invoke {svc}; only the push account google_service_account.{push_account} may"
                ));
            }
        }
    }

    /// The binary's variable `name`, when it reads it, is set to the same
    /// value as the subscription's `what`.
    fn same_as_env(&mut self, service: &Service, name: &str, expected: &Expression, what: &str) {
        if !service.settings.reads(name) {
            return;
        }
        let svc = service.address();
        match service.env.get(name) {
            Some(Env::Plain(v)) => {
                let a = normalize(v, &self.locals);
                let b = normalize(expected, &self.locals);
                if a != b {
                    self.problem(format!(
                        "{svc} sets {name} = {} but the push subscription's {what} is {}",
                        self.render(v),
                        self.render(expected)
                    ));
                }
            }
            Some(Env::Secret(_)) => {}
            None => self.problem(format!(
                "{svc} does not set {name}; it must equal the push subscription's {what} so the \
                 service verifies the push token"
            )),
        }
    }

    fn dead_letter(&mut self, sub: &Labeled, dl: &Body, subs: &[Labeled]) {
        let addr = sub.address();
        let topic = attr(dl, "dead_letter_topic")
            .and_then(traversal_path)
            .filter(|p| p.len() >= 2 && p[0] == "google_pubsub_topic")
            .map(|p| format!("google_pubsub_topic.{}", p[1]));
        let Some(topic) = topic else {
            self.problem(format!(
                "{addr}: dead_letter_policy.dead_letter_topic must reference a google_pubsub_topic"
            ));
            return;
        };
        let source = attr(sub.body, "topic")
            .map(|t| self.render(t))
            .unwrap_or_default();
        if source.contains(&format!("{topic}.")) {
            self.problem(format!("{addr} dead-letters into its own topic {topic}"));
        }
        match attr(dl, "max_delivery_attempts") {
            None => self.problem(format!(
                "{addr}: dead_letter_policy has no max_delivery_attempts"
            )),
            Some(m) => {
                for sc in self.scenarios {
                    match sc.eval(m).ok().as_ref().and_then(as_number) {
                        Some(n) if (5.0..=100.0).contains(&n) => {}
                        other => self.problem(format!(
                            "{addr}: max_delivery_attempts must be 5..=100, is {other:?} ({})",
                            sc.name
                        )),
                    }
                }
            }
        }
        // Someone can look at what was dead-lettered.
        let inspected = subs.iter().any(|s| {
            body_at(s.body, &["push_config"]).is_none()
                && attr(s.body, "topic")
                    .is_some_and(|t| self.render(t).contains(&format!("{topic}.")))
        });
        if !inspected {
            self.problem(format!(
                "{topic} (dead letters of {addr}) has no pull subscription: dead-lettered jobs would be lost"
            ));
        }
        // The Pub/Sub service agent may publish there and acknowledge here.
        let agent = |m: &String| m.contains("@gcp-sa-pubsub.iam.gserviceaccount.com");
        if !self
            .grants("google_pubsub_topic_iam_member", "topic", &topic)
            .iter()
            .any(|(role, m)| role == "roles/pubsub.publisher" && agent(m))
        {
            self.problem(format!(
                "the Pub/Sub service agent has no roles/pubsub.publisher on {topic}: dead-lettering would fail"
            ));
        }
        if !self
            .grants(
                "google_pubsub_subscription_iam_member",
                "subscription",
                &addr,
            )
            .iter()
            .any(|(role, m)| role == "roles/pubsub.subscriber" && agent(m))
        {
            self.problem(format!(
                "the Pub/Sub service agent has no roles/pubsub.subscriber on {addr}: dead-lettering would fail"
            ));
        }
    }

    /// ack deadline > JOB_DEADLINE_SECS, and the request timeout between.
    fn deadlines(&mut self, sub: &Labeled, service: &Service) {
        let addr = sub.address();
        let svc = service.address();
        let Some(ack) = attr(sub.body, "ack_deadline_seconds") else {
            self.problem(format!(
                "{addr} has no ack_deadline_seconds (the default, 10 s, is below any render's deadline)"
            ));
            return;
        };
        let job = match (
            service.settings.reads("JOB_DEADLINE_SECS"),
            service.env.get("JOB_DEADLINE_SECS"),
        ) {
            (false, _) => return,
            (true, Some(Env::Plain(v))) => *v,
            (true, _) => {
                self.problem(format!(
                    "{svc} does not set JOB_DEADLINE_SECS; it must be set below {addr}'s ack deadline"
                ));
                return;
            }
        };
        let timeout = attr(service.template, "timeout");
        for sc in self.scenarios {
            let ack_v = sc.eval(ack).ok().as_ref().and_then(as_number);
            let job_v = sc.eval(job).ok().as_ref().and_then(as_number);
            let (Some(ack_v), Some(job_v)) = (ack_v, job_v) else {
                self.problem(format!(
                    "cannot evaluate {addr}.ack_deadline_seconds ({}) or {svc}'s JOB_DEADLINE_SECS ({}) from the inputs ({})",
                    ack, job, sc.name
                ));
                continue;
            };
            if ack_v <= job_v {
                self.problem(format!(
                    "{addr}: ack_deadline_seconds {ack_v} is not above {svc}'s JOB_DEADLINE_SECS {job_v} ({}): \
                     Pub/Sub would redeliver jobs still being worked on",
                    sc.name
                ));
            }
            if ack_v > 600.0 {
                self.problem(format!(
                    "{addr}: ack_deadline_seconds {ack_v} is above Pub/Sub's limit of 600 ({})",
                    sc.name
                ));
            }
            match timeout.map(|t| sc.eval(t)) {
                Some(Ok(t)) => match as_seconds(&t) {
                    Some(t) if t > job_v => {}
                    t => self.problem(format!(
                        "{svc}: request timeout {t:?} s is not above JOB_DEADLINE_SECS {job_v} ({})",
                        sc.name
                    )),
                },
                Some(Err(e)) => self.problem(format!("{svc}: timeout does not evaluate: {e}")),
                None => self.problem(format!(
                    "{svc} has no template.timeout; set it a little above JOB_DEADLINE_SECS"
                )),
            }
        }
    }

    /// RENDER_CONCURRENCY = request concurrency = vCPUs.
    fn concurrency(&mut self, service: &Service) {
        if !service.settings.reads("RENDER_CONCURRENCY") {
            return;
        }
        let svc = service.address();
        let Some(Env::Plain(render_env)) = service.env.get("RENDER_CONCURRENCY") else {
            self.problem(format!(
                "{svc} does not set RENDER_CONCURRENCY; it must equal max_instance_request_concurrency"
            ));
            return;
        };
        let Some(conc) = attr(service.template, "max_instance_request_concurrency") else {
            self.problem(format!(
                "{svc} has no max_instance_request_concurrency (Cloud Run's default, 80, would overload the renderer)"
            ));
            return;
        };
        let cpu =
            body_at(service.template, &["containers", "resources"]).and_then(|r| attr(r, "limits"));
        for sc in self.scenarios {
            let r = sc.eval(render_env).ok().as_ref().and_then(as_text);
            let c = sc.eval(conc).ok().as_ref().and_then(as_text);
            if r.is_none() || r != c {
                self.problem(format!(
                    "{svc}: RENDER_CONCURRENCY ({r:?}) differs from max_instance_request_concurrency ({c:?}) ({})",
                    sc.name
                ));
            }
            let v = cpu.and_then(|l| sc.eval(l).ok()).and_then(|l| match l {
                hcl::Value::Object(o) => o.get("cpu").and_then(as_text),
                _ => None,
            });
            if v.is_none() || v != r {
                self.problem(format!(
                    "{svc}: RENDER_CONCURRENCY ({r:?}) differs from the container's vCPUs ({v:?}) ({})",
                    sc.name
                ));
            }
        }
    }

    /// The push target: no public access, no IAM bypass.
    fn private(&mut self, s: &Service) {
        let svc = s.address();
        for (res, member) in self.all_members_on(s) {
            if is_public(&member) {
                self.problem(format!(
                    "{res} makes {svc} (the push target) invocable by {member}; only the push account may invoke it"
                ));
            }
        }
        if let Some(Expression::Bool(true)) = attr(s.res.body, "invoker_iam_disabled") {
            self.problem(format!(
                "{svc} sets invoker_iam_disabled: anyone could invoke the push target"
            ));
        }
    }

    /// The interactions endpoint: Discord calls it without Google credentials.
    fn public(&mut self, s: &Service) {
        let svc = s.address();
        let public = self.invokers(s).iter().any(|(_, m)| m == "allUsers");
        let iam_off = matches!(
            attr(s.res.body, "invoker_iam_disabled"),
            Some(Expression::Bool(true))
        );
        if !public && !iam_off {
            self.problem(format!(
                "{svc} is not invocable by allUsers: Discord could not reach it"
            ));
        }
    }

    /// The topic a service publishes to and the bucket it writes are the
    /// ones the rest of the configuration uses, and it may use them.
    fn resources_used(&mut self, s: &Service) {
        let svc = s.address();
        // It publishes to the topic the push subscription reads, and may.
        if let Some(Env::Plain(topic)) = s.env.get("PUBSUB_TOPIC") {
            let topic = self.render(topic);
            let read = self
                .config
                .resources("google_pubsub_subscription")
                .iter()
                .filter(|sub| body_at(sub.body, &["push_config"]).is_some())
                .filter_map(|sub| attr(sub.body, "topic").map(|t| self.render(t)))
                .any(|t| same_topic(&t, &topic));
            if !read {
                self.problem(format!(
                    "{svc} publishes to {topic}, which no push subscription reads"
                ));
            }
            if let (Some(account), Some(t)) = (&s.account, topic_address(&topic)) {
                let ok = self
                    .grants("google_pubsub_topic_iam_member", "topic", &t)
                    .iter()
                    .any(|(role, m)| role == "roles/pubsub.publisher" && is_account(m, account));
                if !ok {
                    self.problem(format!(
                        "google_service_account.{account} ({svc}'s runtime) has no roles/pubsub.publisher on {t}"
                    ));
                }
            }
        }
        // A service that stores images may create them in that bucket.
        if let Some(Env::Plain(bucket)) = s.env.get("BUCKET") {
            self.bucket_writer(s, bucket);
        }
    }

    fn bucket_writer(&mut self, s: &Service, bucket: &Expression) {
        let svc = s.address();
        let Some(b) = traversal_path(bucket)
            .filter(|p| p.len() == 3 && p[0] == "google_storage_bucket")
            .map(|p| format!("google_storage_bucket.{}", p[1]))
        else {
            self.problem(format!(
                "{svc}: BUCKET must reference google_storage_bucket.X.name"
            ));
            return;
        };
        let Some(account) = &s.account else { return };
        let grants = self.grants("google_storage_bucket_iam_member", "bucket", &b);
        let mine: Vec<&str> = grants
            .iter()
            .filter(|(_, m)| is_account(m, account))
            .map(|(r, _)| r.as_str())
            .collect();
        if !mine
            .iter()
            .any(|r| *r == "roles/storage.objectCreator" || *r == "roles/storage.objectAdmin")
        {
            self.problem(format!(
                "google_service_account.{account} ({svc}'s runtime) cannot create objects in {b}"
            ));
        }
    }

    /// Project-level grants that would open every service.
    fn project_iam(&mut self) {
        for kind in ["google_project_iam_member", "google_project_iam_binding"] {
            for r in self.config.resources(kind) {
                let role = attr(r.body, "role")
                    .map(|e| self.render(e))
                    .unwrap_or_default();
                let members = members_of(r.body, &self.locals);
                if INVOKER_ROLES.contains(&role.as_str()) {
                    self.problem(format!(
                        "{} grants {role} project-wide, which opens the private worker to {members:?}",
                        r.address()
                    ));
                }
                if let Some(m) = members.iter().find(|m| is_public(m)) {
                    self.problem(format!("{} grants {role} to {m} project-wide", r.address()));
                }
            }
        }
        if !self
            .config
            .resources("google_project_iam_policy")
            .is_empty()
        {
            self.problem(
                "google_project_iam_policy replaces the project's whole policy; use iam_member",
            );
        }
    }

    /// (resource address, member) of every invoker-role grant on `s`.
    fn invokers(&mut self, s: &Service) -> Vec<(String, String)> {
        self.members_on(s, true)
    }

    fn all_members_on(&mut self, s: &Service) -> Vec<(String, String)> {
        self.members_on(s, false)
    }

    fn members_on(&mut self, s: &Service, invokers_only: bool) -> Vec<(String, String)> {
        let svc = s.address();
        let mut out = Vec::new();
        let iam: Vec<Labeled> = self
            .config
            .labeled("resource", None)
            .into_iter()
            .filter(|r| r.kind.starts_with("google_cloud_run") && r.kind.contains("_iam_"))
            .collect();
        for r in iam {
            let target = attr(r.body, "name")
                .or_else(|| attr(r.body, "service"))
                .map(|e| self.render(e))
                .unwrap_or_default();
            if !target.contains(&format!("{svc}.")) {
                continue;
            }
            if r.kind.ends_with("_iam_policy") {
                self.problem(format!(
                    "{} sets {svc}'s whole IAM policy; use iam_member so the members can be checked",
                    r.address()
                ));
                continue;
            }
            let role = attr(r.body, "role")
                .map(|e| self.render(e))
                .unwrap_or_default();
            if invokers_only && !INVOKER_ROLES.contains(&role.as_str()) {
                continue;
            }
            for m in members_of(r.body, &self.locals) {
                out.push((r.address(), m));
            }
        }
        out
    }

    /// (role, member) of every `kind` resource whose `target_attr`
    /// references `target` (an address like `google_pubsub_topic.jobs`).
    fn grants(&self, kind: &str, target_attr: &str, target: &str) -> Vec<(String, String)> {
        self.config
            .resources(kind)
            .iter()
            .filter(|r| {
                attr(r.body, target_attr)
                    .is_some_and(|e| self.render(e).contains(&format!("{target}.")))
            })
            .flat_map(|r| {
                let role = attr(r.body, "role")
                    .map(|e| self.render(e))
                    .unwrap_or_default();
                members_of(r.body, &self.locals)
                    .into_iter()
                    .map(move |m| (role.clone(), m))
            })
            .collect()
    }
}

/// `member` or each of `members`, rendered.
fn members_of(body: &Body, locals: &BTreeMap<&str, &Expression>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = attr(body, "member") {
        out.push(render(m, locals));
    }
    if let Some(ms) = attr(body, "members") {
        match ms {
            Expression::Array(items) => out.extend(items.iter().map(|m| render(m, locals))),
            other => out.push(render(other, locals)),
        }
    }
    out
}

/// Whether a rendered member is `google_service_account.X`.
fn is_account(member: &str, account: &str) -> bool {
    member == format!("${{google_service_account.{account}.member}}")
        || member == format!("serviceAccount:${{google_service_account.{account}.email}}")
}

fn is_public(member: &str) -> bool {
    PUBLIC_MEMBERS.iter().any(|p| member.contains(p))
}

/// The binary an image name runs: `.../mandala-worker:TAG` is `mandala-worker`.
fn image_binary(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last).to_owned()
}

/// `google_pubsub_topic.X` from a rendered `${google_pubsub_topic.X.id}`.
fn topic_address(rendered: &str) -> Option<String> {
    let start = rendered.find("google_pubsub_topic.")?;
    let rest = &rendered[start..];
    let mut parts = rest.split('.');
    let kind = parts.next()?;
    let name: String = parts
        .next()?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    Some(format!("{kind}.{name}"))
}

fn same_topic(a: &str, b: &str) -> bool {
    match (topic_address(a), topic_address(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A condition's text with `local.X` spelled out (for a substring test).
fn normalize_text(text: &str, locals: &BTreeMap<&str, &Expression>) -> String {
    let mut out = text.to_owned();
    for (name, def) in locals {
        let needle = format!("local.{name}");
        if out.contains(&needle) {
            out = out.replace(&needle, &render(def, locals));
        }
    }
    out
}
