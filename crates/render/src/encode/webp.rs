//! Lossless WebP with the spec in an XMP chunk: the container around the
//! bitstream of [`super::vp8l`].
//!
//! A still lossless image alone would be the simple file format (RIFF,
//! `WEBP`, one `VP8L` chunk). Metadata needs the extended format: a `VP8X`
//! header (canvas size, and flags saying there is alpha and XMP), the
//! `VP8L` chunk, then an `XMP ` chunk holding the spec
//! ([`crate::marks::xmp_packet`]) — after the image, where the container
//! specification puts metadata. Decoders that do not read XMP skip it.

use tiny_skia::Pixmap;

use super::straight_argb;
use crate::RenderError;

/// Encodes `pixmap` as lossless WebP with `spec_json` in an XMP chunk
/// (`opaque` as for [`super::png`]).
pub fn webp(pixmap: &Pixmap, spec_json: &str, opaque: bool) -> Result<Vec<u8>, RenderError> {
    let (w, h) = (pixmap.width(), pixmap.height());
    let vp8l = super::vp8l::encode(straight_argb(pixmap, opaque), w, h);
    let xmp = crate::marks::xmp_packet(spec_json);
    extended(&vp8l, w, h, !opaque, xmp.as_bytes())
}

/// A RIFF chunk: four-character code, little-endian size, payload, and a
/// pad byte when the size is odd.
fn push_chunk(out: &mut Vec<u8>, fourcc: [u8; 4], payload: &[u8]) -> Result<(), RenderError> {
    let size = u32::try_from(payload.len())
        .map_err(|_| RenderError::Encode("webp: chunk over 4 GiB".into()))?;
    out.extend_from_slice(&fourcc);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

/// The chunks of a WebP file after the 12-byte RIFF header, as
/// (four-character code, payload); `None` if the file is malformed.
pub(crate) fn chunks(file: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    if file.len() < 12 || &file[..4] != b"RIFF" || &file[8..12] != b"WEBP" {
        return None;
    }
    let riff_size = u32::from_le_bytes(file[4..8].try_into().ok()?) as usize;
    let end = riff_size.checked_add(8)?.min(file.len());
    let mut at = 12;
    let mut out = Vec::new();
    while at + 8 <= end {
        let fourcc: [u8; 4] = file[at..at + 4].try_into().ok()?;
        let size = u32::from_le_bytes(file[at + 4..at + 8].try_into().ok()?) as usize;
        let payload = file.get(at + 8..(at + 8).checked_add(size)?)?;
        out.push((fourcc, payload));
        at += 8 + size + size % 2;
    }
    Some(out)
}

/// An extended WebP file: `VP8X`, the `VP8L` bitstream, the XMP packet.
pub fn extended(
    vp8l: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    xmp: &[u8],
) -> Result<Vec<u8>, RenderError> {
    // VP8X flags, MSB first: 2 reserved, ICC, alpha, EXIF, XMP, animation, 1 reserved.
    const ALPHA: u8 = 0x10;
    const XMP: u8 = 0x04;
    let mut vp8x = [0u8; 10];
    vp8x[0] = XMP | if alpha { ALPHA } else { 0 };
    vp8x[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);

    let mut out = Vec::with_capacity(vp8l.len() + xmp.len() + 64);
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    push_chunk(&mut out, *b"VP8X", &vp8x)?;
    push_chunk(&mut out, *b"VP8L", vp8l)?;
    push_chunk(&mut out, *b"XMP ", xmp)?;
    let riff_size = u32::try_from(out.len() - 8)
        .map_err(|_| RenderError::Encode("webp: file over 4 GiB".into()))?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_is_extended_with_xmp_after_the_image() {
        let mut pixmap = Pixmap::new(3, 2).unwrap();
        pixmap.fill(tiny_skia::Color::from_rgba8(10, 20, 30, 255));
        let file = webp(&pixmap, r#"{"seed":1}"#, true).unwrap();
        let chunks = chunks(&file).unwrap();
        let names: Vec<&[u8; 4]> = chunks.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [b"VP8X", b"VP8L", b"XMP "]);
        let vp8x = chunks[0].1;
        assert_eq!(vp8x[0], 0x04, "XMP flag only: the image is opaque");
        assert_eq!((vp8x[4], vp8x[7]), (2, 1), "canvas size minus one");
        assert_eq!(
            u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize,
            file.len() - 8
        );
        assert!(file.len().is_multiple_of(2));
    }

    #[test]
    fn malformed_files_have_no_chunks() {
        assert!(chunks(b"RIFF\x04\0\0\0WEBX").is_none());
        assert!(chunks(b"RIFF").is_none());
        // A chunk claiming more bytes than the file has.
        assert!(chunks(b"RIFF\x14\0\0\0WEBPVP8L\xff\0\0\0abcd").is_none());
    }
}
