//! Rendering off the async executor, fairly.
//!
//! A render is seconds of pure CPU. It runs on tokio's blocking pool, at
//! most `RENDER_CONCURRENCY` at once however many pushes arrive, so the
//! executor threads stay free to answer health checks and talk to Discord
//! and Cloud Storage.
//!
//! When more jobs wait for a render slot than there are slots, users take
//! turns: the next free slot goes to the waiting user who was served least
//! recently (never served comes first), not to the oldest job, so one
//! user's burst never makes everyone else wait behind all of it. Jobs
//! without a user (manual ones) share one turn.
//!
//! This is where fairness is decided in production: Pub/Sub pushes the
//! oldest eligible message first, and ordering keys let each user have
//! only one job out at a time, so the worker (which accepts more pushes
//! than it has slots) holds at most one job per user and serves them in
//! turn.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use mandala_model::Drawing;
use tokio::sync::oneshot;

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
    Refused(#[source] mandala_render::RenderError),
    #[error("renderer crashed: {0}")]
    Crashed(#[source] tokio::task::JoinError),
    #[error("renderer crashed: render pool closed")]
    PoolClosed,
}

/// The render slots and the users waiting for them.
#[derive(Debug, Clone)]
pub struct RenderPool {
    state: Arc<Mutex<Slots>>,
    size: usize,
}

#[derive(Debug)]
struct Slots {
    free: usize,
    /// Per user (`""` for none), the jobs waiting for a slot, oldest first.
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// When each user last got a slot (a counter, not a clock). Users not
    /// served for [`MEMORY`] grants are forgotten, and count as never served.
    served: HashMap<String, u64>,
    grants: u64,
}

/// How many grants a user's last turn is remembered for.
const MEMORY: u64 = 10_000;

impl Slots {
    /// The waiting user who was served least recently.
    fn next_user(&self) -> Option<String> {
        self.waiting
            .keys()
            .min_by_key(|u| (self.served.get(*u).copied().unwrap_or(0), (*u).clone()))
            .cloned()
    }

    fn granted(&mut self, user: &str) {
        self.grants += 1;
        self.served.insert(user.to_owned(), self.grants);
        if self.served.len() > 4096 {
            let oldest = self.grants.saturating_sub(MEMORY);
            self.served.retain(|_, g| *g > oldest);
        }
    }
}

/// A render slot; dropping it hands the slot to the next user in turn.
struct Slot(Arc<Mutex<Slots>>);

fn lock(m: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    // Each update is a few pushes and pops: nothing is left half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = lock(&self.0);
        while let Some(user) = slots.next_user() {
            let Some(queue) = slots.waiting.get_mut(&user) else {
                break;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                slots.waiting.remove(&user);
            }
            // A waiter that gave up (its job timed out) has dropped its
            // receiver: the slot goes to the next one.
            if let Some(tx) = next
                && tx.send(()).is_ok()
            {
                slots.granted(&user);
                return;
            }
        }
        slots.free += 1;
    }
}

impl RenderPool {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        RenderPool {
            state: Arc::new(Mutex::new(Slots {
                free: size,
                waiting: HashMap::new(),
                served: HashMap::new(),
                grants: 0,
            })),
            size,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Jobs waiting for a slot right now.
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiting.values().map(VecDeque::len).sum()
    }

    async fn slot(&self, user: Option<&str>) -> Result<Slot, RenderFailure> {
        let rx = {
            let mut slots = lock(&self.state);
            let user = user.unwrap_or_default().to_owned();
            if slots.free > 0 && slots.waiting.is_empty() {
                slots.free -= 1;
                slots.granted(&user);
                return Ok(Slot(Arc::clone(&self.state)));
            }
            let (tx, rx) = oneshot::channel();
            slots.waiting.entry(user).or_default().push_back(tx);
            rx
        };
        rx.await
            .map(|()| Slot(Arc::clone(&self.state)))
            .map_err(|_| RenderFailure::PoolClosed)
    }

    /// Renders `drawing` now if a slot is free and nobody waits for one;
    /// `None` otherwise (the single service's inline answer must not jump
    /// the queue).
    pub async fn try_render(
        &self,
        drawing: Drawing,
        user: Option<&str>,
    ) -> Option<Result<Image, RenderFailure>> {
        let slot = {
            let mut slots = lock(&self.state);
            if slots.free == 0 || !slots.waiting.is_empty() {
                return None;
            }
            slots.free -= 1;
            slots.granted(user.unwrap_or_default());
            Slot(Arc::clone(&self.state))
        };
        let joined = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            render_now(&drawing)
        })
        .await;
        Some(match joined {
            Ok(r) => r,
            Err(e) => Err(RenderFailure::Crashed(e)),
        })
    }

    /// Renders `drawing` (one mandala or a grid: one slot either way) for
    /// `user` once a slot is theirs.
    pub async fn render(
        &self,
        drawing: Drawing,
        user: Option<&str>,
    ) -> Result<Image, RenderFailure> {
        let queued = Instant::now();
        let slot = self.slot(user).await?;
        let queue_us = queued.elapsed().as_micros() as u64;
        let joined = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            render_now(&drawing)
        })
        .await;
        match joined {
            Ok(Ok(mut image)) => {
                image.queue_us = queue_us;
                Ok(image)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(RenderFailure::Crashed(e)),
        }
    }
}

/// The one call into the renderer (blocking).
fn render_now(drawing: &Drawing) -> Result<Image, RenderFailure> {
    let rendered = mandala_render::draw(drawing).map_err(RenderFailure::Refused)?;
    Ok(Image {
        render_us: (rendered.geometry + rendered.raster).as_micros() as u64,
        encode_us: rendered.encode.as_micros() as u64,
        bytes: rendered.bytes.into(),
        content_type: rendered.content_type.to_owned(),
        queue_us: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes a slot for `user` and records the order slots were granted in.
    async fn take(
        pool: &RenderPool,
        user: &str,
        order: &Arc<Mutex<Vec<String>>>,
        name: &str,
    ) -> Slot {
        let slot = pool.slot(Some(user)).await.unwrap();
        order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_owned());
        slot
    }

    #[tokio::test]
    async fn waiting_users_take_turns_for_a_free_slot() {
        let pool = RenderPool::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = take(&pool, "burst", &order, "b0").await;
        let mut waiters = Vec::new();
        // A burst of three, then two other users, all waiting.
        for (user, name) in [
            ("burst", "b1"),
            ("burst", "b2"),
            ("burst", "b3"),
            ("x", "x0"),
            ("y", "y0"),
        ] {
            let (pool, order) = (pool.clone(), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let slot = take(&pool, user, &order, name).await;
                tokio::task::yield_now().await;
                drop(slot);
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.waiting(), 5);
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // The burst was just served: the others go first, then the burst.
        assert_eq!(order, ["b0", "x0", "y0", "b1", "b2", "b3"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_the_slot() {
        let pool = RenderPool::new(1);
        let held = pool.slot(None).await.unwrap();
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(10), pool.slot(Some("a"))).await;
        assert!(gave_up.is_err());
        drop(held);
        // The slot is free again, not handed to the waiter that left.
        let again =
            tokio::time::timeout(std::time::Duration::from_secs(1), pool.slot(Some("b"))).await;
        assert!(again.is_ok());
    }
}
