//! Rules for the designs (`var.topology`; docs/DEPLOY.md, Designs), each
//! checked on its own instance of the configuration:
//!
//! - where jobs go: the ingress publishes to the jobs topic (`pubsub`,
//!   `pubsub-split`) or creates Cloud Tasks (`cloud-tasks`), never both and
//!   never the one-machine delivery; `WORKER_ROLE=single` queues in its own
//!   process and sets none of them;
//! - worker roles: `REPLY_TOPIC` only and always with `render`,
//!   `INLINE_RENDER_MAX_MS` only with `single`;
//! - each design's shape: `single` is one public service from the worker
//!   image with CPU always allocated and no topic or queue; `pubsub` an
//!   ingress and a worker; `pubsub-split` adds a replier (private, behind
//!   its own authenticated, dead-lettered push subscription on the topic
//!   the render worker publishes to, reading but never writing the
//!   bucket); `cloud-tasks` an ingress, a Cloud Tasks queue and a worker;
//! - the Cloud Tasks queue: the ingress may enqueue and act as the token's
//!   account, the token is the one the worker verifies, only that account
//!   may invoke the worker, `max_attempts` is the worker's
//!   `MAX_DELIVERY_ATTEMPTS`, backoff grows, dispatches at once fit the
//!   workers, the dispatch deadline outlasts the worker's request timeout,
//!   and the Cloud Tasks API is enabled.

use std::collections::BTreeSet;

use hcl::expr::Expression;

use super::access::{is_account, is_public};
use super::{Checker, Env, Service};
use crate::eval::{as_number, as_seconds, as_text};
use crate::hclx::{attr, body_at, normalize, traversal_path};

/// The settings that choose where an ingress queues jobs.
const PUBLISHERS: &[&str] = &["PUBSUB_TOPIC", "CLOUD_TASKS_QUEUE", "LOCAL_PUSH_URL"];

/// Settings that mean something only with CLOUD_TASKS_QUEUE.
const TASKS_ONLY: &[&str] = &[
    "CLOUD_TASKS_URL",
    "CLOUD_TASKS_SERVICE_ACCOUNT",
    "CLOUD_TASKS_AUDIENCE",
];

/// The worker's roles (its `Role` value enum).
const ROLES: &[&str] = &["all", "render", "reply", "single"];

/// How long Cloud Tasks waits for an HTTP task's answer when the task sets
/// no `dispatch_deadline` (the ingress sets none): 10 minutes.
const TASKS_DEFAULT_DISPATCH_DEADLINE_SECS: f64 = 600.0;

