//! The trace id of a request, for log correlation.

use http::HeaderMap;

/// The 32-hex-digit trace id from W3C `traceparent`
/// (`00-<trace>-<span>-<flags>`) or Google's `X-Cloud-Trace-Context`
/// (`<trace>/<span>;o=1`), whichever is present and well-formed.
pub fn trace_id(headers: &HeaderMap) -> Option<String> {
    let valid = |t: &str| {
        t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) && t.bytes().any(|b| b != b'0')
    };
    if let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        let mut parts = tp.split('-');
        if let (Some(_version), Some(trace)) = (parts.next(), parts.next())
            && valid(trace)
        {
            return Some(trace.to_ascii_lowercase());
        }
    }
    let cloud = headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())?;
    let trace = cloud.split('/').next()?;
    valid(trace).then(|| trace.to_ascii_lowercase())
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
}
