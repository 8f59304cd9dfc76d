//! What the caller asks of the dev stack: the design ([`Topology`]) and
//! the rest of [`DevOptions`], with the defaults tests start from.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use mandala_standin::tasks::QueueConfig;

/// Delivery attempts before the local push delivery dead-letters a job.
pub(super) const LOCAL_PUSH_ATTEMPTS: u32 = 15;

/// How the services are joined: the designs of docs/DEPLOY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Topology {
    /// Ingress → topic → push subscription → worker (renders and replies).
    #[default]
    Pubsub,
    /// One service: interactions, queue and worker in one process; cheap
    /// jobs answered inline with the image.
    Single,
    /// Ingress → topic → render worker → reply topic → replier.
    PubsubSplit,
    /// Ingress → Cloud Tasks queue (the local twin) → worker `/tasks/run`.
    CloudTasks,
}

impl Topology {
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Pubsub => "pubsub",
            Topology::Single => "single",
            Topology::PubsubSplit => "pubsub-split",
            Topology::CloudTasks => "cloud-tasks",
        }
    }
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// State directory: dev key, local store, spool and dead letters.
    pub dir: PathBuf,
    pub host: IpAddr,
    /// Port of the ingress, stand-in and playground (0 picks a free one).
    pub port: u16,
    /// Port of the worker (0 picks a free one).
    pub worker_port: u16,
    /// A real application's public key; without it a dev key pair is used.
    pub discord_public_key: Option<String>,
    pub discord_application_id: Option<String>,
    /// A real (or external) Discord API; without it the stand-in serves.
    pub discord_api_base: Option<String>,
    /// Run through a Pub/Sub emulator at `host:port` instead of local push.
    pub pubsub_emulator: Option<String>,
    /// Keep the queue ledger in a Firestore emulator at `host:port` (needed
    /// with `pubsub_emulator`; optional with local push).
    pub firestore_emulator: Option<String>,
    /// Store through a Cloud Storage emulator at this URL instead of a directory.
    pub gcs_emulator: Option<String>,
    pub render_concurrency: Option<u32>,
    pub topology: Topology,
    /// The twin's queue (`cloud-tasks` only).
    pub tasks_queue: QueueConfig,
}

impl DevOptions {
    /// Defaults for tests: free ports under a given directory, stand-in on.
    pub fn ephemeral(dir: PathBuf) -> Self {
        DevOptions {
            dir,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            worker_port: 0,
            discord_public_key: None,
            discord_application_id: None,
            discord_api_base: None,
            pubsub_emulator: None,
            firestore_emulator: None,
            gcs_emulator: None,
            render_concurrency: None,
            topology: Topology::Pubsub,
            tasks_queue: QueueConfig {
                max_attempts: LOCAL_PUSH_ATTEMPTS,
                ..QueueConfig::default()
            },
        }
    }

    /// The contradictions no service would notice.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.pubsub_emulator.is_some()
            && matches!(self.topology, Topology::Single | Topology::CloudTasks)
        {
            anyhow::bail!(
                "--pubsub-emulator does not apply to --topology {}: it has no topic",
                self.topology.as_str()
            );
        }
        Ok(())
    }

    /// Whether jobs cross a cloud queue (or its twin), so that the worker
    /// must keep the shared ledger too.
    pub(super) fn shared_queue(&self) -> bool {
        self.topology != Topology::Single
            && (self.pubsub_emulator.is_some() || self.topology == Topology::CloudTasks)
    }

    /// The worker's MAX_DELIVERY_ATTEMPTS: its last attempt is the queue's.
    pub(super) fn delivery_attempts(&self) -> Option<u32> {
        let attempts = match self.topology {
            Topology::CloudTasks => self.tasks_queue.max_attempts,
            _ if self.pubsub_emulator.is_some() => crate::dev::emulators::MAX_DELIVERY_ATTEMPTS,
            // With local delivery the delivery's.
            _ => LOCAL_PUSH_ATTEMPTS,
        };
        (attempts > 0).then(|| attempts.min(100))
    }
}
