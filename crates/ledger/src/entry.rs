//! What the ledger records: each user's outstanding jobs, as one record.
//!
//! A user's [`UserQueue`] is the unit of atomic update: admitting a job
//! (and checking the cap), marking it started, claiming a waiting notice and
//! removing it are each a read-modify-write of that one record, guarded by
//! its version. Entries carry their token's expiry, so a job whose end was
//! never recorded (a crashed instance) stops counting by itself after at
//! most 15 minutes.

use std::collections::BTreeMap;

use mandala_model::Snowflake;
use serde::{Deserialize, Serialize};

/// How much later than promised a waiting job may be before its user is
/// told again: half the promised wait, and at least this.
pub const MIN_SLACK_MS: u64 = 5_000;

/// The shortest time between two waiting notices on one message
/// (`@original` edits share a small rate-limit bucket).
pub const NOTICE_INTERVAL_MS: u64 = 10_000;

/// How long a claimed notice holds the message, from the moment it is
/// claimed: the notice is sent inside it or not at all, and the worker's
/// final edit never starts inside it, so a late "still waiting" cannot
/// replace the image.
pub const NOTICE_LEASE_MS: u64 = 6_000;

/// A waiting job this close to its token's death gets its final word
/// ("could not finish in time") instead of another promise, and leaves
/// the queue: after it nothing could be delivered anyway.
pub const OUT_OF_TIME_MS: u64 = 60_000;

/// Where waiting notices go: the interaction's original response. The
/// token is a secret for its 15 minutes; it is never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTarget {
    pub application_id: Snowflake,
    pub token: String,
}

impl std::fmt::Debug for NoticeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeTarget")
            .field("application_id", &self.application_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// One outstanding job. Times are Unix milliseconds; 0 means "not yet".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Predicted render effort in work units.
    pub cost: u64,
    pub accepted_ms: u64,
    /// When the user was told the image would be ready.
    pub due_ms: u64,
    /// When the interaction token dies: nothing can be delivered after it.
    pub expires_ms: u64,
    /// When a worker (or the local delivery) took it.
    #[serde(default)]
    pub started_ms: u64,
    /// A waiting notice is being sent until this time.
    #[serde(default)]
    pub lease_ms: u64,
    /// When the last waiting notice went out.
    #[serde(default)]
    pub notified_ms: u64,
    #[serde(default)]
    pub notices: u32,
    /// What the user's message says the job is, e.g. `🌀 Rendering mandala · seed 42 · …`.
    #[serde(default)]
    pub label: String,
    /// The user's Discord locale, for the waiting notice's language.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locale: String,
    /// Where waiting notices go; `None` leaves the message alone.
    #[serde(default)]
    pub reply: Option<NoticeTarget>,
    /// A running job whose latest attempt started longer ago than this
    /// (ms) has stalled: nothing will redeliver it, its user is told. 0:
    /// no watchdog (Pub/Sub's dead-letter route tells them instead).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stall_after_ms: u64,
    /// The job has ended: this entry only remains, until its token
    /// expires, so that an admission write that outlived its timeout and
    /// lands late finds the record changed and cannot bring it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Entry {
    /// A job waiting for a worker, as admitted.
    pub fn waiting(cost: u64, now_ms: u64, due_ms: u64, expires_ms: u64) -> Entry {
        Entry {
            cost,
            accepted_ms: now_ms,
            due_ms,
            expires_ms,
            started_ms: 0,
            lease_ms: 0,
            notified_ms: 0,
            notices: 0,
            label: String::new(),
            locale: String::new(),
            reply: None,
            stall_after_ms: 0,
            ended: false,
        }
    }

    /// Counts: not ended, and its token still alive.
    pub fn is_live(&self, now_ms: u64) -> bool {
        !self.ended && self.expires_ms > now_ms
    }

    pub fn is_waiting(&self) -> bool {
        self.started_ms == 0
    }

    /// When the sweeper should next look at this entry, if ever: a waiting
    /// job's next notice (or its final word when its token is about to
    /// die), a running job's stall check.
    pub fn next_notice_ms(&self) -> Option<u64> {
        if self.ended || self.reply.is_none() {
            return None;
        }
        if !self.is_waiting() {
            return (self.stall_after_ms > 0).then(|| self.started_ms + self.stall_after_ms);
        }
        let promised = self.due_ms.saturating_sub(self.accepted_ms);
        let overdue = self.due_ms + MIN_SLACK_MS.max(promised / 2);
        let spaced = match self.notified_ms {
            0 => 0,
            t => t + NOTICE_INTERVAL_MS,
        };
        let last_call = self.expires_ms.saturating_sub(OUT_OF_TIME_MS);
        Some(overdue.max(spaced).min(last_call).max(self.lease_ms))
    }

    /// What the sweeper owes this entry's user at `now_ms`, if anything.
    pub fn due(&self, now_ms: u64) -> Option<Due> {
        if self.next_notice_ms()? > now_ms {
            return None;
        }
        if !self.is_waiting() {
            return Some(Due::Stalled);
        }
        if self.expires_ms.saturating_sub(OUT_OF_TIME_MS) <= now_ms {
            return Some(Due::OutOfTime);
        }
        Some(Due::Notice)
    }
}

/// What a sweep owes a user whose entry came due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Still waiting, much longer than promised: a new estimate.
    Notice,
    /// Still waiting and its token dies within [`OUT_OF_TIME_MS`]: the
    /// final word, and the job leaves the queue.
    OutOfTime,
    /// Started, then nothing for [`Entry::stall_after_ms`]: the final word,
    /// and the job leaves the queue.
    Stalled,
}

