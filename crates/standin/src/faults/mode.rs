//! What a [`super::Proxy`] does with traffic, changed at run time.

use std::net::SocketAddr;
use std::time::Duration;

/// What a [`Proxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything at once.
    Pass,
    /// Forward everything, each chunk this long after it arrived, in both
    /// directions (a round trip costs twice this).
    Delay(Duration),
    /// Hold everything, on every connection, new and old: nothing reaches
    /// the other side until the mode changes, then it flows on (late).
    Hang,
    /// Reset every open connection, and each new one as it arrives.
    Reset,
    /// Connect new connections to this address instead of the upstream
    /// (e.g. a [`super::fail`] listener); open connections to the upstream are
    /// reset, so pooled clients reconnect and reach it too.
    Divert(SocketAddr),
}

impl Mode {
    /// Where a connection made in this mode goes, if it is made now.
    pub(super) fn target(self, upstream: SocketAddr) -> Option<SocketAddr> {
        match self {
            Mode::Pass | Mode::Delay(_) => Some(upstream),
            Mode::Divert(to) => Some(to),
            Mode::Hang | Mode::Reset => None,
        }
    }
}
