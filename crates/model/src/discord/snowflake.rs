//! Discord's snowflake ids: [`Snowflake`], the type ids cross process
//! boundaries in, and the creation time each one carries.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The creation time of a snowflake in Unix milliseconds.
pub fn timestamp_ms(id: &str) -> Option<u64> {
    let id: u64 = id.parse().ok()?;
    Some((id >> 22) + DISCORD_EPOCH_MS)
}

/// A snowflake for a given Unix millisecond time (for tests and the local
/// stand-in, which mint interaction ids).
pub fn from_timestamp_ms(ms: u64, sequence: u64) -> String {
    (((ms.saturating_sub(DISCORD_EPOCH_MS)) << 22) | (sequence & 0x3f_ffff)).to_string()
}

/// A Discord id (an application, interaction, user, guild or channel), as
/// it travels in jobs, tickets and reply jobs: typed so that it cannot be
/// handed where a token, a label or a `custom_id` is expected.
///
/// It is the id's text, unchecked. Jobs are typed by operators and come
/// from older builds, so decoding accepts any string, as it did when ids
/// were `String`s; whoever uses an id checks it there (the worker refuses
/// a reply whose interaction id is not a number, the ingress an interaction
/// whose id is not). Serialized transparently, the JSON is the same.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snowflake(String);

impl Snowflake {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The id's creation time in Unix milliseconds; `None` if it is not a
    /// number.
    pub fn timestamp_ms(&self) -> Option<u64> {
        timestamp_ms(&self.0)
    }
}

// Debug and Display are the string's own, so log lines and `{:?}` of the
// types holding an id read as they did when it was a `String`.
impl fmt::Debug for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for Snowflake {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Snowflake {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Snowflake {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Snowflake {
    fn from(id: String) -> Self {
        Snowflake(id)
    }
}

impl From<&str> for Snowflake {
    fn from(id: &str) -> Self {
        Snowflake(id.to_owned())
    }
}

impl From<&String> for Snowflake {
    fn from(id: &String) -> Self {
        Snowflake(id.clone())
    }
}

impl From<Snowflake> for String {
    fn from(id: Snowflake) -> Self {
        id.0
    }
}

impl PartialEq<str> for Snowflake {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Snowflake {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Snowflake {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Snowflake> for str {
    fn eq(&self, other: &Snowflake) -> bool {
        self == other.0
    }
}

impl PartialEq<Snowflake> for &str {
    fn eq(&self, other: &Snowflake) -> bool {
        *self == other.0
    }
}

impl PartialEq<Snowflake> for String {
    fn eq(&self, other: &Snowflake) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_string_on_the_wire_and_in_logs() {
        let id = Snowflake::from("175928847299117063");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r#""175928847299117063""#);
        assert_eq!(serde_json::from_str::<Snowflake>(&json).unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("{:?}", "175928847299117063"));
        assert_eq!(id.to_string(), "175928847299117063");
        assert_eq!(id.timestamp_ms(), Some(1_462_015_105_796));
        // Decoding takes any string, as it did before ids were typed: a
        // job's id is checked where it is used.
        let odd: Snowflake = serde_json::from_str(r#""yesterday""#).unwrap();
        assert_eq!(odd, "yesterday");
        assert_eq!(odd.timestamp_ms(), None);
        assert!(serde_json::from_str::<Snowflake>("175928847299117063").is_err());
    }

    #[test]
    fn docs_example() {
        // From Discord's reference: 175928847299117063 was created at 1462015105796.
        assert_eq!(timestamp_ms("175928847299117063"), Some(1_462_015_105_796));
        assert_eq!(timestamp_ms("nope"), None);
        assert_eq!(
            timestamp_ms(&from_timestamp_ms(1_700_000_000_000, 5)),
            Some(1_700_000_000_000)
        );
    }
}
