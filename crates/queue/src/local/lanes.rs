//! Which unacknowledged message goes next: ordering keys, served in turn.
//!
//! The semantics are a push subscription's with message ordering on: of the
//! messages that share an ordering key (one user's jobs) at most one is out
//! at a time, the next only after it is acknowledged or dead-lettered, and a
//! failed one is retried before the rest of its key. Messages without a key
//! go out in any order, as many at once as there are slots. Keys take turns
//! (round robin), with the keyless messages as one more turn, so one user's
//! burst never makes the others wait behind all of it.

use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Turn {
    Key(String),
    Keyless,
}

/// The ready queue of the local delivery.
#[derive(Debug, Default)]
pub struct Lanes {
    /// Per key, its messages in publish order; the head may be out.
    keyed: HashMap<String, VecDeque<String>>,
    /// Keys whose head is out (being delivered, or waiting to be retried).
    busy: HashSet<String>,
    keyless: VecDeque<String>,
    /// Lanes with something ready, in the order they get their turn.
    turns: VecDeque<Turn>,
}

impl Lanes {
    /// A new message at the back of its lane.
    pub fn push(&mut self, id: String, key: Option<&str>) {
        match key {
            Some(k) => {
                let lane = self.keyed.entry(k.to_owned()).or_default();
                lane.push_back(id);
                if lane.len() == 1 && !self.busy.contains(k) {
                    self.turns.push_back(Turn::Key(k.to_owned()));
                }
            }
            None => {
                self.keyless.push_back(id);
                if !self.turns.contains(&Turn::Keyless) {
                    self.turns.push_back(Turn::Keyless);
                }
            }
        }
    }

    /// The next message to send, lanes in turn; its key is busy until
    /// [`Lanes::done`] or [`Lanes::again`].
    pub fn take_next(&mut self) -> Option<String> {
        while let Some(turn) = self.turns.pop_front() {
            match turn {
                Turn::Key(k) => {
                    let head = self.keyed.get(&k).and_then(|l| l.front()).cloned();
                    if let Some(id) = head {
                        self.busy.insert(k);
                        return Some(id);
                    }
                }
                Turn::Keyless => {
                    if let Some(id) = self.keyless.pop_front() {
                        if !self.keyless.is_empty() {
                            self.turns.push_back(Turn::Keyless);
                        }
                        return Some(id);
                    }
                }
            }
        }
        None
    }

    /// The message left for good (acknowledged, dead-lettered, cancelled):
    /// the next of its key gets a turn.
    pub fn done(&mut self, id: &str, key: Option<&str>) {
        let Some(k) = key else { return };
        self.busy.remove(k);
        let Some(lane) = self.keyed.get_mut(k) else {
            return;
        };
        lane.retain(|m| m != id);
        if lane.is_empty() {
            self.keyed.remove(k);
        } else {
            self.turns.push_back(Turn::Key(k.to_owned()));
        }
    }

    /// A failed message is ready again after its backoff: it goes before
    /// the rest of its key.
    pub fn again(&mut self, id: String, key: Option<&str>) {
        match key {
            Some(k) => {
                self.busy.remove(k);
                let lane = self.keyed.entry(k.to_owned()).or_default();
                if lane.front() != Some(&id) {
                    lane.retain(|m| m != &id);
                    lane.push_front(id);
                }
                self.turns.push_back(Turn::Key(k.to_owned()));
            }
            None => {
                self.keyless.push_front(id);
                if !self.turns.contains(&Turn::Keyless) {
                    self.turns.push_back(Turn::Keyless);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(l: &mut Lanes) -> Vec<String> {
        std::iter::from_fn(|| l.take_next()).collect()
    }

    #[test]
    fn one_message_per_key_at_a_time_and_keys_take_turns() {
        let mut l = Lanes::default();
        for i in 0..3 {
            l.push(format!("a{i}"), Some("alice"));
        }
        l.push("b0".into(), Some("bob"));
        l.push("m0".into(), None);
        l.push("m1".into(), None);
        // Alice's first, Bob's first, then the keyless ones; Alice's others wait.
        assert_eq!(drain(&mut l), ["a0", "b0", "m0", "m1"]);
        l.done("a0", Some("alice"));
        l.push("b1".into(), Some("bob"));
        l.done("b0", Some("bob"));
        assert_eq!(drain(&mut l), ["a1", "b1"]);
    }

    #[test]
    fn a_failed_message_is_retried_before_the_rest_of_its_key() {
        let mut l = Lanes::default();
        l.push("a0".into(), Some("alice"));
        l.push("a1".into(), Some("alice"));
        assert_eq!(drain(&mut l), ["a0"]);
        // a0 failed: nothing of Alice's goes out during its backoff.
        assert!(l.take_next().is_none());
        l.again("a0".into(), Some("alice"));
        assert_eq!(drain(&mut l), ["a0"]);
        l.done("a0", Some("alice"));
        assert_eq!(drain(&mut l), ["a1"]);
        l.again("m0".into(), None);
        assert_eq!(drain(&mut l), ["m0"]);
    }

    #[test]
    fn a_burst_does_not_starve_a_newcomer() {
        let mut l = Lanes::default();
        for i in 0..15 {
            l.push(format!("x{i}"), Some("burst"));
        }
        assert_eq!(drain(&mut l), ["x0"]);
        l.push("y0".into(), Some("newcomer"));
        l.done("x0", Some("burst"));
        // The newcomer's turn came up before the burst's second job.
        assert_eq!(drain(&mut l), ["y0", "x1"]);
    }
}
