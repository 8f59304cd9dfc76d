//! Rules for the push subscriptions: each delivers to a Cloud Run service
//! with an OIDC token that service verifies, dead-letters, retries with
//! backoff, never expires, and waits longer than the service's job
//! deadline; the service renders as many jobs at once as it has vCPUs and
//! accepts requests.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Body;
use hcl::expr::Expression;

use super::access::{is_account, is_public};
use super::{Checker, Env, Service};
use crate::eval::{as_number, as_seconds, as_text};
use crate::hclx::{Labeled, attr, blocks, body_at, normalize, render, traversal_path};

impl Checker<'_> {
    /// Checks every push subscription; returns the services they target.
    pub(super) fn push_subscriptions(&mut self, services: &[Service]) -> BTreeSet<String> {
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
        // Jobs travel through Pub/Sub in these designs.
        if targets.is_empty() && matches!(self.topology, "pubsub" | "pubsub-split") {
            self.problem("no google_pubsub_subscription pushes to a Cloud Run service");
        }
        targets
    }

    pub(super) fn push_subscription(
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

        // Dead-lettering. A subscription on a dead-letter topic (pushing
        // dead letters to the worker so it can tell their users) has nowhere
        // further to send its failures; it must instead give up soon.
        let topic = attr(sub.body, "topic")
            .map(|t| self.render(t))
            .unwrap_or_default();
        let on_dead_letter_topic = subs.iter().any(|other| {
            body_at(other.body, &["dead_letter_policy"])
                .and_then(|dl| attr(dl, "dead_letter_topic"))
                .is_some_and(|t| !topic.is_empty() && self.render(t) == topic)
        });
        match body_at(sub.body, &["dead_letter_policy"]) {
            None if on_dead_letter_topic => {
                let retention = attr(sub.body, "message_retention_duration")
                    .and_then(|e| self.scenarios.first().and_then(|sc| sc.eval(e).ok()))
                    .as_ref()
                    .and_then(as_seconds);
                if !retention.is_some_and(|r| r <= 86_400.0) {
                    self.problem(format!(
                        "{addr} pushes dead letters without a dead_letter_policy: its message_retention_duration must be at most a day (got {retention:?} s), or undeliverable dead letters are retried for 7 days"
                    ));
                }
            }
            None => self.problem(format!(
                "{addr} has no dead_letter_policy: a job that always fails would be retried for 7 days"
            )),
            Some(dl) => {
                self.dead_letter(sub, dl, subs);
                if let Some(m) = attr(dl, "max_delivery_attempts") {
                    self.attempts_agree(
                        &format!("{addr}: dead_letter_policy.max_delivery_attempts"),
                        m,
                        service,
                    );
                }
            }
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

    pub(super) fn oidc(&mut self, addr: &str, oidc: &Body, service: &Service) {
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
        self.same_as_env(
            service,
            "PUSH_AUDIENCE",
            audience,
            "the push subscription's oidc_token.audience",
        );
        self.same_as_env(
            service,
            "PUSH_SERVICE_ACCOUNT",
            account,
            "the push subscription's oidc_token.service_account_email",
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
    pub(super) fn same_as_env(
        &mut self,
        service: &Service,
        name: &str,
        expected: &Expression,
        what: &str,
    ) {
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
                        "{svc} sets {name} = {} but {what} is {}",
                        self.render(v),
                        self.render(expected)
                    ));
                }
            }
            Some(Env::Secret(_)) => {}
            None => self.problem(format!(
                "{svc} does not set {name}; it must equal {what} so the \
                 service verifies the push token"
            )),
        }
    }

    pub(super) fn dead_letter(&mut self, sub: &Labeled, dl: &Body, subs: &[Labeled]) {
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
                // A limit, not a relation: only inputs an operator may choose.
                for sc in self.scenarios.iter().filter(|s| !s.synthetic) {
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
    pub(super) fn deadlines(&mut self, sub: &Labeled, service: &Service) {
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
            if ack_v > 600.0 && !sc.synthetic {
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

    /// RENDER_CONCURRENCY = vCPUs (one render per CPU), and Cloud Run's
    /// request concurrency a whole multiple of it, at least equal: the
    /// worker holds a few pushes per render slot so it can serve users in
    /// turn, but never fewer pushes than it can render.
    pub(super) fn concurrency(&mut self, service: &Service) {
        // The replier never renders: its concurrency is its own.
        if !service.settings.reads("RENDER_CONCURRENCY") || service.role.as_deref() == Some("reply")
        {
            return;
        }
        let svc = service.address();
        let Some(Env::Plain(render_env)) = service.env.get("RENDER_CONCURRENCY") else {
            self.problem(format!(
                "{svc} does not set RENDER_CONCURRENCY; it must equal the container's vCPUs"
            ));
            return;
        };
        let Some(conc) = attr(service.template, "max_instance_request_concurrency") else {
            self.problem(format!(
                "{svc} has no max_instance_request_concurrency (Cloud Run's default, 80, would hold more pushes than it can render before their deadline)"
            ));
            return;
        };
        let cpu =
            body_at(service.template, &["containers", "resources"]).and_then(|r| attr(r, "limits"));
        let number = |v: Option<String>| v.and_then(|t| t.parse::<f64>().ok());
        for sc in self.scenarios {
            let r = sc.eval(render_env).ok().as_ref().and_then(as_text);
            let c = sc.eval(conc).ok().as_ref().and_then(as_text);
            match (number(r.clone()), number(c.clone())) {
                (Some(rv), Some(cv)) if cv >= rv && rv > 0.0 && (cv / rv).fract() == 0.0 => {}
                _ => self.problem(format!(
                    "{svc}: max_instance_request_concurrency ({c:?}) is not a whole multiple of RENDER_CONCURRENCY ({r:?}), at least equal ({})",
                    sc.name
                )),
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
}

/// A condition's text with `local.X` spelled out (for a substring test).
pub(super) fn normalize_text(text: &str, locals: &BTreeMap<&str, &Expression>) -> String {
    let mut out = text.to_owned();
    for (name, def) in locals {
        let needle = format!("local.{name}");
        if out.contains(&needle) {
            out = out.replace(&needle, &render(def, locals));
        }
    }
    out
}
