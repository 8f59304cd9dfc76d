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

use bytes::Bytes;
use mandala_model::clock::now_ms;
use mandala_model::{Drawing, Job, Reply, SpecError};
use mandala_queue::inprocess::{InProcess, InlineAnswer};
use mandala_service::logging::cloud_trace;
use reqwest::Url;
use tokio::time::Instant;

use crate::Worker;
use crate::image;
use crate::joblog::{self, JobLog};
use crate::outcome::Outcome;
use crate::render::RenderFailure;
use crate::reply::discord::RespondError;
use crate::reply::message;
use crate::reply::target::{self, Plan, TargetError};
use crate::state::{Event, Shared};
use crate::store::StoreError;
use crate::verdict::ack;

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

/// Why an interaction is not answered with its image: it is queued instead.
#[derive(Debug, thiserror::Error)]
enum NotInline {
    #[error("not an interaction")]
    NotAnInteraction,
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("nothing to answer")]
    NothingToAnswer,
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("predicted {0:?} to render")]
    TooSlow(Duration),
    #[error("no render slot free")]
    NoSlot,
    #[error(transparent)]
    Render(#[from] RenderFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too large to attach")]
    TooLarge,
    #[error("the API base cannot take a path")]
    BaseTakesNoPath,
    #[error(transparent)]
    Respond(#[from] RespondError),
}

impl Inline {
    async fn try_answer(
        &self,
        job: &Job,
        interaction_id: &str,
        deadline: Instant,
    ) -> Result<(), NotInline> {
        let shared = &*self.shared;
        let started = Instant::now();
        let Reply::Interaction(reply) = &job.reply else {
            return Err(NotInline::NotAnInteraction);
        };
        let drawing = self.cheap_drawing(job)?;
        let mut log = JobLog {
            message_id: format!("inline-{interaction_id}"),
            spec_hash: drawing.hash().to_string(),
            // Answered inside the interaction's request: its trace.
            trace: mandala_queue::request_trace().map(|t| cloud_trace(&t)),
            ..JobLog::default()
        };
        log.note_job(job);
        let (bytes, content_type) = found_or_rendered(shared, job, &drawing, &mut log).await?;
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
            return Err(NotInline::TooLarge);
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
        let verdict = ack(
            Outcome::AnsweredInline,
            format!("interaction callback answered {status}"),
        );
        joblog::record(shared, &verdict, &log, None);
        Ok(())
    }

    /// The job's drawing, if it may be answered inline: a reply that passes
    /// the same checks as every reply (ids, token, expiry), and a render
    /// predicted to take at most the inline limit.
    fn cheap_drawing(&self, job: &Job) -> Result<Drawing, NotInline> {
        let shared = &*self.shared;
        match target::plan(&job.reply, &shared.api_base, now_ms())? {
            Plan::Send(_) => {}
            Plan::Expired { .. } | Plan::Nothing => return Err(NotInline::NothingToAnswer),
        }
        let drawing = Drawing::resolve(&job.spec, job.grid)?;
        let stat = shared.calibrator.stat(now_ms());
        let predicted =
            Duration::from_micros((drawing.cost().0 as f64 * stat.us_per_unit.max(0.0)) as u64);
        if predicted > self.max {
            return Err(NotInline::TooSlow(predicted));
        }
        Ok(drawing)
    }
}

/// The image from the store, or rendered now in a free slot (never
/// waiting for one: that would jump the queue) and stored.
async fn found_or_rendered(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    log: &mut JobLog,
) -> Result<(Bytes, String), NotInline> {
    let name = drawing.object_name();
    log.location = shared.store.location(&name);
    if let Some(found) = shared.store.get(&name).await? {
        log.cache_hit = Some(true);
        return Ok((found.bytes, found.content_type));
    }
    log.cache_hit = Some(false);
    let image = shared
        .pool
        .try_render(drawing.clone(), job.user())
        .await
        .ok_or(NotInline::NoSlot)??;
    shared.stats.count(Event::Rendered);
    log.render_us = Some(image.render_us);
    log.encode_us = Some(image.encode_us);
    image::store(shared, &name, drawing, &image).await?;
    Ok((image.bytes, image.content_type))
}

/// `{base}/interactions/{id}/{token}/callback`.
fn callback_url(base: &Url, interaction_id: &str, token: &str) -> Result<Url, NotInline> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| NotInline::BaseTakesNoPath)?
        .pop_if_empty()
        .extend(["interactions", interaction_id, token, "callback"]);
    Ok(url)
}
