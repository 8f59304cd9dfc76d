//! Rules for who may call what: the push target is private, the other
//! service public; each service may use the topic, bucket and secrets it is
//! configured with; nothing is granted project-wide.

use std::collections::BTreeMap;

use hcl::Body;
use hcl::expr::Expression;

use super::{Checker, Env, INVOKER_ROLES, PUBLIC_MEMBERS, Service};
use crate::hclx::{Labeled, attr, body_at, render, traversal_path};

impl Checker<'_> {
    /// The push target: no public access, no IAM bypass.
    pub(super) fn private(&mut self, s: &Service) {
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

    /// The interactions endpoint: Discord calls it without Google
    /// credentials, so Cloud Run's invoker check is off. Not an `allUsers`
    /// binding: domain-restricted sharing refuses those, and the signature
    /// is the check that matters.
    pub(super) fn public(&mut self, s: &Service) {
        let svc = s.address();
        let iam_off = matches!(
            attr(s.res.body, "invoker_iam_disabled"),
            Some(Expression::Bool(true))
        );
        if !iam_off {
            self.problem(format!(
                "{svc} does not set invoker_iam_disabled = true: Discord, which has no Google credentials, could not reach it"
            ));
        }
        for (res, member) in self.invokers(s) {
            if is_public(&member) {
                self.problem(format!(
                    "{res} opens {svc} to {member}; use invoker_iam_disabled instead (domain-restricted sharing refuses public bindings)"
                ));
            }
        }
    }

    /// The topic a service publishes to and the bucket it writes are the
    /// ones the rest of the configuration uses, and it may use them.
    pub(super) fn resources_used(&mut self, s: &Service) {
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
        // (The replier only reads what the render worker stored.)
        if let Some(Env::Plain(bucket)) = s.env.get("BUCKET") {
            if s.role.as_deref() == Some("reply") {
                self.bucket_reader(s, bucket);
            } else {
                self.bucket_writer(s, bucket);
            }
        }
    }

    /// The roles `s`'s runtime account holds on the bucket `BUCKET`
    /// names, with the bucket's address and the account; `None` (after
    /// saying why, if it is a mistake) when there is nothing to check.
    pub(super) fn bucket_roles(
        &mut self,
        s: &Service,
        bucket: &Expression,
    ) -> Option<(String, String, Vec<String>)> {
        let Some(b) = traversal_path(bucket)
            .filter(|p| p.len() == 3 && p[0] == "google_storage_bucket")
            .map(|p| format!("google_storage_bucket.{}", p[1]))
        else {
            self.problem(format!(
                "{}: BUCKET must reference google_storage_bucket.X.name",
                s.address()
            ));
            return None;
        };
        let account = s.account.clone()?;
        let roles = self
            .grants("google_storage_bucket_iam_member", "bucket", &b)
            .iter()
            .filter(|(_, m)| is_account(m, &account))
            .map(|(r, _)| r.clone())
            .collect();
        Some((b, account, roles))
    }

    pub(super) fn bucket_writer(&mut self, s: &Service, bucket: &Expression) {
        let Some((b, account, mine)) = self.bucket_roles(s, bucket) else {
            return;
        };
        if !mine
            .iter()
            .any(|r| r == "roles/storage.objectCreator" || r == "roles/storage.objectAdmin")
        {
            self.problem(format!(
                "google_service_account.{account} ({}'s runtime) cannot create objects in {b}",
                s.address()
            ));
        }
    }

    /// Project-level grants that would open every service.
    pub(super) fn project_iam(&mut self) {
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
    pub(super) fn invokers(&mut self, s: &Service) -> Vec<(String, String)> {
        self.members_on(s, true)
    }

    pub(super) fn all_members_on(&mut self, s: &Service) -> Vec<(String, String)> {
        self.members_on(s, false)
    }

    pub(super) fn members_on(&mut self, s: &Service, invokers_only: bool) -> Vec<(String, String)> {
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
    pub(super) fn grants(
        &self,
        kind: &str,
        target_attr: &str,
        target: &str,
    ) -> Vec<(String, String)> {
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
pub(super) fn members_of(body: &Body, locals: &BTreeMap<&str, &Expression>) -> Vec<String> {
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
pub(super) fn is_account(member: &str, account: &str) -> bool {
    member == format!("${{google_service_account.{account}.member}}")
        || member == format!("serviceAccount:${{google_service_account.{account}.email}}")
}

pub(super) fn is_public(member: &str) -> bool {
    PUBLIC_MEMBERS.iter().any(|p| member.contains(p))
}

/// `google_pubsub_topic.X` from a rendered `${google_pubsub_topic.X.id}`.
pub(super) fn topic_address(rendered: &str) -> Option<String> {
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

pub(super) fn same_topic(a: &str, b: &str) -> bool {
    match (topic_address(a), topic_address(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
