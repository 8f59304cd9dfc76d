//! The render stage: a job's image found in the store, or rendered and
//! stored — unless a render could not end before the job's interaction
//! token dies ([`obtain`]). Also the smaller versions of an image too
//! large for Discord, made by one halving loop ([`first_fit`]).
//!
//! Images are stored under their content hash, create-only, with the
//! metadata that says what they are ([`metadata`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use mandala_model::clock::now_ms;
use mandala_model::i18n::{Strings, fill};
use mandala_model::{Drawing, Job, RENDER_VERSION, Reply};
use tokio::time::Instant;

use crate::failure::{Cause, Failure};
use crate::joblog::JobLog;
use crate::outcome::Outcome;
use crate::render::{Image, RenderFailure};
use crate::reply::last_word::{Ending, Why};
use crate::state::{Event, Shared};
use crate::store::{NewObject, PutOutcome};

/// Kept between the end of a render and the death of the interaction
/// token: the upload, and a final word should it fail.
const TOKEN_MARGIN_MS: u64 = 15_000;

/// What a job needs of [`obtain`].
pub(crate) struct Need {
    /// The image's bytes (false when nobody will be sent the image).
    pub(crate) bytes: bool,
    /// A render must be done by then (Unix ms), or not started.
    pub(crate) render_by_ms: Option<u64>,
}

/// An image's bytes and content type.
pub(crate) type Found = (Bytes, String);

/// By when a render must be done (Unix ms) for the image to reach the user
/// while their token lives: time is kept for the upload (and a final word)
/// after the render, and for a waiting notice's lease before it. `None`
/// without a token.
pub(crate) fn render_by_ms(job: &Job, lease_until_ms: u64) -> Option<u64> {
    token_expires_ms(job).map(|expires| {
        expires
            .saturating_sub(TOKEN_MARGIN_MS)
            .saturating_sub(lease_until_ms.saturating_sub(now_ms()))
    })
}

/// When the job's interaction token dies (Unix ms): the ticket's record,
/// or the token's own (whichever is earlier); `None` without a token.
fn token_expires_ms(job: &Job) -> Option<u64> {
    let Reply::Interaction(i) = &job.reply else {
        return None;
    };
    let recorded = job.ticket.as_ref().map(|t| t.expires_ms).filter(|e| *e > 0);
    match (recorded, i.token_expires_at_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long rendering `drawing` is expected to take here: this instance's
/// measured speed, with the renders waiting for a slot ahead of it.
fn render_estimate(shared: &Shared, drawing: &Drawing) -> Duration {
    let stat = shared.calibrator.stat(now_ms());
    let one = drawing.cost().0 as f64 * stat.us_per_unit + stat.overhead_us;
    let slots = shared.pool.size().max(1) as f64;
    let ahead = 1.0 + shared.pool.waiting() as f64 / slots;
    Duration::from_micros((one * ahead).clamp(0.0, 3.6e9) as u64)
}

/// The job's final word when its token would die before its image could
/// be sent.
fn out_of_time(needed: Duration) -> Failure {
    Failure::permanent(
        Outcome::OutOfTime,
        Cause::OutOfTime {
            needed,
            kept_s: TOKEN_MARGIN_MS / 1000,
        },
        Ending::OutOfTime,
    )
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// The image's bytes and content type: found in the store, or rendered and
/// stored — unless a render could not end in time for the token.
pub(crate) async fn obtain(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    name: &str,
    need: Need,
    log: &mut JobLog,
) -> Result<Found, Failure> {
    if need.render_by_ms.is_some_and(|by| now_ms() > by) {
        return Err(out_of_time(Duration::ZERO));
    }
    if let Some(found) = find(shared, name, need.bytes, log).await? {
        return Ok(found);
    }
    if let Some(by) = need.render_by_ms {
        let estimate = render_estimate(shared, drawing);
        if now_ms() + estimate.as_millis() as u64 > by {
            return Err(out_of_time(estimate));
        }
    }
    let image = render(shared, job, drawing).await?;
    log.queue_us = image.queue_us;
    log.render_us = Some(image.render_us);
    log.encode_us = Some(image.encode_us);
    let put_started = Instant::now();
    let put = store(shared, name, drawing, &image).await;
    log.store_us = Some(log.store_us.unwrap_or(0) + us(put_started.elapsed()));
    match put {
        Ok(PutOutcome::Created | PutOutcome::AlreadyExisted) => {
            Ok((image.bytes, image.content_type))
        }
        Err(e) => Err(Failure::transient(Cause::StorePut(e), Why::Store)),
    }
}

/// The stored image, if there is one (without its bytes when they are not
/// needed); the check's time is the job's first store time.
async fn find(
    shared: &Shared,
    name: &str,
    need_bytes: bool,
    log: &mut JobLog,
) -> Result<Option<Found>, Failure> {
    let started = Instant::now();
    let existing = if need_bytes {
        shared
            .store
            .get(name)
            .await
            .map(|o| o.map(|o| (o.bytes, o.content_type)))
    } else {
        shared
            .store
            .exists(name)
            .await
            .map(|e| e.then(|| (Bytes::new(), String::new())))
    };
    let existing = existing.map_err(|e| Failure::transient(Cause::StoreCheck(e), Why::Store))?;
    log.cache_hit = Some(existing.is_some());
    log.store_us = Some(us(started.elapsed()));
    Ok(existing)
}

/// Renders `drawing` for the job's user; a spec the renderer refuses (or
/// crashes on) is refused for good, with its words for the user.
async fn render(shared: &Shared, job: &Job, drawing: &Drawing) -> Result<Image, Failure> {
    let image = shared
        .pool
        .render(drawing.clone(), job.user())
        .await
        // Rendering is deterministic: every way it fails is for good.
        .map_err(
            |e @ (RenderFailure::Refused(_)
             | RenderFailure::Crashed(_)
             | RenderFailure::PoolClosed)| {
                let words = e.to_string();
                Failure::permanent(Outcome::RenderFailed, e, Ending::RenderFailed(words))
            },
        )?;
    shared.stats.count(Event::Rendered);
    Ok(image)
}

/// Stores `image` as `name`, create-only.
pub(crate) async fn store(
    shared: &Shared,
    name: &str,
    drawing: &Drawing,
    image: &Image,
) -> Result<PutOutcome, crate::store::StoreError> {
    shared
        .store
        .put(NewObject {
            name: name.to_owned(),
            bytes: image.bytes.clone(),
            content_type: image.content_type.clone(),
            metadata: metadata(drawing),
        })
        .await
}

/// The custom metadata every stored image carries.
pub(crate) fn metadata(drawing: &Drawing) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("spec".to_owned(), drawing.canonical_json()),
        ("seed".to_owned(), drawing.seed().to_string()),
        ("render-version".to_owned(), RENDER_VERSION.to_string()),
        ("summary".to_owned(), drawing.summary()),
    ])
}

