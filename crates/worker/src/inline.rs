//! Answering cheap interactions with their image, when this worker shares
//! its process with the ingress (the single-service design, `mandala dev`).
//!
//! A small render takes milliseconds, so a cheap job whose render slot is
//! free is answered with the image itself ([`Inline`]): rendered, stored and
//! sent as the interaction's response through Discord's callback endpoint,
//! inside Discord's 3 s. Everything else is queued and the user sees the
//! estimate first, as in every design. The ingress reaches this worker
//! through the types of `mandala_queue::inprocess`; the process that runs
//! both (`mandala_single`) hands them over.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mandala_model::{Drawing, Job, Reply};
use mandala_queue::inprocess::{InProcess, InlineAnswer};
use reqwest::Url;
use tokio::time::Instant;

use crate::Worker;
use crate::job::{JobLog, Verdict};
use crate::outcome::Outcome;
use crate::reply::message;
use crate::reply::target::{self, Plan};
use crate::state::Shared;
use crate::store::NewObject;

impl Worker {
    /// What the local push delivery of an ingress in this process needs to
    /// hand jobs to this worker: its router, its delivery attempts and
    /// deadline. `tell_on_shutdown`: at shutdown, tell the users of jobs
    /// still queued rather than spooling them (for an instance whose disk
    /// dies with it).
    pub fn in_process(&self, tell_on_shutdown: bool) -> InProcess {
        InProcess {
            worker: self.router(),
            max_attempts: self.shared.max_attempts,
            // Above the job deadline, like a subscription's ack deadline.
            ack_deadline: self.shared.job_deadline + Duration::from_secs(10),
            tell_on_shutdown,
        }
    }

    /// The inline answer, when renders predicted to take at most
    /// `inline_render_max_ms` (above 0) may be answered with their image.
    pub fn inline_answer(&self, inline_render_max_ms: u64) -> Option<Arc<dyn InlineAnswer>> {
        (inline_render_max_ms > 0).then(|| {
            Arc::new(Inline {
                shared: Arc::clone(&self.shared),
                max: Duration::from_millis(inline_render_max_ms),
            }) as Arc<dyn InlineAnswer>
        })
    }
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
            trace: mandala_queue::request_trace()
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
                shared.stats.count(crate::state::Event::Rendered);
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
                outcome: Outcome::AnsweredInline,
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
