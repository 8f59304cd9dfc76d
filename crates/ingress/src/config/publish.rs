//! Where the ingress sends jobs: exactly one of a Pub/Sub topic, a Cloud
//! Tasks queue (with where and as whom its tasks are dispatched) and the
//! local push delivery (with its dead-letter route).

use mandala_service::config::{dead_letter_beside, given, is_host_port};

use super::{Config, ConfigError};

/// Where jobs go, decided from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishTarget {
    /// Google Cloud Pub/Sub; `emulator_host` is `host:port` of an emulator.
    Pubsub {
        topic: String,
        emulator_host: Option<String>,
    },
    /// The in-process stand-in for a push subscription.
    LocalPush { url: http::Uri },
    /// A Cloud Tasks queue.
    CloudTasks(mandala_queue::tasks::TasksTarget),
}

impl Config {
    /// Checks the settings that clap cannot check one by one.
    pub fn publish_target(&self) -> Result<PublishTarget, ConfigError> {
        let topic = given(self.pubsub_topic.as_deref());
        let url = given(self.local_push_url.as_deref());
        let queue = given(self.cloud_tasks_queue.as_deref());
        let emulator = given(self.pubsub_emulator_host.as_deref());
        let chosen: Vec<&str> = [
            topic.map(|_| "PUBSUB_TOPIC"),
            queue.map(|_| "CLOUD_TASKS_QUEUE"),
            url.map(|_| "LOCAL_PUSH_URL"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if chosen.len() > 1 {
            return Err(ConfigError::BothPublishers(chosen.join(" and ")));
        }
        if queue.is_none() {
            self.no_tasks_settings()?;
        }
        match (topic, queue, url) {
            (Some(topic), _, _) => {
                if let Some(host) = emulator
                    && !is_host_port(host)
                {
                    return Err(ConfigError::BadEmulatorHost(host.to_owned()));
                }
                Ok(PublishTarget::Pubsub {
                    topic: topic.to_owned(),
                    emulator_host: emulator.map(str::to_owned),
                })
            }
            (None, Some(queue), _) => self.tasks_target(queue).map(PublishTarget::CloudTasks),
            // PUBSUB_EMULATOR_HOST alone (often exported in a developer's
            // shell) is harmless with local delivery: it is simply unused.
            (None, None, Some(url)) => match url.parse::<http::Uri>() {
                Ok(uri)
                    if uri.scheme() == Some(&http::uri::Scheme::HTTP) && uri.host().is_some() =>
                {
                    Ok(PublishTarget::LocalPush { url: uri })
                }
                _ => Err(ConfigError::BadPushUrl(url.to_owned())),
            },
            (None, None, None) => Err(ConfigError::NoPublisher),
        }
    }

    /// The Cloud Tasks settings, checked.
    fn tasks_target(&self, queue: &str) -> Result<mandala_queue::tasks::TasksTarget, ConfigError> {
        let url = given(self.cloud_tasks_url.as_deref()).ok_or(ConfigError::NoTasksUrl)?;
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => {
                return Err(ConfigError::BadUrl {
                    var: "CLOUD_TASKS_URL",
                    value: url.to_owned(),
                });
            }
        }
        let account = given(self.cloud_tasks_service_account.as_deref());
        if let Some(a) = account
            && !a.contains('@')
        {
            return Err(ConfigError::BadTasksAccount(a.to_owned()));
        }
        let audience = given(self.cloud_tasks_audience.as_deref());
        if audience.is_some() && account.is_none() {
            return Err(ConfigError::AudienceWithoutAccount);
        }
        let emulator = given(self.cloud_tasks_emulator_host.as_deref());
        if let Some(host) = emulator
            && !is_host_port(host)
        {
            return Err(ConfigError::BadHostPort {
                var: "CLOUD_TASKS_EMULATOR_HOST",
                value: host.to_owned(),
            });
        }
        Ok(mandala_queue::tasks::TasksTarget {
            queue: queue.to_owned(),
            url: url.to_owned(),
            service_account: account.map(str::to_owned),
            audience: audience.map(str::to_owned),
            emulator_host: emulator.map(str::to_owned),
        })
    }

    /// The Cloud Tasks settings mean nothing without a queue: a deployment
    /// that sets them probably meant to set CLOUD_TASKS_QUEUE too.
    pub(super) fn no_tasks_settings(&self) -> Result<(), ConfigError> {
        for (var, value) in [
            ("CLOUD_TASKS_URL", &self.cloud_tasks_url),
            (
                "CLOUD_TASKS_SERVICE_ACCOUNT",
                &self.cloud_tasks_service_account,
            ),
            ("CLOUD_TASKS_AUDIENCE", &self.cloud_tasks_audience),
        ] {
            if given(value.as_deref()).is_some() {
                return Err(ConfigError::TasksOnly { var });
            }
        }
        Ok(())
    }

    /// Where the local delivery POSTs dead letters.
    pub fn dead_letter_url(&self, push_url: &http::Uri) -> Result<http::Uri, ConfigError> {
        if let Some(raw) = self
            .local_dead_letter_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            return match raw.parse::<http::Uri>() {
                Ok(u) if u.scheme() == Some(&http::uri::Scheme::HTTP) && u.host().is_some() => {
                    Ok(u)
                }
                _ => Err(ConfigError::BadUrl {
                    var: "LOCAL_DEAD_LETTER_URL",
                    value: raw.to_owned(),
                }),
            };
        }
        dead_letter_beside(push_url).map_err(|_| ConfigError::BadUrl {
            var: "LOCAL_PUSH_URL",
            value: push_url.to_string(),
        })
    }
}

