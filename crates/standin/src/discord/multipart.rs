//! A strict `multipart/form-data` reader, enough to check what a bot sends.
//!
//! Written out rather than taken from a crate so that every malformation a
//! real client could produce becomes a precise error message.

/// One part of a form.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
}

/// The boundary parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, String> {
    let mut pieces = content_type.split(';');
    let mime = pieces.next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(format!("content type {mime:?} is not multipart/form-data"));
    }
    for p in pieces {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("boundary")
        {
            let v = v.trim().trim_matches('"');
            if v.is_empty() || v.len() > 70 {
                return Err("multipart boundary must be 1..=70 characters".into());
            }
            return Ok(v.to_owned());
        }
    }
    Err("multipart/form-data without a boundary".into())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        // Skip quickly to the next candidate byte.
        match haystack[i..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)
        {
            None => return None,
            Some(off) => i += off,
        }
        if &haystack[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Splits `body` into parts.
pub fn parse(body: &bytes::Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut pos = find(body, delimiter, 0).ok_or("multipart body has no opening boundary")?;
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            return if parts.is_empty() {
                Err("multipart body has no parts".into())
            } else {
                Ok(parts)
            };
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("multipart boundary not followed by CRLF".into());
        }
        pos += 2;
        let header_end = find(body, b"\r\n\r\n", pos)
            .ok_or("multipart part without a blank line after its headers")?;
        let headers = std::str::from_utf8(&body[pos..header_end])
            .map_err(|_| "multipart headers are not UTF-8")?;
        let content_start = header_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(delimiter);
        let content_end = find(body, &closing, content_start)
            .ok_or("multipart body is not closed by a boundary")?;
        parts.push(part(headers, body.slice(content_start..content_end))?);
        pos = content_end + 2;
    }
}

fn part(headers: &str, body: bytes::Bytes) -> Result<Part, String> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad part header line {line:?}"))?;
        match key.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                let mut params = split_params(value);
                if !params
                    .first()
                    .is_some_and(|(k, _)| k.eq_ignore_ascii_case("form-data"))
                {
                    return Err(format!(
                        "part Content-Disposition is not form-data: {value:?}"
                    ));
                }
                params.remove(0);
                for (k, v) in params {
                    match k.to_ascii_lowercase().as_str() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
            "content-type" => content_type = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Ok(Part {
        name: name.ok_or("a multipart part has no name")?,
        filename,
        content_type,
        body,
    })
}

/// `form-data; name="files[0]"; filename="a.png"` into key/value pairs
/// (the first is the disposition type with an empty value).
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut pieces = Vec::new();
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => pieces.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    pieces.push(current);
    for p in pieces {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        match p.split_once('=') {
            Some((k, v)) => {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                out.push((k.trim().to_owned(), v.to_owned()));
            }
            None => out.push((p.to_owned(), String::new())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_discord_style_form() {
        let body = bytes::Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{\"content\":\"hi\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a;b.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n",
        );
        let parts = parse(
            &body,
            &boundary("multipart/form-data; boundary=XyZ").unwrap(),
        )
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "payload_json");
        assert_eq!(&parts[0].body[..], b"{\"content\":\"hi\"}");
        assert_eq!(parts[1].filename.as_deref(), Some("a;b.png"));
        assert_eq!(&parts[1].body[..], b"\x89PNG");
    }

    #[test]
    fn malformed_forms_are_errors() {
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data").is_err());
        for bad in [
            &b""[..],
            b"--XyZ\r\nno blank line",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            b"--XyZ--",
        ] {
            assert!(parse(&bytes::Bytes::copy_from_slice(bad), "XyZ").is_err());
        }
    }
}
