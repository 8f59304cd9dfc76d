//! The trace id of a request, for log correlation, and how it travels
//! with a job.
//!
//! The ingress logs its line under the trace of Discord's request (Cloud
//! Run's). The job then crosses Pub/Sub or Cloud Tasks, whose deliveries
//! start traces of their own; so the ingress sends its trace id along, as
//! the message attribute [`TRACE_ATTRIBUTE`] or the task header
//! [`TRACE_HEADER`], and the worker logs its job line under that id. One
//! trace then joins both lines in Cloud Logging
//! (`logging.googleapis.com/trace`).

use http::HeaderMap;

/// The Pub/Sub message attribute (and local push envelope attribute) that
/// carries the ingress's trace id to the worker: 32 hex digits.
pub const TRACE_ATTRIBUTE: &str = "trace_id";

/// The Cloud Tasks HTTP header that carries it. Not `traceparent`: the
/// front end in front of the worker starts a trace of its own there.
pub const TRACE_HEADER: &str = "x-mandala-trace-id";

/// `t` as a trace id (32 hex digits, not all zero), lowercased.
pub fn parse_trace_id(t: &str) -> Option<String> {
    let t = t.trim();
    let valid =
        t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) && t.bytes().any(|b| b != b'0');
    valid.then(|| t.to_ascii_lowercase())
}

/// The 32-hex-digit trace id from W3C `traceparent`
/// (`00-<trace>-<span>-<flags>`) or Google's `X-Cloud-Trace-Context`
/// (`<trace>/<span>;o=1`), whichever is present and well-formed.
pub fn trace_id(headers: &HeaderMap) -> Option<String> {
    if let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        let mut parts = tp.split('-');
        if let (Some(_version), Some(trace)) = (parts.next(), parts.next())
            && let Some(t) = parse_trace_id(trace)
        {
            return Some(t);
        }
    }
    let cloud = headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())?;
    parse_trace_id(cloud.split('/').next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, http::HeaderValue::from_static(value));
        h
    }

    #[test]
    fn reads_both_header_styles() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id(&headers(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            ))
            .as_deref(),
            Some(t)
        );
        assert_eq!(
            trace_id(&headers(
                "x-cloud-trace-context",
                "4bf92f3577b34da6a3ce929d0e0e4736/123;o=1"
            ))
            .as_deref(),
            Some(t)
        );
    }

    #[test]
    fn ignores_malformed_values() {
        assert_eq!(trace_id(&headers("traceparent", "garbage")), None);
        assert_eq!(trace_id(&headers("x-cloud-trace-context", "xyz/1")), None);
        assert_eq!(
            trace_id(&headers(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
            )),
            None
        );
        assert_eq!(trace_id(&HeaderMap::new()), None);
    }

    #[test]
    fn a_carried_trace_id_is_checked_like_a_header() {
        let t = "4BF92F3577B34DA6A3CE929D0E0E4736";
        assert_eq!(
            parse_trace_id(t).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(parse_trace_id("4bf92f35"), None);
        assert_eq!(parse_trace_id(&"0".repeat(32)), None);
        assert_eq!(parse_trace_id(&"g".repeat(32)), None);
    }
}
