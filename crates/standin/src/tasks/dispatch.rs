//! The twin's dispatcher: due tasks out, at the queue's rate and
//! concurrency, failed ones back in after their backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::{CloudTasksTwin, Pending, unix_secs};

/// One dispatch, as the twin saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The task's id (the last segment of its name).
    pub task: String,
    /// The `X-CloudTasks-TaskRetryCount` it carried.
    pub retry_count: u32,
    /// The `X-CloudTasks-TaskExecutionCount` it carried.
    pub execution_count: u32,
    /// The handler's status; `None` when it did not answer.
    pub status: Option<u16>,
}

/// The wait before dispatch `retries + 1`: the minimum doubled `retries`
/// times, for at most `max_doublings` doublings, then growing by the last
/// doubled step each time, never above the maximum (Cloud Tasks' rule).
pub(super) fn backoff(config: &super::QueueConfig, retries: u32) -> Duration {
    let min = config.min_backoff;
    let doubled = retries.min(config.max_doublings).min(30);
    let mut wait = min.saturating_mul(1 << doubled);
    if retries > config.max_doublings {
        wait = wait.saturating_mul(retries - config.max_doublings + 1);
    }
    wait.min(config.max_backoff).max(min)
}

/// The dispatcher's next move.
enum Pick {
    Run(Option<Pending>),
    /// Nothing due: sleep until then (or until woken).
    Wait(Option<Instant>),
}

/// Dispatches forever (the twin lives as long as its runtime).
pub(super) async fn run(twin: CloudTasksTwin) {
    let config = &twin.inner.config;
    let gate = Arc::new(Semaphore::new(config.max_concurrent_dispatches.max(1)));
    let spacing = if config.max_dispatches_per_second > 0.0 {
        Duration::from_secs_f64(1.0 / config.max_dispatches_per_second)
    } else {
        Duration::ZERO
    };
    let mut next_start = tokio::time::Instant::now();
    loop {
        let woken = twin.inner.wake.notified();
        let now = Instant::now();
        let picked = twin.with(|s| {
            let due = s
                .queue
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| t.due)
                .map(|(i, t)| (i, t.due));
            match due {
                Some((i, at)) if at <= now => Pick::Run(s.queue.remove(i)),
                Some((_, at)) => Pick::Wait(Some(at)),
                None => Pick::Wait(None),
            }
        });
        let task = match picked {
            Pick::Run(Some(task)) => task,
            Pick::Run(None) => continue,
            Pick::Wait(next) => {
                let sleep = next.map_or(Duration::from_secs(3600), |at| at - now);
                let _ = tokio::time::timeout(sleep, woken).await;
                continue;
            }
        };
        // The rate: dispatches start at most every `spacing`.
        tokio::time::sleep_until(next_start).await;
        next_start = next_start.max(tokio::time::Instant::now()) + spacing;
        let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
            return;
        };
        twin.with(|s| s.running += 1);
        let twin = twin.clone();
        tokio::spawn(async move {
            dispatch(&twin, task).await;
            drop(permit);
            twin.with(|s| s.running -= 1);
            twin.inner.wake.notify_waiters();
        });
    }
}

/// Sends `task` once and files the outcome.
async fn dispatch(twin: &CloudTasksTwin, mut task: Pending) {
    let id = task.name.rsplit('/').next().unwrap_or_default().to_owned();
    let queue = task.name.split('/').nth(5).unwrap_or_default().to_owned();
    let mut request = twin
        .inner
        .http
        .post(&task.url)
        .header("User-Agent", "Google-Cloud-Tasks")
        .header("X-CloudTasks-QueueName", &queue)
        .header("X-CloudTasks-TaskName", &id)
        .header(
            "X-CloudTasks-TaskRetryCount",
            task.dispatch_count.to_string(),
        )
        .header(
            "X-CloudTasks-TaskExecutionCount",
            task.response_count.to_string(),
        )
        .header("X-CloudTasks-TaskETA", format!("{:.6}", task.eta_secs))
        .body(task.body.clone());
    for (k, v) in &task.headers {
        request = request.header(k, v);
    }
    if let Some((email, audience)) = &task.oidc {
        match twin.inner.signer.mint(email, audience, unix_secs() as u64) {
            Ok(token) => request = request.bearer_auth(token),
            Err(e) => tracing::error!(error = %e, "the twin could not sign a token"),
        }
    }
    let status = match request.send().await {
        Ok(r) => Some(r.status().as_u16()),
        Err(e) => {
            tracing::debug!(task = %id, error = %e, "dispatch got no answer");
            None
        }
    };
    let attempt = super::Attempt {
        task: id,
        retry_count: task.dispatch_count,
        execution_count: task.response_count,
        status,
    };
    task.dispatch_count += 1;
    if status.is_some() {
        task.response_count += 1;
    }
    let config = &twin.inner.config;
    let succeeded = status.is_some_and(|s| (200..300).contains(&s));
    let exhausted = config.max_attempts > 0 && task.dispatch_count >= config.max_attempts;
    twin.with(|s| {
        s.stats.dispatches += 1;
        s.attempts.push(attempt);
        if succeeded {
            s.stats.succeeded += 1;
        } else if exhausted {
            s.stats.gave_up += 1;
            tracing::warn!(task = %task.name, attempts = task.dispatch_count, "task given up");
        } else {
            let wait = backoff(config, task.dispatch_count - 1);
            task.due = Instant::now() + wait;
            task.eta_secs = unix_secs() + wait.as_secs_f64();
            s.queue.push_back(task);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_grows_linearly_up_to_the_maximum() {
        let config = super::super::QueueConfig {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_doublings: 3,
            ..super::super::QueueConfig::default()
        };
        let ms = |n| backoff(&config, n).as_millis();
        assert_eq!(
            (0..8).map(ms).collect::<Vec<_>>(),
            [100, 200, 400, 800, 1600, 2400, 3200, 4000]
        );
        assert_eq!(ms(40), 5000);
    }
}
