//! The official Cloud Pub/Sub emulator, started and stopped for tests.
//!
//! The emulator ships with the Google Cloud SDK (`gcloud`) and runs on
//! Java; neither can be installed from the package registries, so
//! [`PubsubEmulator::start`] reports *why* it cannot run instead of failing,
//! for [`crate::suites::require`] to turn into a loud skip.
//!
//! It speaks gRPC (what `google-cloud-pubsub` uses) and REST on the same
//! port; the helpers here use REST to create topics and subscriptions and
//! to pull messages back, so tests can check what a publisher really sent.
//! The emulator's JVM is killed when the value is dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::{free_port, is_ready, sdk_root};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// How long the emulator may take to come up (usually 2–3 s; allow for a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(45);

/// A running emulator on 127.0.0.1.
#[derive(Debug)]
pub struct PubsubEmulator {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    log: std::path::PathBuf,
}

/// One message read back: its data and attributes.
pub type Pulled = (Vec<u8>, BTreeMap<String, String>);

impl PubsubEmulator {
    /// Starts the emulator on a free port and waits until it serves.
    /// `Err` says why it cannot run here (no gcloud, no Java, no emulator).
    pub fn start() -> Result<PubsubEmulator, String> {
        if !super::java_runs() {
            return Err("java is not installed (the Pub/Sub emulator runs on Java)".into());
        }
        let root = sdk_root()?;
        let bin = root.join("platform/pubsub-emulator/bin/cloud-pubsub-emulator");
        if !bin.exists() {
            return Err(format!(
                "the Pub/Sub emulator is not installed ({} missing; it is the google-cloud-cli-pubsub-emulator package)",
                bin.display()
            ));
        }
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::env::temp_dir().join(format!("pubsub-emulator-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&bin);
        command
            .arg("--host=127.0.0.1")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        // The launcher script `exec`s the JVM, so the child *is* the JVM and
        // killing it stops the emulator; it stays in our process group so an
        // interrupted test run takes it down too.
        let child = command
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
        let mut emulator = PubsubEmulator {
            child,
            addr,
            http: reqwest::Client::new(),
            log,
        };
        let started = Instant::now();
        loop {
            if is_ready(addr) {
                return Ok(emulator);
            }
            if let Some(why) = super::gave_up(
                "the Pub/Sub emulator",
                &mut emulator.child,
                &emulator.log,
                started,
                READY_TIMEOUT,
            ) {
                return Err(why);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`, the value for `PUBSUB_EMULATOR_HOST`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v1/{path}", self.addr)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let r = self
            .http
            .request(method.clone(), self.url(path))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}"));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))
    }

    /// Creates `projects/{project}/topics/{topic}`.
    pub async fn create_topic(&self, project: &str, topic: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::PUT,
            &format!("projects/{project}/topics/{topic}"),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// Creates a pull subscription on a topic of the same project.
    pub async fn create_pull_subscription(
        &self,
        project: &str,
        subscription: &str,
        topic: &str,
    ) -> Result<(), String> {
        self.call(
            reqwest::Method::PUT,
            &format!("projects/{project}/subscriptions/{subscription}"),
            json!({"topic": format!("projects/{project}/topics/{topic}"), "ackDeadlineSeconds": 60}),
        )
        .await
        .map(drop)
    }

    /// Creates a push subscription that POSTs wrapped envelopes to
    /// `push_endpoint`, with message ordering on (as Terraform creates it:
    /// one user's jobs one at a time).
    pub async fn create_push_subscription(
        &self,
        project: &str,
        subscription: &str,
        topic: &str,
        push_endpoint: &str,
    ) -> Result<(), String> {
        self.call(
            reqwest::Method::PUT,
            &format!("projects/{project}/subscriptions/{subscription}"),
            json!({
                "topic": format!("projects/{project}/topics/{topic}"),
                "ackDeadlineSeconds": 60,
                "pushConfig": {"pushEndpoint": push_endpoint},
                "enableMessageOrdering": true,
            }),
        )
        .await
        .map(drop)
    }

    /// Publishes one message over REST (for tests that feed a subscriber).
    pub async fn publish(
        &self,
        project: &str,
        topic: &str,
        data: &[u8],
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("projects/{project}/topics/{topic}:publish"),
                json!({"messages": [{"data": STANDARD.encode(data), "attributes": attributes}]}),
            )
            .await?;
        v["messageIds"][0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("publish answered without a message id: {v}"))
    }

    /// Pulls up to `max` messages (waiting a little for them) and acknowledges them.
    pub async fn pull(
        &self,
        project: &str,
        subscription: &str,
        max: usize,
    ) -> Result<Vec<Pulled>, String> {
        let path = format!("projects/{project}/subscriptions/{subscription}");
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("{path}:pull"),
                json!({"maxMessages": max, "returnImmediately": false}),
            )
            .await?;
        let received = v["receivedMessages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        let mut ack_ids = Vec::new();
        for r in received {
            let m = &r["message"];
            let data = match m["data"].as_str() {
                Some(b64) => STANDARD
                    .decode(b64)
                    .map_err(|e| format!("pulled data is not base64: {e}"))?,
                None => Vec::new(),
            };
            let attributes = m["attributes"]
                .as_object()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(id) = r["ackId"].as_str() {
                ack_ids.push(id.to_owned());
            }
            out.push((data, attributes));
        }
        if !ack_ids.is_empty() {
            self.call(
                reqwest::Method::POST,
                &format!("{path}:acknowledge"),
                json!({"ackIds": ack_ids}),
            )
            .await?;
        }
        Ok(out)
    }

    /// Pulls until `n` messages arrived or `timeout` passed.
    pub async fn pull_n(
        &self,
        project: &str,
        subscription: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Pulled>, String> {
        let deadline = Instant::now() + timeout;
        let mut all = Vec::new();
        while all.len() < n {
            if Instant::now() > deadline {
                return Err(format!(
                    "pulled {} of {n} messages before the timeout",
                    all.len()
                ));
            }
            all.extend(self.pull(project, subscription, n - all.len()).await?);
            if all.len() < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(all)
    }
}

impl Drop for PubsubEmulator {
    fn drop(&mut self) {
        // Only this child, by its own handle: never a signal to a group or a
        // name (procps `kill` with a negative id can reach far more).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
