//! The resolved spec carried inside every file, and reading it back.
//!
//! Every image the bot sends can be re-rendered exactly from the file
//! alone (`mandala render --from FILE`), whatever its format:
//! - PNG: a `mandala:spec` text chunk ([`crate::marks::SPEC_KEYWORD`]);
//! - WebP: an XMP packet ([`crate::marks::xmp_packet`]) with the spec as
//!   the property `mandala:spec`, in the extended file's `XMP ` chunk;
//! - SVG: the document's `<metadata id="mandala-spec">`.
//!
//! In each, the text is `ResolvedSpec::canonical_json()`, XML-escaped in
//! the two XML formats. Only the container is parsed: no pixels are
//! decoded to find a spec.

use std::io::Cursor;

use mandala_model::{Drawing, ResolvedGrid, ResolvedSpec, SpecError};

use crate::marks::{SPEC_KEYWORD, SVG_CLOSE, SVG_OPEN, XMP_CLOSE, XMP_OPEN};

/// Why a file's spec could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpecFromImageError {
    #[error("not a PNG, WebP or SVG file")]
    Unrecognised,
    #[error("not a readable {format}: {why}")]
    Corrupt { format: &'static str, why: String },
    #[error("the {0} carries no mandala spec (it was not made by this renderer)")]
    NoSpec(&'static str),
    #[error("the {format}'s embedded spec is not a resolved spec: {why}")]
    BadJson { format: &'static str, why: String },
    #[error("the file's spec is not renderable: {0}")]
    Invalid(#[from] SpecError),
    #[error(
        "the {format} is a gallery of {cells} mandalas (mandala gallery), not one: choose a cell (1–{cells})"
    )]
    Gallery { format: &'static str, cells: usize },
}

/// Reads the [`ResolvedSpec`] embedded in a PNG, WebP or SVG this renderer
/// made, telling the format from the file's first bytes. A grid's file
/// holds a [`ResolvedGrid`]: see [`drawing_from_image`].
pub fn spec_from_image(bytes: &[u8]) -> Result<ResolvedSpec, SpecFromImageError> {
    let (format, text) = embedded(bytes)?;
    let spec: ResolvedSpec =
        serde_json::from_str(&text).map_err(|e| SpecFromImageError::BadJson {
            format,
            why: e.to_string(),
        })?;
    spec.validate()?;
    Ok(spec)
}

/// Reads what a file this renderer made draws: one mandala or a grid. A
/// gallery's sheet is refused with [`SpecFromImageError::Gallery`]: its
/// cells are read with [`cells_from_image`].
pub fn drawing_from_image(bytes: &[u8]) -> Result<Drawing, SpecFromImageError> {
    let (format, text) = embedded(bytes)?;
    if text.trim_start().starts_with('[') {
        let cells = cells_of(format, &text)?.len();
        return Err(SpecFromImageError::Gallery { format, cells });
    }
    // A grid's JSON names its kind; a single spec has no such field.
    let is_grid = serde_json::from_str::<serde_json::Value>(&text)
        .is_ok_and(|v| v.get("kind").is_some() && v.get("cells").is_some());
    if !is_grid {
        return spec_from_image(bytes).map(Drawing::One);
    }
    let grid: ResolvedGrid =
        serde_json::from_str(&text).map_err(|e| SpecFromImageError::BadJson {
            format,
            why: e.to_string(),
        })?;
    for cell in &grid.cells {
        cell.validate()?;
    }
    Ok(Drawing::Grid(grid))
}

/// The specs of a gallery's cells (`mandala gallery` stores them as a
/// JSON array), in the sheet's order.
pub fn cells_from_image(bytes: &[u8]) -> Result<Vec<ResolvedSpec>, SpecFromImageError> {
    let (format, text) = embedded(bytes)?;
    cells_of(format, &text)
}

fn cells_of(format: &'static str, text: &str) -> Result<Vec<ResolvedSpec>, SpecFromImageError> {
    let cells: Vec<ResolvedSpec> =
        serde_json::from_str(text).map_err(|e| SpecFromImageError::BadJson {
            format,
            why: e.to_string(),
        })?;
    for cell in &cells {
        cell.validate()?;
    }
    Ok(cells)
}

/// The format's name and the JSON embedded in the file.
fn embedded(bytes: &[u8]) -> Result<(&'static str, String), SpecFromImageError> {
    Ok(if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ("PNG", png_text(bytes)?)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        ("WebP", webp_text(bytes)?)
    } else if looks_like_svg(bytes) {
        ("SVG", svg_text(bytes)?)
    } else {
        return Err(SpecFromImageError::Unrecognised);
    })
}

/// The `mandala:spec` text chunk (only the chunks before the image data
/// are parsed).
fn png_text(bytes: &[u8]) -> Result<String, SpecFromImageError> {
    let reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .map_err(|e| SpecFromImageError::Corrupt {
            format: "PNG",
            why: e.to_string(),
        })?;
    let info = reader.info();
    info.uncompressed_latin1_text
        .iter()
        .find(|c| c.keyword == SPEC_KEYWORD)
        .map(|c| c.text.clone())
        .or_else(|| {
            info.utf8_text
                .iter()
                .find(|c| c.keyword == SPEC_KEYWORD)
                .and_then(|c| c.get_text().ok())
        })
        .ok_or(SpecFromImageError::NoSpec("PNG"))
}

/// The `mandala:spec` property of the `XMP ` chunk.
fn webp_text(bytes: &[u8]) -> Result<String, SpecFromImageError> {
    let chunks = crate::encode::webp::chunks(bytes).ok_or(SpecFromImageError::Corrupt {
        format: "WebP",
        why: "its RIFF chunks overrun the file".into(),
    })?;
    chunks
        .iter()
        .filter(|(fourcc, _)| fourcc == b"XMP ")
        .find_map(|(_, xmp)| between(std::str::from_utf8(xmp).ok()?, XMP_OPEN, XMP_CLOSE))
        .ok_or(SpecFromImageError::NoSpec("WebP"))
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    head.windows(4).any(|w| w == b"<svg")
}

/// The `<metadata id="mandala-spec">` element's text.
fn svg_text(bytes: &[u8]) -> Result<String, SpecFromImageError> {
    let text = std::str::from_utf8(bytes).map_err(|e| SpecFromImageError::Corrupt {
        format: "SVG",
        why: e.to_string(),
    })?;
    between(text, SVG_OPEN, SVG_CLOSE).ok_or(SpecFromImageError::NoSpec("SVG"))
}

/// The XML-unescaped text between the first `open` and the next `close`.
fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    let raw = &text[start..start + len];
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmp_escapes_and_unescapes() {
        let json = r#"{"palette":"a<b>&c"}"#;
        let packet = crate::marks::xmp_packet(json);
        assert!(packet.contains("a&lt;b&gt;&amp;c"));
        assert_eq!(between(&packet, XMP_OPEN, XMP_CLOSE).unwrap(), json);
    }

    #[test]
    fn unknown_files_are_named_as_such() {
        assert!(matches!(
            spec_from_image(b"GIF89a"),
            Err(SpecFromImageError::Unrecognised)
        ));
        assert!(matches!(
            spec_from_image(b"<svg></svg>"),
            Err(SpecFromImageError::NoSpec("SVG"))
        ));
    }
}
