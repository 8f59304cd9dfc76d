//! Rules for secrets: a scheduled job's message carries no credential, and
//! a secret it names is one the push target's account may read.

use std::collections::BTreeSet;

use super::access::is_account;
use super::{Checker, Service, access::members_of};
use crate::hclx::{attr, body_at};

impl Checker<'_> {
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
