//! Rules for secrets: what Secret Manager holds stays out of Terraform's
//! state, a scheduled job's message carries no credential, and a secret it
//! names is one the push target's account may read.

use std::collections::BTreeSet;

use super::access::is_account;
use super::{Checker, Service, access::members_of};
use crate::hclx::{attr, body_at};

/// The Terraform release that brought write-only arguments.
const WRITE_ONLY_SINCE: (u64, u64) = (1, 11);

impl Checker<'_> {
    /// Secret versions are written with `secret_data_wo` (never stored in
    /// the state), with a `secret_data_wo_version` that changes with the
    /// value, and the configuration requires a Terraform that has them.
    pub(super) fn secrets_out_of_state(&mut self) {
        let mut write_only = false;
        for r in self
            .config
            .resources("google_secret_manager_secret_version")
        {
            let addr = r.address();
            if attr(r.body, "secret_data").is_some() {
                self.problem(format!(
                    "{addr} sets secret_data, which Terraform keeps in its state; \
                     write the value with secret_data_wo and secret_data_wo_version"
                ));
            }
            if attr(r.body, "secret_data_wo").is_some() {
                write_only = true;
                if attr(r.body, "secret_data_wo_version").is_none() {
                    self.problem(format!(
                        "{addr} sets secret_data_wo without secret_data_wo_version: \
                         a changed value would never be written"
                    ));
                }
            }
        }
        if write_only {
            self.terraform_at_least(WRITE_ONLY_SINCE, "write-only arguments (secret_data_wo)");
        }
    }

    /// `terraform { required_version }` admits no release older than `min`.
    fn terraform_at_least(&mut self, min: (u64, u64), what: &str) {
        let required = self
            .config
            .top_blocks("terraform")
            .find_map(|(_, b)| attr(b.body(), "required_version"))
            .map(|e| self.render(e));
        let lowest = required.as_deref().and_then(lowest_admitted);
        match (required, lowest) {
            (Some(_), Some(v)) if v >= min => {}
            (Some(r), Some((major, minor))) => self.problem(format!(
                "required_version {r:?} admits Terraform {major}.{minor}, but {what} need {}.{}",
                min.0, min.1
            )),
            (r, _) => self.problem(format!(
                "required_version {r:?} has no lower bound (>= X.Y), but {what} need {}.{}",
                min.0, min.1
            )),
        }
    }

    /// A Cloud Scheduler job's message carries no webhook URL (a credential
    /// every copy of the message would keep), and every secret it names is
    /// readable by the runtime account of a service Pub/Sub pushes to.
    pub(super) fn scheduled_jobs(&mut self, services: &[Service], targets: &BTreeSet<String>) {
        let readers: Vec<String> = services
            .iter()
            .filter(|s| targets.contains(s.res.name))
            .filter_map(|s| s.account.clone())
            .collect();
        for job in self.config.resources("google_cloud_scheduler_job") {
            let Some(target) = body_at(job.body, &["pubsub_target"]) else {
                continue;
            };
            let addr = job.address();
            let data = attr(target, "data")
                .map(|e| self.render(e))
                .unwrap_or_default();
            if data.contains("webhook_url") {
                self.problem(format!(
                    "{addr} puts a webhook URL in its message, where every Pub/Sub copy and dead \
                     letter keeps it; hold it in a Secret Manager secret and name that (webhook_secret)"
                ));
            }
            for secret in referenced("google_secret_manager_secret.", &data) {
                if !readers.iter().any(|a| self.may_read_secret(&secret, a)) {
                    self.problem(format!(
                        "{addr} names google_secret_manager_secret.{secret}, which the push \
                         target's account may not read (no roles/secretmanager.secretAccessor on it)"
                    ));
                }
            }
        }
    }

    /// Whether `google_service_account.{account}` has the accessor role on
    /// `google_secret_manager_secret.{secret}` (counted or not).
    fn may_read_secret(&self, secret: &str, account: &str) -> bool {
        let target = format!("google_secret_manager_secret.{secret}");
        self.config
            .resources("google_secret_manager_secret_iam_member")
            .iter()
            .filter(|r| {
                attr(r.body, "secret_id").is_some_and(|e| {
                    let id = self.render(e);
                    id.contains(&format!("{target}.")) || id.contains(&format!("{target}["))
                })
            })
            .filter(|r| {
                attr(r.body, "role")
                    .is_some_and(|e| self.render(e) == "roles/secretmanager.secretAccessor")
            })
            .any(|r| {
                members_of(r.body, &self.locals)
                    .iter()
                    .any(|m| is_account(m, account))
            })
    }
}

/// Names `X` of every `{prefix}X` in `text`.
fn referenced(prefix: &str, text: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// The oldest release a version constraint admits, as (major, minor):
/// the highest of its lower bounds (`>= 1.11`, `~> 1.11.0`, `= 1.12`).
pub fn lowest_admitted(constraint: &str) -> Option<(u64, u64)> {
    constraint
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            let version = ["~>", ">=", ">", "="]
                .iter()
                .find_map(|op| part.strip_prefix(op))
                .or_else(|| part.chars().next()?.is_ascii_digit().then_some(part))?;
            let mut numbers = version.trim().split('.').map(str::parse::<u64>);
            Some((numbers.next()?.ok()?, numbers.next().unwrap_or(Ok(0)).ok()?))
        })
        .max()
}

#[test]
fn lower_bounds_of_version_constraints() {
    assert_eq!(lowest_admitted(">= 1.11"), Some((1, 11)));
    assert_eq!(lowest_admitted(">= 1.9, < 2.0"), Some((1, 9)));
    assert_eq!(lowest_admitted("~> 1.12.0"), Some((1, 12)));
    assert_eq!(lowest_admitted("1.13.2"), Some((1, 13)));
    assert_eq!(lowest_admitted("< 2.0"), None);
}
