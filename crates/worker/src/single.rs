//! The single-service design (`WORKER_ROLE=single`): one process is the
//! interactions endpoint, the queue and the worker.
//!
//! The ingress runs in this process with the ingress's own settings (read
//! from the environment) and the local push delivery as its queue, handing
//! each job to this worker's router directly instead of POSTing it: the
//! same ordering keys, turns, retries, last words and queue ledger as the
//! two-service designs, without a network hop. Nothing of the worker's is
//! reachable from outside; the public router is the ingress's.
//!
//! A small render takes milliseconds, so a cheap job whose render slot is
//! free is answered with the image itself ([`Inline`]): rendered, stored and
//! sent as the interaction's response through Discord's callback endpoint,
//! inside Discord's 3 s. Everything else is queued and the user sees the
//! estimate first, as in every design.
//!
//! What this gives up: rendering has no cap of its own (the instances that
//! answer Discord are the ones that render), and a job still queued when
//! the instance dies is lost — at a graceful stop its user is told, but a
//! crash tells nobody. On Cloud Run the queue runs after the response, so
//! the service needs CPU outside requests (`cpu_idle = false`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use mandala_ingress::inline::InlineAnswer;
use mandala_ingress::{Embedding, InProcess, Ingress};
use mandala_model::{Drawing, Job, Reply};
use reqwest::Url;
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::job::{JobLog, Verdict};
use crate::reply::message;
use crate::reply::target::{self, Plan};
use crate::state::Shared;
use crate::store::NewObject;
use crate::{StartError, Worker};

impl Worker {
    /// What the ingress in this process needs to hand jobs to this worker:
    /// its router, its delivery attempts and deadline, and (when
    /// `inline_render_max_ms` is above 0) the inline answer.
    /// `tell_on_shutdown`: at shutdown, tell the users of jobs still queued
    /// rather than spooling them (for an instance whose disk dies with it).
    pub fn embedding(&self, inline_render_max_ms: u64, tell_on_shutdown: bool) -> Embedding {
        let inline = (inline_render_max_ms > 0).then(|| {
            Arc::new(Inline {
                shared: Arc::clone(&self.shared),
                max: Duration::from_millis(inline_render_max_ms),
            }) as Arc<dyn InlineAnswer>
        });
        Embedding {
            in_process: Some(InProcess {
                worker: self.router(),
                max_attempts: self.shared.max_attempts,
                // Above the job deadline, like a subscription's ack deadline.
                ack_deadline: self.shared.job_deadline + Duration::from_secs(10),
                tell_on_shutdown,
            }),
            shared_memory_ledger: false,
            inline,
        }
    }
}

/// Runs the single service on `listener` until `shutdown`, then drains the
/// server, tells the users of jobs still queued, and lets running jobs end.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // The ingress's settings are the environment's too (PORT, DISCORD_*,
    // FIRESTORE_DATABASE, MAX_QUEUED_PER_USER, ...); flags are the worker's.
    let ingress_config = mandala_ingress::config::Config::try_parse_from(["mandala-worker"])
        .map_err(|e| {
            StartError::Config(ConfigError {
                var: "WORKER_ROLE",
                reason: format!("single reads the ingress's settings too: {e}"),
            })
        })?;
    let limits = ingress_config.http_limits();
    let inline = config.inline_render_max_ms;
    let worker = Worker::start(config).await?;
    let ingress = Ingress::start_with(ingress_config, worker.embedding(inline, true))
        .await
        .map_err(|e| StartError::Ingress(e.to_string()))?;
    let drained =
        mandala_service::server::serve(listener, ingress.router(), limits, shutdown).await;
    if drained.cut > 0 {
        tracing::warn!(cut = drained.cut, "interactions still in progress were cut");
    }
    ingress.shutdown().await;
    worker.shutdown().await;
    Ok(())
}

/// Answers cheap interactions with their image.
struct Inline {
    shared: Arc<Shared>,
    /// Renders predicted to take longer are queued instead.
    max: Duration,
}

