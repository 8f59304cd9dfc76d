//! The stack's running parts: the state directory's lock, the listeners,
//! a worker served on its listener, the front server (ingress, playground
//! and Discord stand-in on one port), and the gate that closes the
//! ingress's part of it first.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::response::IntoResponse as _;
use mandala_ledger::Ledger;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Takes the state directory for this stack, or says which flag to change.
pub(super) fn lock_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("dev.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(crate::UsageError(format!(
            "--dir {}: another `mandala dev` is using it (its spool, dead letters and key would be shared); stop it, or give this one its own --dir",
            dir.display()
        ))
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
        }
    }
}

/// Binds `host:port`; `hint` says what to do when it is taken.
pub(super) async fn bind(host: IpAddr, port: u16, hint: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {host}:{port} ({hint})"))
}

/// A server task that stops when told.
pub(super) struct Served {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `app` on `listener` until [`Served::stop`]; `what` names it
    /// in the log if serving fails.
    pub fn start(listener: TcpListener, app: axum::Router, what: &'static str) -> Served {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(wait_for(rx))
                .await
            {
                tracing::error!(error = %e, "{what} stopped");
            }
        });
        Served { stop, task }
    }

    /// Stops taking connections and waits for those open to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Closes the listener at once, as a crash would look from outside.
    pub async fn abort(self) {
        let _ = self.stop.send(true);
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// A worker and its server.
pub(super) struct RunningWorker {
    pub served: Served,
    pub worker: mandala_worker::Worker,
}

impl RunningWorker {
    pub async fn start(
        config: mandala_worker::config::Config,
        listener: TcpListener,
        ledger: Option<Ledger>,
    ) -> anyhow::Result<RunningWorker> {
        let worker = mandala_worker::Worker::start_with(config, ledger)
            .await
            .map_err(|e| anyhow::anyhow!("starting the worker: {e}"))?;
        let served = Served::start(listener, worker.router(), "worker server");
        Ok(RunningWorker { served, worker })
    }

    /// Stops serving, then lets the worker finish what it holds.
    pub async fn shutdown(self) {
        self.served.stop().await;
        self.worker.shutdown().await;
    }
}

/// The ingress's routes on the front port, closed apart from the rest: at
/// shutdown interactions stop first (503), while the Discord stand-in on
/// the same port keeps answering the replies of jobs still in flight.
#[derive(Debug, Clone, Default)]
pub(super) struct Gate {
    /// Held for reading by each request let through; `false` once closed.
    open: Arc<tokio::sync::RwLock<bool>>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            open: Arc::new(tokio::sync::RwLock::new(true)),
        }
    }

    /// `router` behind this gate. Its handlers must not call back into
    /// gated routes (a request waiting for another behind a closing gate
    /// would wait forever); the ingress's do not.
    pub fn guard(&self, router: axum::Router) -> axum::Router {
        let gate = self.clone();
        router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let gate = gate.clone();
                async move {
                    let open = gate.open.read().await;
                    if !*open {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "shutting down")
                            .into_response();
                    }
                    next.run(request).await
                }
            },
        ))
    }

    /// Refuses new requests and waits for those let through to end.
    pub async fn close(&self) {
        *self.open.write().await = false;
    }
}