impl Checker<'_> {
    /// Where this service queues jobs, as its design needs.
    pub(super) fn publisher(&mut self, s: &Service) {
        if !s.settings.reads("PUBSUB_TOPIC") {
            return;
        }
        let addr = s.address();
        let set: Vec<&str> = PUBLISHERS
            .iter()
            .copied()
            .filter(|p| s.env.contains_key(*p))
            .collect();
        if s.role.as_deref() == Some("single") {
            for var in set
                .iter()
                .chain(TASKS_ONLY.iter().filter(|v| s.env.contains_key(**v)))
            {
                self.problem(format!(
                    "{addr} sets {var}, but WORKER_ROLE=single queues jobs in its own process \
                     (the binary refuses to start): unset it"
                ));
            }
            return;
        }
        let wanted = match self.topology {
            "cloud-tasks" => "CLOUD_TASKS_QUEUE",
            _ => "PUBSUB_TOPIC",
        };
        if set.len() > 1 {
            self.problem(format!(
                "{addr} sets {}: set exactly one place for jobs (the binary refuses to start)",
                set.join(" and ")
            ));
        }
        if !s.env.contains_key(wanted) {
            self.problem(format!(
                "{addr} does not set {wanted}: in the {} design the ingress queues jobs there",
                self.topology
            ));
        }
        for other in set.iter().filter(|p| **p != wanted) {
            if *other != "LOCAL_PUSH_URL" {
                self.problem(format!(
                    "{addr} sets {other}, which is not how the {} design queues jobs ({wanted})",
                    self.topology
                ));
            }
        }
        if !s.env.contains_key("CLOUD_TASKS_QUEUE") {
            for var in TASKS_ONLY.iter().filter(|v| s.env.contains_key(**v)) {
                self.problem(format!(
                    "{addr} sets {var}, which only applies with CLOUD_TASKS_QUEUE (the binary refuses to start)"
                ));
            }
        }
    }

    /// The worker's role and the settings only some roles take.
    pub(super) fn worker_role(&mut self, s: &Service) {
        let Some(role) = s.role.clone() else { return };
        let addr = s.address();
        if !ROLES.contains(&role.as_str()) {
            self.problem(format!(
                "{addr}: WORKER_ROLE {role:?} is not one of {ROLES:?}"
            ));
            return;
        }
        match (role.as_str(), s.env.contains_key("REPLY_TOPIC")) {
            ("render", false) => self.problem(format!(
                "{addr}: WORKER_ROLE=render needs REPLY_TOPIC, where the reply jobs go"
            )),
            (r, true) if r != "render" => self.problem(format!(
                "{addr} sets REPLY_TOPIC, which only applies with WORKER_ROLE=render (the binary refuses to start)"
            )),
            _ => {}
        }
        if role != "single" && s.env.contains_key("INLINE_RENDER_MAX_MS") {
            self.problem(format!(
                "{addr} sets INLINE_RENDER_MAX_MS, which only WORKER_ROLE=single reads"
            ));
        }
    }

    /// The services and queues of this design.
    pub(super) fn design(&mut self, services: &[Service], targets: &BTreeSet<String>) {
        let topology = self.topology;
        let roles: Vec<(String, Option<String>)> = services
            .iter()
            .map(|s| (s.address(), s.role.clone()))
            .collect();
        let count = |role: Option<&str>| roles.iter().filter(|(_, r)| r.as_deref() == role).count();
        let expected: &[(Option<&str>, &str)] = match topology {
            "single" => &[(Some("single"), "the one service (WORKER_ROLE=single)")],
            "pubsub" | "cloud-tasks" => &[
                (None, "an ingress"),
                (Some("all"), "a worker (WORKER_ROLE=all)"),
            ],
            "pubsub-split" => &[
                (None, "an ingress"),
                (Some("render"), "a render worker (WORKER_ROLE=render)"),
                (Some("reply"), "a replier (WORKER_ROLE=reply)"),
            ],
            other => {
                self.problem(format!("unknown topology {other:?}"));
                return;
            }
        };
        for (role, what) in expected {
            if count(*role) != 1 {
                self.problem(format!(
                    "the {topology} design needs exactly one {what}; found {}",
                    count(*role)
                ));
            }
        }
        for (addr, role) in &roles {
            if !expected.iter().any(|(r, _)| r == &role.as_deref()) {
                self.problem(format!(
                    "{addr} (role {}) has no place in the {topology} design",
                    role.as_deref().unwrap_or("ingress")
                ));
            }
        }
        let topics = self.config.resources("google_pubsub_topic").len();
        let queues = self.config.resources("google_cloud_tasks_queue").len();
        if topology != "cloud-tasks" && queues > 0 {
            self.problem(format!(
                "the {topology} design has a google_cloud_tasks_queue, which nothing uses"
            ));
        }
        if matches!(topology, "single" | "cloud-tasks") && topics > 0 {
            self.problem(format!(
                "the {topology} design has a google_pubsub_topic, which nothing uses"
            ));
        }
        for s in services {
            match s.role.as_deref() {
                Some("single") => self.single(s, targets),
                Some("reply") => self.replier(s, services, targets),
                Some("render") => self.render_worker(s, services),
                _ => {}
            }
        }
    }

    /// The one service of `single`: public, CPU always allocated, one
    /// render per vCPU.
    fn single(&mut self, s: &Service, targets: &BTreeSet<String>) {
        let addr = s.address();
        if targets.contains(s.res.name) {
            self.problem(format!(
                "{addr} (WORKER_ROLE=single) is pushed to; it is the interactions endpoint and queues jobs itself"
            ));
        }
        let cpu_idle =
            body_at(s.template, &["containers", "resources"]).and_then(|r| attr(r, "cpu_idle"));
        if !matches!(cpu_idle, Some(Expression::Bool(false))) {
            self.problem(format!(
                "{addr} (WORKER_ROLE=single) must set containers.resources.cpu_idle = false: \
                 it renders after answering, and Cloud Run throttles the CPU between requests otherwise"
            ));
        }
        self.render_slots(s);
    }

    /// RENDER_CONCURRENCY equals the container's vCPUs.
    fn render_slots(&mut self, s: &Service) {
        let addr = s.address();
        let Some(Env::Plain(render_env)) = s.env.get("RENDER_CONCURRENCY") else {
            self.problem(format!(
                "{addr} does not set RENDER_CONCURRENCY; it must equal the container's vCPUs"
            ));
            return;
        };
        let limits =
            body_at(s.template, &["containers", "resources"]).and_then(|r| attr(r, "limits"));
        for sc in self.scenarios {
            let r = sc.eval(render_env).ok().as_ref().and_then(as_text);
            let v = limits.and_then(|l| sc.eval(l).ok()).and_then(|l| match l {
                hcl::Value::Object(o) => o.get("cpu").and_then(as_text),
                _ => None,
            });
            if v.is_none() || v != r {
                self.problem(format!(
                    "{addr}: RENDER_CONCURRENCY ({r:?}) differs from the container's vCPUs ({v:?}) ({})",
                    sc.name
                ));
            }
        }
    }

    /// The replier: private behind a push subscription, reads the bucket
    /// but cannot write it.
    fn replier(&mut self, s: &Service, services: &[Service], targets: &BTreeSet<String>) {
        let addr = s.address();
        if !targets.contains(s.res.name) {
            self.problem(format!(
                "{addr} (WORKER_ROLE=reply) is not the target of a push subscription: no reply job would reach it"
            ));
        }
        // Fed by the topic a render worker publishes to.
        let fed = services
            .iter()
            .filter(|w| w.role.as_deref() == Some("render"))
            .filter_map(|w| match w.env.get("REPLY_TOPIC") {
                Some(Env::Plain(t)) => Some(self.render(t)),
                _ => None,
            })
            .any(|topic| self.pushed_from(&topic).contains(&s.address()));
        if !fed {
            self.problem(format!(
                "{addr} (WORKER_ROLE=reply) has no push subscription on a render worker's REPLY_TOPIC"
            ));
        }
    }

    /// The render worker publishes reply jobs to a topic a replier reads.
    fn render_worker(&mut self, s: &Service, services: &[Service]) {
        let addr = s.address();
        let Some(Env::Plain(topic)) = s.env.get("REPLY_TOPIC") else {
            return;
        };
        let topic = self.render(topic);
        let Some(t) = super::access::topic_address(&topic) else {
            self.problem(format!(
                "{addr}: REPLY_TOPIC must reference google_pubsub_topic.X.id (projects/P/topics/T), got {topic:?}"
            ));
            return;
        };
        let pushed_to = self.pushed_from(&topic);
        let repliers: Vec<String> = services
            .iter()
            .filter(|r| r.role.as_deref() == Some("reply"))
            .map(Service::address)
            .collect();
        if !pushed_to.iter().any(|p| repliers.contains(p)) {
            self.problem(format!(
                "{addr} publishes reply jobs to {t}, which no push subscription delivers to a replier (WORKER_ROLE=reply)"
            ));
        }
        if let Some(account) = &s.account
            && !self
                .grants("google_pubsub_topic_iam_member", "topic", &t)
                .iter()
                .any(|(role, m)| role == "roles/pubsub.publisher" && is_account(m, account))
        {
            self.problem(format!(
                "google_service_account.{account} ({addr}'s runtime) has no roles/pubsub.publisher on {t}"
            ));
        }
    }

    /// The services the push subscriptions on `topic` deliver to.
    fn pushed_from(&self, topic: &str) -> Vec<String> {
        let services: Vec<String> = self
            .config
            .resources("google_cloud_run_v2_service")
            .iter()
            .map(crate::hclx::Labeled::address)
            .collect();
        self.config
            .resources("google_pubsub_subscription")
            .iter()
            .filter(|sub| {
                attr(sub.body, "topic")
                    .is_some_and(|t| super::access::same_topic(&self.render(t), topic))
            })
            .filter_map(|sub| body_at(sub.body, &["push_config"]))
            .filter_map(|p| attr(p, "push_endpoint").map(|e| self.render(e)))
            .filter_map(|endpoint| {
                services
                    .iter()
                    .find(|a| endpoint.contains(&format!("{a}.")))
                    .cloned()
            })
            .collect()
    }

    /// A service that only reads the bucket (the replier): it may read,
    /// and may not create or overwrite.
    pub(super) fn bucket_reader(&mut self, s: &Service, bucket: &Expression) {
        let svc = s.address();
        let Some((b, account, mine)) = self.bucket_roles(s, bucket) else {
            return;
        };
        if !mine
            .iter()
            .any(|r| r == "roles/storage.objectViewer" || r == "roles/storage.objectAdmin")
        {
            self.problem(format!(
                "google_service_account.{account} ({svc}'s runtime) cannot read objects in {b}"
            ));
        }
        for r in mine.iter().filter(|r| {
            matches!(
                r.as_str(),
                "roles/storage.objectCreator" | "roles/storage.objectAdmin" | "roles/storage.admin"
            )
        }) {
            self.problem(format!(
                "google_service_account.{account} ({svc}'s runtime, WORKER_ROLE=reply) has {r} on {b}; \
                 the replier only reads what the render worker stored"
            ));
        }
    }

    /// The Cloud Tasks queues the ingress creates tasks on; returns the
    /// services they dispatch to.
    pub(super) fn tasks_queues(&mut self, services: &[Service]) -> BTreeSet<String> {
        let mut targets = BTreeSet::new();
        for s in services {
            let Some(Env::Plain(queue)) = s.env.get("CLOUD_TASKS_QUEUE") else {
                continue;
            };
            if let Some(t) = self.tasks_queue(s, queue, services) {
                targets.insert(t);
            }
        }
        if self.topology == "cloud-tasks" {
            let apis = self
                .locals
                .get("apis")
                .map(|e| self.render(e))
                .unwrap_or_default();
            if !apis.contains("cloudtasks.googleapis.com") {
                self.problem(
                    "the cloud-tasks design does not enable cloudtasks.googleapis.com (local.apis)",
                );
            }
        }
        targets
    }

    fn tasks_queue(
        &mut self,
        s: &Service,
        queue: &Expression,
        services: &[Service],
    ) -> Option<String> {
        let addr = s.address();
        let Some(q) = traversal_path(queue)
            .filter(|p| p.len() == 3 && p[0] == "google_cloud_tasks_queue" && p[2] == "id")
            .map(|p| p[1].clone())
        else {
            self.problem(format!(
                "{addr}: CLOUD_TASKS_QUEUE must be google_cloud_tasks_queue.X.id (projects/P/locations/L/queues/Q)"
            ));
            return None;
        };
        let qaddr = format!("google_cloud_tasks_queue.{q}");
        let Some(qres) = self
            .config
            .resources("google_cloud_tasks_queue")
            .into_iter()
            .find(|r| r.name == q)
        else {
            self.problem(format!(
                "{addr}: CLOUD_TASKS_QUEUE names {qaddr}, which this design does not have"
            ));
            return None;
        };

        // Where the tasks go: a worker's /tasks/run.
        let Some(Env::Plain(url)) = s.env.get("CLOUD_TASKS_URL") else {
            self.problem(format!(
                "{addr} sets CLOUD_TASKS_QUEUE without CLOUD_TASKS_URL (the binary refuses to start)"
            ));
            return None;
        };
        let url_text = self.render(url);
        let target = services.iter().find(|w| {
            let audience = match w.env.get("PUSH_AUDIENCE") {
                Some(Env::Plain(a)) => Some(self.render(a)),
                _ => None,
            };
            url_text.starts_with(&format!("${{{}.uri}}", w.address()))
                || audience.is_some_and(|a| url_text == format!("{a}/tasks/run"))
        });
        let Some(target) = target else {
            self.problem(format!(
                "{addr}: CLOUD_TASKS_URL {url_text:?} is not a worker's /tasks/run (its PUSH_AUDIENCE followed by /tasks/run)"
            ));
            return None;
        };
        let svc = target.address();
        if !url_text.ends_with("/tasks/run") {
            self.problem(format!(
                "{addr}: CLOUD_TASKS_URL {url_text:?} does not end in /tasks/run"
            ));
        }
        if !matches!(target.role.as_deref(), Some("all" | "render")) {
            self.problem(format!(
                "{addr} dispatches tasks to {svc}, whose role ({:?}) takes no /tasks/run",
                target.role
            ));
        }

        // The token: the account and audience the worker verifies.
        let account = match s.env.get("CLOUD_TASKS_SERVICE_ACCOUNT") {
            Some(Env::Plain(a)) => Some(*a),
            _ => None,
        };
        let Some(account) = account else {
            self.problem(format!(
                "{addr} sets no CLOUD_TASKS_SERVICE_ACCOUNT: tasks would carry no OIDC token and the private {svc} would refuse them"
            ));
            return Some(target.res.name.to_owned());
        };
        self.same_as_env(
            target,
            "PUSH_SERVICE_ACCOUNT",
            account,
            "the ingress's CLOUD_TASKS_SERVICE_ACCOUNT (the tasks' token account)",
        );
        let audience = match s.env.get("CLOUD_TASKS_AUDIENCE") {
            Some(Env::Plain(a)) => *a,
            _ => url,
        };
        self.same_as_env(target, "PUSH_AUDIENCE", audience, "the ingress's CLOUD_TASKS_AUDIENCE (the tasks' token audience; CLOUD_TASKS_URL when unset)");
        let Some(push_account) = traversal_path(account)
            .filter(|p| p.len() == 3 && p[0] == "google_service_account" && p[2] == "email")
            .map(|p| p[1].clone())
        else {
            self.problem(format!(
                "{addr}: CLOUD_TASKS_SERVICE_ACCOUNT must be google_service_account.X.email"
            ));
            return Some(target.res.name.to_owned());
        };
        if target.account.as_deref() == Some(push_account.as_str()) {
            self.problem(format!(
                "{addr}'s tasks carry {svc}'s own runtime account; use a dedicated push account"
            ));
        }
        let invokers = self.invokers(target);
        if !invokers.iter().any(|(_, m)| is_account(m, &push_account)) {
            self.problem(format!(
                "google_service_account.{push_account} (the tasks' token account) has no roles/run.invoker on {svc}"
            ));
        }
        for (res, member) in &invokers {
            if !is_account(member, &push_account) && !is_public(member) {
                self.problem(format!(
                    "{res} lets {member} invoke {svc}; only the push account google_service_account.{push_account} may"
                ));
            }
        }

        // The ingress may create tasks and hand them the token's account.
        if let Some(ingress_account) = &s.account {
            if !self
                .grants("google_cloud_tasks_queue_iam_member", "name", &qaddr)
                .iter()
                .any(|(r, m)| {
                    matches!(
                        r.as_str(),
                        "roles/cloudtasks.enqueuer" | "roles/cloudtasks.admin"
                    ) && is_account(m, ingress_account)
                })
            {
                self.problem(format!(
                    "google_service_account.{ingress_account} ({addr}'s runtime) has no roles/cloudtasks.enqueuer on {qaddr}"
                ));
            }
            if !self
                .grants(
                    "google_service_account_iam_member",
                    "service_account_id",
                    &format!("google_service_account.{push_account}"),
                )
                .iter()
                .any(|(r, m)| r == "roles/iam.serviceAccountUser" && is_account(m, ingress_account))
            {
                self.problem(format!(
                    "google_service_account.{ingress_account} ({addr}'s runtime) has no roles/iam.serviceAccountUser \
                     on google_service_account.{push_account}: Cloud Tasks refuses tasks whose token it may not act as"
                ));
            }
        }

        self.tasks_retries(&qaddr, qres.body, target);
        self.tasks_capacity(&qaddr, qres.body, target);
        Some(target.res.name.to_owned())
    }

    /// max_attempts is the worker's MAX_DELIVERY_ATTEMPTS (its last attempt
    /// tells the user: Cloud Tasks has no dead letters), and backoff grows.
    fn tasks_retries(&mut self, qaddr: &str, queue: &hcl::Body, target: &Service) {
        let Some(retry) = body_at(queue, &["retry_config"]) else {
            self.problem(format!(
                "{qaddr} has no retry_config: Cloud Tasks would retry a failing job up to 100 times, and the worker's last-attempt notice would never come"
            ));
            return;
        };
        match attr(retry, "max_attempts") {
            None => self.problem(format!("{qaddr}: retry_config has no max_attempts")),
            Some(a) => self.attempts_agree(&format!("{qaddr}: max_attempts"), a, target),
        }
        match (attr(retry, "min_backoff"), attr(retry, "max_backoff")) {
            (Some(min), Some(max)) => {
                for sc in self.scenarios {
                    if let (Ok(a), Ok(b)) = (sc.eval(min), sc.eval(max))
                        && let (Some(a), Some(b)) = (as_seconds(&a), as_seconds(&b))
                        && a > b
                    {
                        self.problem(format!(
                            "{qaddr}: min_backoff {a}s > max_backoff {b}s ({})",
                            sc.name
                        ));
                    }
                }
            }
            _ => self.problem(format!(
                "{qaddr}: retry_config needs min_backoff and max_backoff (exponential backoff)"
            )),
        }
    }

    /// The sender's attempts (`what`: a subscription's max_delivery_attempts
    /// or a queue's max_attempts) are the service's MAX_DELIVERY_ATTEMPTS:
    /// its last attempt tells the user instead of asking again, so a
    /// smaller setting gives up early and a larger one never speaks.
    pub(super) fn attempts_agree(&mut self, what: &str, attempts: &Expression, target: &Service) {
        if !target.settings.reads("MAX_DELIVERY_ATTEMPTS") {
            return;
        }
        let svc = target.address();
        let Some(Env::Plain(w)) = target.env.get("MAX_DELIVERY_ATTEMPTS") else {
            self.problem(format!(
                "{svc} does not set MAX_DELIVERY_ATTEMPTS; it must equal {what} so the last attempt tells the user"
            ));
            return;
        };
        let same_expression = normalize(attempts, &self.locals) == normalize(w, &self.locals);
        for sc in self.scenarios {
            let av = sc.eval(attempts).ok().as_ref().and_then(as_number);
            let wv = sc.eval(w).ok().as_ref().and_then(as_number);
            match (av, wv) {
                (Some(x), Some(y)) if (x - y).abs() < 0.5 => {
                    if !sc.synthetic && !(1.0..=100.0).contains(&x) {
                        self.problem(format!(
                            "{what} {x} is outside the worker's MAX_DELIVERY_ATTEMPTS range 1..=100 ({})",
                            sc.name
                        ));
                    }
                }
                _ if same_expression => {}
                (x, y) => self.problem(format!(
                    "{what} ({x:?}) differs from {svc}'s MAX_DELIVERY_ATTEMPTS ({y:?}) ({}): \
                     the worker would tell the user too early or never",
                    sc.name
                )),
            }
        }
    }

    /// Dispatches at once fit the workers (a refused dispatch costs an
    /// attempt), and the dispatch deadline outlasts the worker's request.
    fn tasks_capacity(&mut self, qaddr: &str, queue: &hcl::Body, target: &Service) {
        let svc = target.address();
        let concurrent =
            body_at(queue, &["rate_limits"]).and_then(|r| attr(r, "max_concurrent_dispatches"));
        let Some(concurrent) = concurrent else {
            self.problem(format!(
                "{qaddr} has no rate_limits.max_concurrent_dispatches: Cloud Tasks' default (1000) \
                 would outrun {svc}, and every refused dispatch costs the task an attempt"
            ));
            return;
        };
        let per_instance = attr(target.template, "max_instance_request_concurrency");
        let instances =
            body_at(target.template, &["scaling"]).and_then(|s| attr(s, "max_instance_count"));
        let timeout = attr(target.template, "timeout");
        let job = match target.env.get("JOB_DEADLINE_SECS") {
            Some(Env::Plain(v)) => Some(*v),
            _ => None,
        };
        for sc in self.scenarios {
            let eval = |e: Option<&Expression>| {
                e.and_then(|e| sc.eval(e).ok()).as_ref().and_then(as_number)
            };
            match (eval(Some(concurrent)), eval(per_instance), eval(instances)) {
                (Some(c), Some(p), Some(i)) if c <= p * i => {}
                (c, p, i) => self.problem(format!(
                    "{qaddr}: max_concurrent_dispatches ({c:?}) is above what {svc} holds \
                     (max_instance_count {i:?} x max_instance_request_concurrency {p:?}) ({}): \
                     Cloud Run refuses the rest, and each refusal costs the task an attempt",
                    sc.name
                )),
            }
            let t = timeout
                .and_then(|t| sc.eval(t).ok())
                .as_ref()
                .and_then(as_seconds);
            let j = eval(job);
            match (t, j) {
                (Some(t), Some(j)) if j < t && t < TASKS_DEFAULT_DISPATCH_DEADLINE_SECS => {}
                (t, j) => self.problem(format!(
                    "{svc}: JOB_DEADLINE_SECS ({j:?}) < request timeout ({t:?} s) < Cloud Tasks' dispatch deadline \
                     ({TASKS_DEFAULT_DISPATCH_DEADLINE_SECS} s, the default: tasks set none) does not hold ({}): \
                     Cloud Tasks would retry a job still running",
                    sc.name
                )),
            }
        }
    }
}