/// The halving loop: `drawing` at a half, a quarter, … of its edge, the
/// first that `fits` finds fitting (its `Some`), or `None` when none does.
/// `fits` may also end the search with an error.
pub(crate) async fn first_fit<T, E, F>(
    drawing: &Drawing,
    mut fits: impl FnMut(Drawing) -> F,
) -> Result<Option<T>, E>
where
    F: Future<Output = Result<Option<T>, E>>,
{
    let mut smaller = drawing.halved();
    while let Some(d) = smaller {
        smaller = d.halved();
        if let Some(fit) = fits(d).await? {
            return Ok(Some(fit));
        }
    }
    Ok(None)
}

/// A smaller version of an image, to attach in its place.
pub(crate) struct Preview {
    pub(crate) bytes: Bytes,
    pub(crate) content_type: String,
    /// The caption's line about it.
    pub(crate) note: String,
}

/// The same drawing rendered at a smaller edge until it fits `limit`
/// bytes, with a note for the caption; `None` if nothing smaller fits (or
/// a smaller render fails).
pub(crate) async fn preview(
    shared: &Shared,
    job: &Job,
    drawing: &Drawing,
    limit: usize,
) -> Option<Preview> {
    let location = &shared.store.location(&drawing.object_name());
    let fitted = first_fit(drawing, |smaller: Drawing| async move {
        let size = smaller.size();
        let image = shared.pool.render(smaller, job.user()).await?;
        Ok::<_, RenderFailure>((image.bytes.len() <= limit).then(|| Preview {
            note: preview_note(job.strings(), size, drawing.size(), location),
            bytes: image.bytes,
            content_type: image.content_type,
        }))
    })
    .await;
    fitted.ok().flatten()
}

/// The caption line for a preview: shown at `small`, the full image (of
/// edge `full`) stored at `location`.
pub(crate) fn preview_note(s: &Strings, small: u32, full: u32, location: &str) -> String {
    fill(
        s.preview_note,
        &[
            ("small", &small.to_string()),
            ("full", &full.to_string()),
            ("location", location),
        ],
    )
}
