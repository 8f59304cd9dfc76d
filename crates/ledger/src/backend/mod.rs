//! Where the ledger keeps its records: the [`Backend`] trait and its two
//! implementations.
//!
//! - [`memory`]: a map in the process. Exact for one process: the local
//!   default, where the ingress's local delivery is the queue itself.
//! - [`firestore`]: Cloud Firestore through its REST API, shared by every
//!   ingress and worker instance; also runs against the Firestore emulator.
//!
//! Both offer the same small contract: read a user's record with its
//! version, write it back only if the version is unchanged (compare and
//! swap), sum every live record, keep worker reports, and list users whose
//! waiting jobs deserve a notice. All the ledger's logic sits above it in
//! [`crate::Ledger`], identical for both.

pub mod firestore;
pub mod memory;

use futures::future::BoxFuture;

use crate::entry::UserQueue;
use crate::estimate::{Totals, WorkerStat};

/// A record whose next notice time is older than this has no live entry
/// left: every entry's notice time is at least its admission, a token lives
/// [`mandala_model::job::TOKEN_LIFETIME_MS`], and a record with a live
/// entry was written after that entry's admission, when all its entries
/// were alive. So twice a token's life bounds it; the sweeper's query
/// leaves such records out.
pub const DEAD_AFTER_MS: u64 = 2 * mandala_model::job::TOKEN_LIFETIME_MS;

/// A record's version, for compare-and-swap writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// No record exists.
    Absent,
    /// The backend's own version token (a counter, an update time).
    At(String),
}

/// A user's record as read, with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub queue: UserQueue,
    pub version: Version,
}

/// Why the ledger could not be read or written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    #[error("{backend}: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
    #[error("{backend}: the record of user {user} kept changing under us ({attempts} attempts)")]
    Contended {
        backend: &'static str,
        user: String,
        attempts: u32,
    },
    #[error("{backend}: a stored record is not readable: {message}")]
    Corrupt {
        backend: &'static str,
        message: String,
    },
    #[error("the ledger did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("{backend}: not called: it kept failing, next try in {for_ms} ms")]
    Paused { backend: &'static str, for_ms: u64 },
}

/// A store for the ledger's records.
pub trait Backend: Send + Sync + 'static {
    /// A short name for messages: `memory`, `firestore`.
    fn name(&self) -> &'static str;

    /// The user's record, or an empty one with [`Version::Absent`].
    fn read<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Versioned, LedgerError>>;

    /// Stores `queue` for `user` if its version is still `expected`;
    /// `Ok(false)` if someone wrote in between. An empty queue removes the
    /// record. `now_ms` dates the record's derived fields.
    fn write<'a>(
        &'a self,
        user: &'a str,
        queue: &'a UserQueue,
        expected: &'a Version,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;

    /// Sums over every user's live entries.
    fn totals(&self, now_ms: u64) -> BoxFuture<'_, Result<Totals, LedgerError>>;

    /// Worker reports newer than `since_ms`.
    fn workers(&self, since_ms: u64) -> BoxFuture<'_, Result<Vec<WorkerStat>, LedgerError>>;

    /// Records (replaces) one worker's report.
    fn put_worker<'a>(&'a self, stat: &'a WorkerStat) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// Users with a waiting job whose notice time has come, at most `limit`,
    /// leaving out records dead for sure ([`DEAD_AFTER_MS`]).
    fn due_notices(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<String>, LedgerError>>;
}