/// The sums the estimate needs, over a queue's live entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub jobs: u64,
    /// Jobs started (being rendered).
    pub running_jobs: u64,
    /// Work units not started yet.
    pub waiting_units: u64,
    /// Work units being rendered now.
    pub running_units: u64,
    /// The latest token expiry: after it the whole record is dead.
    pub expires_ms: u64,
    /// The earliest [`Entry::next_notice_ms`], if any.
    pub next_notice_ms: Option<u64>,
    /// The latest token expiry of any entry, ended ones included: until
    /// then the record must be kept.
    pub keep_until_ms: u64,
}

/// A user's outstanding jobs by job id (the interaction id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserQueue {
    pub jobs: BTreeMap<String, Entry>,
}

impl UserQueue {
    /// Drops entries whose token has expired, ended ones included; whether
    /// any went.
    pub fn prune(&mut self, now_ms: u64) -> bool {
        let before = self.jobs.len();
        self.jobs.retain(|_, e| e.expires_ms > now_ms);
        self.jobs.len() != before
    }

    /// The entries that count: not ended.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = (&String, &Entry)> {
        self.jobs.iter().filter(move |(_, e)| e.is_live(now_ms))
    }

    pub fn sums(&self, now_ms: u64) -> Sums {
        let mut s = Sums {
            keep_until_ms: self.jobs.values().map(|e| e.expires_ms).max().unwrap_or(0),
            ..Sums::default()
        };
        for e in self.jobs.values().filter(|e| e.is_live(now_ms)) {
            s.jobs += 1;
            if e.is_waiting() {
                s.waiting_units += e.cost;
            } else {
                s.running_jobs += 1;
                s.running_units += e.cost;
            }
            s.expires_ms = s.expires_ms.max(e.expires_ms);
            if let Some(t) = e.next_notice_ms() {
                s.next_notice_ms = Some(s.next_notice_ms.map_or(t, |n: u64| n.min(t)));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(accepted: u64, due: u64) -> Entry {
        Entry {
            cost: 10,
            accepted_ms: accepted,
            due_ms: due,
            expires_ms: accepted + 900_000,
            started_ms: 0,
            lease_ms: 0,
            notified_ms: 0,
            notices: 0,
            label: String::new(),
            locale: String::new(),
            reply: Some(NoticeTarget {
                application_id: "1".into(),
                token: "t".into(),
            }),
            stall_after_ms: 0,
            ended: false,
        }
    }

    #[test]
    fn a_notice_is_due_once_the_wait_is_much_longer_than_promised() {
        // Promised 4 s: told again 5 s after the promise (the minimum slack).
        assert_eq!(entry(0, 4_000).next_notice_ms(), Some(9_000));
        // Promised 2 min: told again after half as long again.
        assert_eq!(entry(0, 120_000).next_notice_ms(), Some(180_000));
        // Never twice within the interval.
        let mut e = entry(0, 4_000);
        e.notified_ms = 9_000;
        e.due_ms = 12_000;
        assert_eq!(e.next_notice_ms(), Some(19_000));
        // Nothing once it runs, or with nowhere to send it.
        e.started_ms = 1;
        assert_eq!(e.next_notice_ms(), None);
        let mut e = entry(0, 4_000);
        e.reply = None;
        assert_eq!(e.next_notice_ms(), None);
    }

    #[test]
    fn a_job_near_its_token_death_gets_its_final_word_not_a_promise() {
        let e = entry(0, 800_000);
        // Overdue only after its token died: the last call comes first.
        assert_eq!(e.next_notice_ms(), Some(900_000 - OUT_OF_TIME_MS));
        assert_eq!(e.due(900_000 - OUT_OF_TIME_MS - 1), None);
        assert_eq!(e.due(900_000 - OUT_OF_TIME_MS), Some(Due::OutOfTime));
        // An ordinary overdue job gets a notice.
        assert_eq!(entry(0, 4_000).due(9_000), Some(Due::Notice));
    }

    #[test]
    fn a_started_job_is_watched_only_when_asked_and_ended_ones_never() {
        let mut e = entry(0, 4_000);
        e.started_ms = 1_000;
        assert_eq!(e.due(10_000_000), None);
        e.stall_after_ms = 120_000;
        assert_eq!(e.next_notice_ms(), Some(121_000));
        assert_eq!(e.due(121_000), Some(Due::Stalled));
        e.ended = true;
        assert_eq!(e.due(10_000_000), None);
        assert!(!e.is_live(0));
    }

    #[test]
    fn ended_entries_do_not_count_but_keep_the_record() {
        let mut q = UserQueue::default();
        let mut gone = entry(0, 4_000);
        gone.ended = true;
        gone.expires_ms = 950_000;
        q.jobs.insert("1".into(), gone);
        q.jobs.insert("2".into(), entry(0, 4_000));
        let s = q.sums(1_000);
        assert_eq!(
            (s.jobs, s.expires_ms, s.keep_until_ms),
            (1, 900_000, 950_000)
        );
        assert!(!q.prune(1_000));
        assert!(q.prune(900_000));
        assert_eq!(
            q.jobs.len(),
            1,
            "the ended entry stays until its own expiry"
        );
        assert!(q.prune(950_000));
        assert!(q.jobs.is_empty());
    }

    #[test]
    fn sums_skip_expired_entries() {
        let mut q = UserQueue::default();
        q.jobs.insert("1".into(), entry(0, 4_000));
        let mut running = entry(0, 4_000);
        running.started_ms = 5;
        running.cost = 7;
        q.jobs.insert("2".into(), running);
        let mut old = entry(0, 4_000);
        old.expires_ms = 100;
        q.jobs.insert("3".into(), old);
        let s = q.sums(1_000);
        assert_eq!((s.jobs, s.waiting_units, s.running_units), (2, 10, 7));
        assert!(q.prune(1_000));
        assert_eq!(q.jobs.len(), 2);
    }
}
