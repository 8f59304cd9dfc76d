//! Encoders: pixels to PNG or lossless WebP, each file carrying the
//! resolved spec it was drawn from (reading it back is [`crate::embed`]).
//!
//! - [`png`](mod@png): fdeflate's fast mode, the spec in a `mandala:spec`
//!   text chunk. The format of `format: png`.
//! - [`webp`](mod@webp): lossless WebP from our own VP8L encoder
//!   ([`vp8l`]), the spec in an XMP chunk. The default format:
//!   the same pixels in well under half the bytes, and bytes are most of
//!   what an image costs to send and keep (docs/COST.md).
//!
//! Both take the renderer's premultiplied pixmap and write an opaque image
//! as RGB (nothing to say in an alpha channel) and a transparent one as
//! straight RGBA, converted here in one place so every format decodes to
//! the same pixels.

pub mod png;
pub mod vp8l;
pub mod webp;

use tiny_skia::Pixmap;

pub use png::{png, png_compact};
pub use webp::webp;

/// True when every pixel is opaque, so the alpha channel carries nothing.
pub fn is_opaque(pixmap: &Pixmap) -> bool {
    pixmap.pixels().iter().all(|p| p.alpha() == 255)
}

/// Straight RGBA from premultiplied, rounding to nearest.
fn demultiply(px: &[u8], out: &mut [u8]) {
    let a = px[3];
    match a {
        255 => out.copy_from_slice(px),
        0 => out.fill(0),
        _ => {
            let a16 = u16::from(a);
            for (o, &c) in out[..3].iter_mut().zip(&px[..3]) {
                *o = ((u16::from(c) * 255 + a16 / 2) / a16).min(255) as u8;
            }
            out[3] = a;
        }
    }
}

/// One row of the pixmap as RGB (when `opaque`) or straight RGBA.
pub(crate) fn convert_row(row: &[u8], opaque: bool, out: &mut [u8]) {
    if opaque {
        for (o, px) in out.chunks_exact_mut(3).zip(row.chunks_exact(4)) {
            o.copy_from_slice(&px[..3]);
        }
    } else {
        for (o, px) in out.chunks_exact_mut(4).zip(row.chunks_exact(4)) {
            demultiply(px, o);
        }
    }
}

/// The pixmap as straight ARGB words (alpha in the top byte); `opaque`
/// forces alpha to 255.
pub fn straight_argb(pixmap: &Pixmap, opaque: bool) -> Vec<u32> {
    let mut out = Vec::with_capacity(pixmap.width() as usize * pixmap.height() as usize);
    let mut px = [0u8; 4];
    for src in pixmap.data().chunks_exact(4) {
        if opaque {
            out.push(u32::from_be_bytes([255, src[0], src[1], src[2]]));
        } else {
            demultiply(src, &mut px);
            out.push(u32::from_be_bytes([px[3], px[0], px[1], px[2]]));
        }
    }
    out
}

/// The whole pixmap as RGB (when `opaque`) or straight RGBA, row after row.
pub fn straight_pixels(pixmap: &Pixmap, opaque: bool) -> Vec<u8> {
    let w = pixmap.width() as usize;
    let channels = if opaque { 3 } else { 4 };
    let mut data = vec![0u8; w * pixmap.height() as usize * channels];
    for (src, dst) in pixmap
        .data()
        .chunks_exact(w * 4)
        .zip(data.chunks_exact_mut(w * channels))
    {
        convert_row(src, opaque, dst);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demultiply_inverts_premultiplication() {
        let d = |px: [u8; 4]| {
            let mut o = [9u8; 4];
            demultiply(&px, &mut o);
            o
        };
        assert_eq!(d([0, 0, 0, 0]), [0, 0, 0, 0]);
        assert_eq!(d([10, 20, 30, 255]), [10, 20, 30, 255]);
        // 200 at alpha 128 premultiplies to 100.
        assert_eq!(d([100, 50, 0, 128]), [199, 100, 0, 128]);
    }
}
