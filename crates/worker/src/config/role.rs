//! What a worker does ([`Role`]), how a job reached it ([`Via`]), and the
//! design both imply ([`Design`]).

/// What one worker service does (docs/DEPLOY.md, Designs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Render, store and reply (the `pubsub` and `cloud-tasks` designs).
    All,
    /// Render and store, then hand a reply job to the reply stage
    /// (`pubsub-split`).
    Render,
    /// Edit Discord messages from reply jobs; never renders (`pubsub-split`).
    Reply,
    /// Be the interactions endpoint too: ingress and worker in one process
    /// (`single`).
    Single,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Render => "render",
            Role::Reply => "reply",
            Role::Single => "single",
        }
    }
}

/// How a job reached this process (`crate::delivery::Delivery::via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// A Pub/Sub push, or the local push delivery that imitates one: a
    /// dead-letter route tells the user of a job every delivery failed.
    #[default]
    Push,
    /// A Cloud Tasks dispatch (`/tasks/run`): no dead-letter route; the
    /// ledger's stall watchdog tells the user of a job whose attempts
    /// stopped coming.
    Task,
}

/// The design a job ran in (docs/DEPLOY.md, Designs), as its log line
/// says: what this process's role and the way the job arrived imply, so
/// that no setting can say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    Single,
    Pubsub,
    PubsubSplit,
    CloudTasks,
}

impl Design {
    pub fn of(role: Role, via: Via) -> Design {
        match (role, via) {
            (Role::Single, _) => Design::Single,
            (Role::Render | Role::Reply, _) => Design::PubsubSplit,
            (Role::All, Via::Push) => Design::Pubsub,
            (Role::All, Via::Task) => Design::CloudTasks,
        }
    }

    /// The design the role alone implies (`None` for `all`, which serves
    /// two designs).
    pub fn of_role(role: Role) -> Option<Design> {
        (role != Role::All).then(|| Design::of(role, Via::Push))
    }

    /// `var.topology`'s spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Design::Single => "single",
            Design::Pubsub => "pubsub",
            Design::PubsubSplit => "pubsub-split",
            Design::CloudTasks => "cloud-tasks",
        }
    }
}