pub(super) fn parse_queue(queue: &str) -> Result<String, String> {
    let parts: Vec<&str> = queue.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "locations", l, "queues", q]
            if !p.is_empty() && !l.is_empty() && !q.is_empty() =>
        {
            Ok(queue.to_owned())
        }
        _ => Err("expected projects/PROJECT/locations/LOCATION/queues/QUEUE".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn exactly_one_publisher_is_required_and_named() {
        let e = parse(&[]).unwrap().publish_target().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("PUBSUB_TOPIC") && msg.contains("LOCAL_PUSH_URL"),
            "{msg}"
        );
        let e = parse(&[
            "--pubsub-topic",
            "projects/p/topics/t",
            "--local-push-url",
            "http://127.0.0.1:1/push",
        ])
        .unwrap()
        .publish_target()
        .unwrap_err();
        assert!(matches!(e, ConfigError::BothPublishers(_)), "{e}");
        assert!(
            e.to_string()
                .contains("not PUBSUB_TOPIC and LOCAL_PUSH_URL"),
            "{e}"
        );
    }

    #[test]
    fn the_push_url_must_be_plain_http_with_a_host() {
        for bad in [
            "https://worker.example/push",
            "127.0.0.1:8081/push",
            "http:///push",
            "ftp://h/p",
        ] {
            let e = parse(&["--local-push-url", bad])
                .unwrap()
                .publish_target()
                .unwrap_err();
            assert_eq!(e, ConfigError::BadPushUrl(bad.to_owned()));
            assert!(e.to_string().contains("LOCAL_PUSH_URL"), "{e}");
        }
    }

    #[test]
    fn targets_are_read() {
        let t = parse(&[
            "--pubsub-topic",
            "projects/p/topics/t",
            "--pubsub-emulator-host",
            "127.0.0.1:8085",
        ])
        .unwrap()
        .publish_target()
        .unwrap();
        assert_eq!(
            t,
            PublishTarget::Pubsub {
                topic: "projects/p/topics/t".into(),
                emulator_host: Some("127.0.0.1:8085".into())
            }
        );
        let e = parse(&["--local-push-url", "ftp://x"])
            .unwrap()
            .publish_target()
            .unwrap_err();
        assert!(e.to_string().contains("LOCAL_PUSH_URL"), "{e}");
        let e = parse(&[
            "--pubsub-topic",
            "projects/p/topics/t",
            "--pubsub-emulator-host",
            "http://h:1",
        ])
        .unwrap()
        .publish_target()
        .unwrap_err();
        assert!(e.to_string().contains("PUBSUB_EMULATOR_HOST"), "{e}");
    }

    #[test]
    fn an_exported_emulator_host_does_not_stop_local_delivery() {
        let t = parse(&[
            "--local-push-url",
            "http://127.0.0.1:8081/pubsub/push",
            "--pubsub-emulator-host",
            "localhost:8085",
        ])
        .unwrap()
        .publish_target()
        .unwrap();
        assert!(matches!(t, PublishTarget::LocalPush { .. }), "{t:?}");
    }

    #[test]
    fn cloud_tasks_settings_are_checked_together() {
        const QUEUE: &str = "projects/p/locations/us-central1/queues/mandala-jobs";
        let full = parse(&[
            "--cloud-tasks-queue",
            QUEUE,
            "--cloud-tasks-url",
            "https://w.run.app/tasks/run",
            "--cloud-tasks-service-account",
            "push@p.iam.gserviceaccount.com",
            "--cloud-tasks-audience",
            "https://w.run.app",
            "--firestore-database",
            "projects/p/databases/q",
        ])
        .unwrap();
        full.check().unwrap();
        let PublishTarget::CloudTasks(t) = full.publish_target().unwrap() else {
            panic!("not Cloud Tasks")
        };
        assert_eq!(t.queue, QUEUE);
        assert_eq!(t.audience.as_deref(), Some("https://w.run.app"));

        let e = parse(&["--cloud-tasks-queue", QUEUE])
            .unwrap()
            .publish_target()
            .unwrap_err();
        assert!(e.to_string().contains("CLOUD_TASKS_URL"), "{e}");
        // The worker ends each task's job in the ledger: it must be shared.
        let e = parse(&[
            "--cloud-tasks-queue",
            QUEUE,
            "--cloud-tasks-url",
            "https://w.run.app/tasks/run",
        ])
        .unwrap()
        .check()
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("CLOUD_TASKS_QUEUE needs FIRESTORE_DATABASE"),
            "{e}"
        );
        let e = parse(&[
            "--local-push-url",
            "http://127.0.0.1:1/pubsub/push",
            "--cloud-tasks-url",
            "https://w.run.app/tasks/run",
        ])
        .unwrap()
        .publish_target()
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::TasksOnly {
                var: "CLOUD_TASKS_URL"
            }
        );
        let e = parse(&[
            "--cloud-tasks-queue",
            QUEUE,
            "--pubsub-topic",
            "projects/p/topics/t",
        ])
        .unwrap()
        .publish_target()
        .unwrap_err();
        assert!(
            e.to_string().contains("PUBSUB_TOPIC and CLOUD_TASKS_QUEUE"),
            "{e}"
        );
        let e = parse(&["--cloud-tasks-queue", "queues/q"]).unwrap_err();
        assert!(e.to_string().contains("queues/QUEUE"), "{e}");
    }
}
