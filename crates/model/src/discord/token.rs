//! Interaction and webhook tokens, as far as they can be checked.
//!
//! A token is a path segment of every reply URL
//! (`/webhooks/{application}/{token}/messages/@original`). Discord's are
//! long base64url-like strings; anything else is refused before it becomes
//! a URL, since a token of `.` or `..` would be resolved as a path step and
//! aim the request at another endpoint.

/// Longer than any token Discord issues.
pub const MAX_LEN: usize = 1000;

/// What [`is_plausible`] asks of a token, for error messages.
pub const RULE: &str = "letters, digits, '-', '_' and '.' only, starting with a letter or digit, at most 1000 characters";

/// Whether `token` could be a Discord token: ASCII letters, digits, `-`,
/// `_` and `.`, starting with a letter or digit, at most [`MAX_LEN`] long.
pub fn is_plausible(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_steps_and_separators_are_not_tokens() {
        for bad in [
            "", ".", "..", "...", "./x", "-x", "_x", "a/b", "a/../b", "a%2e", "a b", "a?b", "a#b",
            "tök",
        ] {
            assert!(!is_plausible(bad), "{bad:?} accepted");
        }
        assert!(!is_plausible(&"a".repeat(MAX_LEN + 1)));
        for good in [
            "t",
            "tok-first",
            "dev-0123abcdef",
            "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpWbDNEZ3NhOGxLdzVDRzJ2",
            "tok.en",
        ] {
            assert!(is_plausible(good), "{good:?} refused");
        }
        assert!(is_plausible(&"a".repeat(MAX_LEN)));
    }
}
