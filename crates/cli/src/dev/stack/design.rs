//! Each design's settings ([`Plan::of`]): how jobs travel from the
//! ingress to the worker, and in `pubsub-split` from the render stage to
//! the replier, creating what that needs on the way (emulator topics, the
//! Cloud Tasks twin, the replier's listener).

use anyhow::Context as _;
use mandala_standin::tasks::CloudTasksTwin;
use tokio::net::TcpListener;

use super::options::{DevOptions, Topology};
use super::settings::{
    IngressSettings, JobRoute, LocalFiles, PushCheck, ReplyRoute, Stage, WorkerSettings,
};
use crate::dev::emulators;
use crate::dev::store::StoreLocation;

/// Where the stack listens and who it is, decided before the design.
pub(super) struct Ground<'a> {
    pub options: &'a DevOptions,
    pub front_port: u16,
    pub worker_port: u16,
    /// `http://host:port` of the worker.
    pub worker_url: &'a str,
    pub public_key_hex: &'a str,
    pub api_base: &'a str,
    pub store: &'a StoreLocation,
}

/// The replier of the split design, not started yet.
pub(super) struct ReplierPlan {
    pub settings: WorkerSettings,
    pub listener: TcpListener,
    /// `http://host:port`.
    pub url: String,
}

/// Everything the stack starts, as settings.
pub(super) struct Plan {
    pub ingress: IngressSettings,
    pub worker: WorkerSettings,
    pub replier: Option<ReplierPlan>,
    pub tasks: Option<CloudTasksTwin>,
    /// With the twin and no Firestore, the worker ends jobs in the
    /// ingress's in-memory ledger.
    pub shared_memory_ledger: bool,
}

impl Plan {
    pub async fn of(ground: &Ground<'_>) -> anyhow::Result<Plan> {
        let options = ground.options;
        let mut plan = Plan {
            ingress: ingress(ground),
            worker: worker(ground),
            replier: None,
            tasks: None,
            shared_memory_ledger: false,
        };
        if options.topology == Topology::PubsubSplit {
            let replier = plan.split(ground).await?;
            plan.replier = Some(replier);
        }
        plan.route_jobs(ground).await?;
        Ok(plan)
    }

    /// The render stage and the replier behind its own delivery.
    async fn split(&mut self, ground: &Ground<'_>) -> anyhow::Result<ReplierPlan> {
        let options = ground.options;
        let replier_port = if options.worker_port == 0 {
            0
        } else {
            options.worker_port.saturating_add(1)
        };
        let listener = TcpListener::bind((options.host, replier_port))
            .await
            .with_context(|| format!("binding {}:{replier_port} (the replier)", options.host))?;
        let url = format!("http://{}", listener.local_addr()?);
        let settings = self.worker.in_stage(Stage::Reply);
        let route = match &options.pubsub_emulator {
            Some(host) => {
                let topic = emulators::ensure_topic(
                    host,
                    emulators::REPLIES,
                    &format!("{url}/pubsub/push"),
                    &format!("{url}/pubsub/dead-letter"),
                )
                .await?;
                ReplyRoute::Pubsub {
                    topic,
                    emulator_host: host.clone(),
                }
            }
            None => ReplyRoute::LocalPush {
                url: format!("{url}/pubsub/push"),
                files: LocalFiles::replies(&options.dir),
            },
        };
        self.worker.stage = Stage::Render(route);
        Ok(ReplierPlan {
            settings,
            listener,
            url,
        })
    }

    /// The jobs' way from the ingress to the worker.
    async fn route_jobs(&mut self, ground: &Ground<'_>) -> anyhow::Result<()> {
        let options = ground.options;
        let worker_url = ground.worker_url;
        self.ingress.jobs = match (options.topology, &options.pubsub_emulator) {
            (Topology::Single, _) => {
                self.worker.stage = Stage::Single;
                JobRoute::InProcess(LocalFiles::jobs(&options.dir))
            }
            (Topology::CloudTasks, _) => {
                let twin = CloudTasksTwin::new(options.tasks_queue.clone())
                    .map_err(|e| anyhow::anyhow!("the Cloud Tasks twin: {e}"))?;
                let twin_host = twin.serve().await.context("serving the Cloud Tasks twin")?;
                // The worker checks the twin's tokens as it checks Google's.
                self.worker.push_check = PushCheck::TwinTokens {
                    audience: worker_url.to_owned(),
                    jwks_url: format!("http://{twin_host}/certs"),
                };
                self.shared_memory_ledger = options.firestore_emulator.is_none();
                self.tasks = Some(twin);
                JobRoute::CloudTasks {
                    worker_url: worker_url.to_owned(),
                    twin_host,
                }
            }
            (Topology::Pubsub | Topology::PubsubSplit, Some(host)) => {
                let topic = emulators::ensure_push_topic(
                    host,
                    &format!("{worker_url}/pubsub/push"),
                    &format!("{worker_url}/pubsub/dead-letter"),
                )
                .await?;
                JobRoute::Pubsub {
                    topic,
                    emulator_host: host.clone(),
                }
            }
            (Topology::Pubsub | Topology::PubsubSplit, None) => JobRoute::LocalPush {
                url: format!("{worker_url}/pubsub/push"),
                files: LocalFiles::jobs(&options.dir),
            },
        };
        Ok(())
    }
}

/// The ingress's settings before the design picks the route.
fn ingress(ground: &Ground<'_>) -> IngressSettings {
    IngressSettings {
        port: ground.front_port,
        public_key_hex: ground.public_key_hex.to_owned(),
        application_id: ground.options.discord_application_id.clone(),
        discord_api_base: ground.api_base.to_owned(),
        firestore_emulator: ground.options.firestore_emulator.clone(),
        jobs: JobRoute::InProcess(LocalFiles::jobs(&ground.options.dir)),
    }
}

/// The worker's settings, like its binary's environment, before the
/// design's own.
fn worker(ground: &Ground<'_>) -> WorkerSettings {
    let options = ground.options;
    WorkerSettings {
        port: ground.worker_port,
        discord_api_base: ground.api_base.to_owned(),
        // Through a cloud queue the worker keeps the shared ledger.
        firestore_emulator: options
            .firestore_emulator
            .clone()
            .filter(|_| options.shared_queue()),
        max_delivery_attempts: options.delivery_attempts(),
        store: ground.store.clone(),
        render_concurrency: options.render_concurrency,
        stage: Stage::Whole,
        push_check: PushCheck::Off,
    }
}
