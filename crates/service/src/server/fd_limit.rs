//! The connection cap against the process's open-file limit.
//!
//! Every connection is a file descriptor. If the cap is above what the
//! limit allows, `accept` fails with EMFILE before the cap is reached and
//! the server can neither take new connections nor open the ones it needs
//! itself (Pub/Sub, Cloud Storage, the log file). So the soft limit is
//! raised to the hard one, as Go's runtime does, and the cap is lowered to
//! leave [`RESERVED`] descriptors for everything else.

#[cfg(unix)]
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the process's own files and outgoing connections.
pub(super) const RESERVED: u64 = 64;

/// The cap to use for `configured` connections.
pub(super) fn connection_cap(configured: usize) -> usize {
    let Some(open_files) = raise_open_file_limit() else {
        return configured;
    };
    let allowed = usize::try_from(open_files.saturating_sub(RESERVED))
        .unwrap_or(usize::MAX)
        .max(1);
    if allowed < configured {
        tracing::warn!(
            configured,
            open_file_limit = open_files,
            using = allowed,
            "HTTP_MAX_CONNECTIONS is above what the open-file limit allows; lowering it"
        );
        allowed
    } else {
        configured
    }
}

/// Raises the soft open-file limit to the hard one; returns the soft limit
/// in force afterwards (`None` when unlimited or unknown).
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            },
        )
        .is_ok()
    {
        return Some(maximum);
    }
    limit.current
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}
