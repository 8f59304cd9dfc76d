//! Snowflake ids carry their creation time.

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

#[cfg(test)]
mod tests {
    use super::*;

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
