//! Creating Cloud Tasks with the official `google-cloud-tasks-v2` client.
//!
//! One task per job on the queue `CLOUD_TASKS_QUEUE`, dispatched to the
//! worker's `/tasks/run` with the job as the body and an OIDC token for
//! `CLOUD_TASKS_SERVICE_ACCOUNT`, which the worker verifies as it verifies
//! Pub/Sub's pushes. The queue itself (rate, concurrency, retries) is
//! configured in Terraform, not here.
//!
//! Each task is named after its interaction, hashed (Google recommends
//! hashed names: sequential ones crowd one part of the index and slow task
//! creation). Cloud Tasks refuses a second task of a name it has seen in
//! about the last hour, so the same interaction reaching two ingress
//! instances still makes one task: the second create is answered
//! `ALREADY_EXISTS`, which means the job is queued, and is reported as
//! success.
//!
//! Like the Pub/Sub publisher, the client is built in the background so
//! that a cold instance answers its first request without waiting for it.
//!
//! The interaction's trace id goes along as a header
//! ([`mandala_service::trace::TRACE_HEADER`]), so the worker's job line
//! joins the interaction's in Cloud Logging.

use std::sync::Arc;

use google_cloud_tasks_v2::client::CloudTasks;
use google_cloud_tasks_v2::model::{HttpMethod, HttpRequest, OidcToken, Task};
use mandala_model::{Job, Reply};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use super::PublishError;

/// Where the tasks go and how they authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TasksTarget {
    /// `projects/P/locations/L/queues/Q`.
    pub queue: String,
    /// The worker's task handler, `https://…/tasks/run`.
    pub url: String,
    /// The account whose OIDC token each dispatch carries; none means no token.
    pub service_account: Option<String>,
    /// The token's audience (the worker's URL); Cloud Tasks' default is `url`.
    pub audience: Option<String>,
    /// `host:port` of a local twin (plain HTTP, anonymous credentials).
    pub emulator_host: Option<String>,
}

/// A Cloud Tasks publisher for one queue.
#[derive(Debug, Clone)]
pub struct TasksPublisher {
    target: Arc<TasksTarget>,
    client: Arc<OnceCell<CloudTasks>>,
}

/// The task id for an interaction: a hash, so names are not sequential.
/// Task ids are letters, digits, `-` and `_`; 32 hex digits are 128 bits.
pub fn task_id(interaction_id: &str) -> String {
    let digest = Sha256::digest(format!("mandala-interaction:{interaction_id}").as_bytes());
    hex::encode(&digest[..16])
}

impl TasksPublisher {
    /// Starts building the client in the background.
    pub fn start(target: TasksTarget) -> Self {
        let p = TasksPublisher {
            target: Arc::new(target),
            client: Arc::new(OnceCell::new()),
        };
        let warm = p.clone();
        tokio::spawn(async move {
            if let Err(e) = warm.client().await {
                tracing::warn!(error = %e, "Cloud Tasks client not ready yet; will retry on the first job");
            }
        });
        p
    }

    async fn client(&self) -> Result<&CloudTasks, PublishError> {
        self.client
            .get_or_try_init(|| async {
                let mut builder = CloudTasks::builder();
                if let Some(host) = &self.target.emulator_host {
                    builder = builder.with_endpoint(format!("http://{host}")).with_credentials(
                        google_cloud_auth::credentials::anonymous::Builder::new().build(),
                    );
                }
                let client = builder
                    .build()
                    .await
                    .map_err(|e| PublishError::TasksClient(e.to_string()))?;
                tracing::info!(queue = %self.target.queue, emulator = ?self.target.emulator_host, "Cloud Tasks client ready");
                Ok(client)
            })
            .await
    }

    /// The task for `job`, named after its interaction when it has one,
    /// carrying `trace` (the interaction's trace id) as a header.
    fn task(&self, job: &Job, trace: Option<&str>) -> Task {
        let t = &*self.target;
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(trace) = trace {
            headers.push((mandala_service::trace::TRACE_HEADER, trace));
        }
        let mut request = HttpRequest::new()
            .set_url(t.url.clone())
            .set_http_method(HttpMethod::Post)
            .set_headers(headers)
            .set_body(job.to_json());
        if let Some(account) = &t.service_account {
            let mut token = OidcToken::new().set_service_account_email(account.clone());
            if let Some(audience) = &t.audience {
                token = token.set_audience(audience.clone());
            }
            request = request.set_oidc_token(token);
        }
        let mut task = Task::new().set_http_request(request);
        if let Reply::Interaction(i) = &job.reply {
            task = task.set_name(format!("{}/tasks/{}", t.queue, task_id(&i.interaction_id)));
        }
        task
    }

    /// Creates the job's task; returns the task's name. A task of the same
    /// name that exists already is this job, queued before: success.
    pub async fn publish(&self, job: &Job, trace: Option<&str>) -> Result<String, PublishError> {
        let client = self.client().await?;
        let task = self.task(job, trace);
        let name = task.name.clone();
        let created = client
            .create_task()
            .set_parent(self.target.queue.clone())
            .set_task(task)
            .send()
            .await;
        match created {
            Ok(t) => Ok(t.name),
            // ALREADY_EXISTS, as REST says it.
            Err(e) if e.http_status_code() == Some(409) => {
                tracing::info!(task = %name, "a task for this interaction exists already");
                Ok(name)
            }
            Err(e) => Err(PublishError::Task(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_stable_hashed_and_valid() {
        let a = task_id("1322637963339104358");
        assert_eq!(a, task_id("1322637963339104358"));
        assert_ne!(a, task_id("1322637963339104359"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        // Consecutive interactions do not share a prefix.
        assert_ne!(a[..4], task_id("1322637963339104359")[..4]);
    }

    #[test]
    fn a_task_carries_the_interactions_trace_as_a_header() {
        let publisher = TasksPublisher {
            target: Arc::new(TasksTarget {
                queue: "projects/p/locations/l/queues/q".to_owned(),
                url: "https://worker.example/tasks/run".to_owned(),
                service_account: None,
                audience: None,
                emulator_host: None,
            }),
            client: Arc::new(OnceCell::new()),
        };
        let job = Job::new(
            mandala_model::RenderSpec::default(),
            Reply::Interaction(mandala_model::InteractionReply {
                application_id: "1".into(),
                interaction_id: "1322637963339104358".into(),
                token: "t".to_owned(),
            }),
            mandala_model::job::JobKind::Command,
        );
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let task = publisher.task(&job, Some(trace));
        let headers = &task.http_request().unwrap().headers;
        assert_eq!(
            headers
                .get(mandala_service::trace::TRACE_HEADER)
                .map(String::as_str),
            Some(trace)
        );
        assert_eq!(
            headers.get("Content-Type").map(String::as_str),
            Some("application/json")
        );
        let untraced = publisher.task(&job, None);
        assert!(
            !untraced
                .http_request()
                .unwrap()
                .headers
                .contains_key(mandala_service::trace::TRACE_HEADER)
        );
    }
}