impl InlineAnswer for Inline {
    fn answer<'a>(
        &'a self,
        job: &'a Job,
        interaction_id: &'a str,
        budget: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let deadline = Instant::now() + budget;
            match tokio::time::timeout_at(deadline, self.try_answer(job, interaction_id, deadline))
                .await
            {
                Ok(Ok(())) => true,
                Ok(Err(why)) => {
                    tracing::debug!(interaction_id, "not answered inline: {why}");
                    false
                }
                Err(_) => {
                    tracing::info!(interaction_id, "inline answer ran out of time; queueing");
                    false
                }
            }
        })
    }
}

impl Inline {
    async fn try_answer(
        &self,
        job: &Job,
        interaction_id: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        let shared = &*self.shared;
        let started = Instant::now();
        let Reply::Interaction(reply) = &job.reply else {
            return Err("not an interaction".into());
        };
        // The same checks as every reply (ids, token, expiry).
        match target::plan(&job.reply, &shared.api_base, crate::job::now_ms())
            .map_err(|e| e.to_string())?
        {
            Plan::Send(_) => {}
            Plan::Expired { .. } | Plan::Nothing => return Err("nothing to answer".into()),
        }
        let drawing = Drawing::resolve(&job.spec, job.grid).map_err(|e| e.to_string())?;
        let stat = shared.calibrator.stat(crate::job::now_ms());
        let predicted =
            Duration::from_micros((drawing.cost().0 as f64 * stat.us_per_unit.max(0.0)) as u64);
        if predicted > self.max {
            return Err(format!("predicted {predicted:?} to render"));
        }
        let mut log = JobLog {
            message_id: format!("inline-{interaction_id}"),
            kind: job.kind.as_str(),
            spec_hash: drawing.hash().to_string(),
            ticket: job.ticket.clone(),
            // Answered inside the interaction's request: its trace.
            trace: mandala_ingress::publish::request_trace()
                .map(|t| mandala_service::logging::cloud_trace(&t)),
            ..JobLog::default()
        };
        log.note_job(job);
        let name = drawing.object_name();
        log.location = shared.store.location(&name);
        let (bytes, content_type) = match shared.store.get(&name).await {
            Ok(Some(found)) => {
                log.cache_hit = Some(true);
                (found.bytes, found.content_type)
            }
            Ok(None) => {
                log.cache_hit = Some(false);
                let image = shared
                    .pool
                    .try_render(drawing.clone(), job.user())
                    .await
                    .ok_or("no render slot free")?
                    .map_err(|e| e.to_string())?;
                shared.stats.count("render");
                log.render_us = Some(image.render_us);
                log.encode_us = Some(image.encode_us);
                shared
                    .store
                    .put(NewObject {
                        name: name.clone(),
                        bytes: image.bytes.clone(),
                        content_type: image.content_type.clone(),
                        metadata: crate::job::metadata(&drawing),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                (image.bytes, image.content_type)
            }
            Err(e) => return Err(e.to_string()),
        };
        let message = message::build(
            job,
            &job.spec,
            &drawing,
            bytes,
            &content_type,
            &log.location,
            None,
        );
        if message.file.is_none() {
            return Err("too large to attach".into());
        }
        let url = callback_url(&shared.api_base, interaction_id, &reply.token)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let reply_started = Instant::now();
        let status = shared.discord.respond(url, &message, left).await?;
        log.reply_us = Some(reply_started.elapsed().as_micros() as u64);
        log.reply_attempts = 1;
        if let Some(render) = log.render_us.zip(log.encode_us).map(|(r, e)| r + e) {
            let other = (started.elapsed().as_micros() as u64).saturating_sub(render);
            shared.calibrator.record(drawing.cost().0, render, other);
        }
        crate::job::record(
            shared,
            &Verdict::Ack {
                outcome: "answered-inline",
                detail: format!("interaction callback answered {status}"),
            },
            &log,
            None,
        );
        Ok(())
    }
}

/// `{base}/interactions/{id}/{token}/callback`.
fn callback_url(base: &Url, interaction_id: &str, token: &str) -> Result<Url, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| "the API base cannot take a path".to_owned())?
        .pop_if_empty()
        .extend(["interactions", interaction_id, token, "callback"]);
    Ok(url)
}
