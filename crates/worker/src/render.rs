//! Rendering off the async executor.
//!
//! A render is seconds of pure CPU. It runs on tokio's blocking pool, gated
//! by a semaphore of `RENDER_CONCURRENCY` permits, so at most that many
//! renders (and their pixel buffers) exist at once however many pushes
//! arrive, and the executor threads stay free to answer health checks and
//! talk to Discord and Cloud Storage.

use std::sync::Arc;
use std::time::Instant;

use mandala_model::ResolvedSpec;
use tokio::sync::Semaphore;

/// An encoded image and what it took to make it.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: bytes::Bytes,
    pub content_type: String,
    /// Building the scene and painting it, in microseconds.
    pub render_us: u64,
    /// Encoding to PNG / WebP / SVG, in microseconds.
    pub encode_us: u64,
    /// Time spent waiting for a render slot, in microseconds.
    pub queue_us: u64,
}

/// Why a spec produced no image. Rendering is deterministic, so trying the
/// same spec again would fail the same way: the job is dropped, loudly.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error("renderer refused the spec: {0}")]
    Refused(String),
    #[error("renderer crashed: {0}")]
    Crashed(String),
}

#[derive(Debug, Clone)]
pub struct RenderPool {
    permits: Arc<Semaphore>,
    size: usize,
}

impl RenderPool {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        RenderPool {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub async fn render(&self, spec: ResolvedSpec) -> Result<Image, RenderFailure> {
        let queued = Instant::now();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| RenderFailure::Crashed(format!("render pool closed: {e}")))?;
        let queue_us = queued.elapsed().as_micros() as u64;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            render_now(&spec)
        })
        .await;
        match joined {
            Ok(Ok(mut image)) => {
                image.queue_us = queue_us;
                Ok(image)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(RenderFailure::Crashed(e.to_string())),
        }
    }
}

/// The one call into the renderer (blocking).
fn render_now(spec: &ResolvedSpec) -> Result<Image, RenderFailure> {
    let rendered =
        mandala_render::render_to_bytes(spec).map_err(|e| RenderFailure::Refused(e.to_string()))?;
    Ok(Image {
        render_us: (rendered.geometry + rendered.raster).as_micros() as u64,
        encode_us: rendered.encode.as_micros() as u64,
        bytes: rendered.bytes.into(),
        content_type: rendered.content_type.to_owned(),
        queue_us: 0,
    })
}
