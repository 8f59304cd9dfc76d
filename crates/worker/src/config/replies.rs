//! Where the render stage hands its reply jobs (REPLY_TOPIC, or on one
//! machine LOCAL_REPLY_PUSH_URL with its retries and dead letters).

use mandala_service::config::{dead_letter_beside, given, is_host_port};

use super::{Config, ConfigError, Role, bad};

/// Where the render stage's reply jobs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replies {
    /// A Pub/Sub topic; `emulator_host` is `host:port` of an emulator.
    Pubsub {
        topic: String,
        emulator_host: Option<String>,
    },
    /// The local push delivery to the replier (and its dead-letter route).
    Local {
        url: http::Uri,
        dead_letter: http::Uri,
    },
}

impl Config {
    /// Where the render stage hands reply jobs; `None` in every other role.
    pub fn replies(&self) -> Result<Option<Replies>, ConfigError> {
        let topic = given(self.reply_topic.as_deref());
        let local = given(self.local_reply_push_url.as_deref());
        if self.worker_role != Role::Render {
            if topic.is_some() {
                return Err(bad("REPLY_TOPIC", "only applies with WORKER_ROLE=render"));
            }
            if local.is_some() {
                return Err(bad(
                    "LOCAL_REPLY_PUSH_URL",
                    "only applies with WORKER_ROLE=render",
                ));
            }
            return Ok(None);
        }
        match (topic, local) {
            (Some(_), Some(_)) => Err(bad(
                "REPLY_TOPIC",
                "set either REPLY_TOPIC or LOCAL_REPLY_PUSH_URL, not both",
            )),
            (None, None) => Err(bad(
                "WORKER_ROLE",
                "render needs REPLY_TOPIC (Pub/Sub) or LOCAL_REPLY_PUSH_URL (one machine): where the reply jobs go",
            )),
            (Some(topic), None) => self.pubsub_replies(topic).map(Some),
            (None, Some(url)) => self.local_replies(url).map(Some),
        }
    }

    /// Reply jobs to a Pub/Sub topic (or its emulator).
    fn pubsub_replies(&self, topic: &str) -> Result<Replies, ConfigError> {
        let emulator = given(self.pubsub_emulator_host.as_deref());
        if let Some(h) = emulator
            && !is_host_port(h)
        {
            return Err(bad(
                "PUBSUB_EMULATOR_HOST",
                format!("{h:?} must be host:port (no scheme)"),
            ));
        }
        Ok(Replies::Pubsub {
            topic: topic.to_owned(),
            emulator_host: emulator.map(str::to_owned),
        })
    }

    /// Reply jobs by the local push delivery to `url`, dead letters beside it.
    fn local_replies(&self, url: &str) -> Result<Replies, ConfigError> {
        let uri = url
            .parse::<http::Uri>()
            .ok()
            .filter(|u| u.scheme() == Some(&http::uri::Scheme::HTTP) && u.host().is_some())
            .ok_or_else(|| {
                bad(
                    "LOCAL_REPLY_PUSH_URL",
                    format!("{url:?} is not an http:// URL with a host"),
                )
            })?;
        if self.local_reply_min_backoff_ms > self.local_reply_max_backoff_ms {
            return Err(bad(
                "LOCAL_REPLY_MIN_BACKOFF_MS",
                "must not exceed LOCAL_REPLY_MAX_BACKOFF_MS",
            ));
        }
        let dead_letter = dead_letter_beside(&uri).map_err(|e| ConfigError {
            var: "LOCAL_REPLY_PUSH_URL",
            reason: e.to_string(),
            source: Some(Box::new(e)),
        })?;
        Ok(Replies::Local {
            url: uri,
            dead_letter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{local, parse};
    use super::*;

    #[test]
    fn the_render_role_needs_somewhere_to_send_replies() {
        let e = local(&["--local-store-dir", "d", "--worker-role", "render"])
            .check()
            .unwrap_err();
        assert_eq!(e.var, "WORKER_ROLE");
        let ok = parse(&[
            "--local-store-dir",
            "d",
            "--worker-role",
            "render",
            "--local-reply-push-url",
            "http://127.0.0.1:8082/pubsub/push",
        ]);
        let Some(Replies::Local { dead_letter, .. }) = ok.replies().unwrap() else {
            panic!("not local")
        };
        assert_eq!(
            dead_letter.to_string(),
            "http://127.0.0.1:8082/pubsub/dead-letter"
        );
        let e = local(&[
            "--local-store-dir",
            "d",
            "--reply-topic",
            "projects/p/topics/replies",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "REPLY_TOPIC");
        assert!(e.to_string().contains("WORKER_ROLE=render"), "{e}");
    }
}
