//! The queue ledger: every job waiting or rendering, by user, in one place
//! every ingress and worker instance can see.
//!
//! It exists because a horizontally scaled bot cannot answer "how long will
//! this take?" or "how many jobs does this user have?" from one process's
//! memory, and Pub/Sub has no API that tells a subscription's backlog. The
//! ingress admits each job through the ledger (the per-user cap and the
//! estimate, in one compare-and-swap of the user's record), the process that
//! hands a job to a renderer marks it started, the process that sees it end
//! removes it, workers report how fast they render, and a sweeper tells
//! users whose job waits much longer than promised.
//!
//! Layout:
//! - [`entry`]: the records — a user's queue of entries, and their sums.
//! - [`estimate`]: the wait estimate from totals, worker speed and cost.
//! - [`ledger`]: [`Ledger`], the operations on top of any backend, each
//!   bounded by a deadline and a [`breaker::Breaker`].
//! - [`admission`]: [`Ledger::admit`], and what happens when the ledger
//!   cannot say in time; [`turns`]: one user's admissions in turn, and the
//!   per-instance allowance used without the ledger; [`pending`]: the
//!   admissions decided and still being written, counted by the next.
//! - [`backend`]: where records live — in memory (the local default) or in
//!   Cloud Firestore (production, and its emulator in tests).
//! - [`calibration`]: a worker's measured speed, and its report.
//! - [`notice`]: waiting notices, final words for jobs nobody will finish,
//!   and the sweeper that sends them.

pub mod admission;
pub mod backend;
pub mod breaker;
pub mod calibration;
pub mod entry;
pub mod estimate;
pub mod ledger;
pub mod notice;
mod pending;
pub mod turns;

pub use admission::{Admission, AdmitRequest, Written};
pub use backend::{Backend, LedgerError};
pub use calibration::Calibrator;
pub use entry::{Due, Entry, NoticeTarget, UserQueue};
pub use estimate::{Estimate, Snapshot, Totals, WorkerStat};
pub use ledger::{Ledger, Policy, Start};
pub use notice::{Claimed, Notifier};
