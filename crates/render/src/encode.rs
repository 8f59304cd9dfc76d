//! Encoders: PNG (with the spec in a text chunk), lossless WebP, and
//! reading the spec back out of a PNG.
//!
//! PNG choices, measured on the benchmark images (see docs/BENCHMARKS.md):
//! fdeflate's fast mode with the Up row filter. zlib ("balanced") makes
//! files ~25% smaller but takes 10-20x longer; Paeth saves 5% of the size
//! for 40% more encoding time, the adaptive filter 8% for 3x. Mandalas are
//! large flat areas with anti-aliased edges, which fdeflate's run-length
//! heavy matcher suits. An opaque background is written as RGB (a quarter
//! less data to filter and deflate); a transparent
//! one as straight (un-premultiplied) RGBA. Rows are converted and streamed
//! into the compressor one at a time, so encoding holds no second copy of
//! the image (at 4096² that is 48 MiB saved).

use std::io::{Cursor, Write as _};

use mandala_model::{ResolvedSpec, SpecError};
use tiny_skia::Pixmap;

use crate::RenderError;

/// The PNG text chunk keyword that carries `ResolvedSpec::canonical_json()`.
pub const SPEC_KEYWORD: &str = "mandala:spec";

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
fn convert_row(row: &[u8], opaque: bool, out: &mut [u8]) {
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

/// Encodes `pixmap` as PNG with `spec_json` in a `mandala:spec` chunk.
/// `opaque` says every pixel is opaque (an opaque background was painted
/// first); it drops the alpha channel.
pub fn png(pixmap: &Pixmap, spec_json: &str, opaque: bool) -> Result<Vec<u8>, RenderError> {
    png_with(pixmap, spec_json, opaque, false)
}

/// Like [`png`] but slow and small (zlib, adaptive filter): for files that
/// are made once and kept, like the README's contact sheet.
pub fn png_compact(pixmap: &Pixmap, text: &str, opaque: bool) -> Result<Vec<u8>, RenderError> {
    png_with(pixmap, text, opaque, true)
}

fn png_with(
    pixmap: &Pixmap,
    spec_json: &str,
    opaque: bool,
    compact: bool,
) -> Result<Vec<u8>, RenderError> {
    let (w, h) = (pixmap.width(), pixmap.height());
    let channels: usize = if opaque { 3 } else { 4 };
    let mut out = Vec::with_capacity((w * h / 4) as usize);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(if opaque {
            png::ColorType::Rgb
        } else {
            png::ColorType::Rgba
        });
        enc.set_depth(png::BitDepth::Eight);
        if compact {
            enc.set_compression(png::Compression::High);
            enc.set_filter(png::Filter::Adaptive);
        } else {
            enc.set_compression(png::Compression::Fast);
            enc.set_filter(png::Filter::Up);
        }
        if spec_json.is_ascii() {
            enc.add_text_chunk(SPEC_KEYWORD.into(), spec_json.into())
        } else {
            enc.add_itxt_chunk(SPEC_KEYWORD.into(), spec_json.into())
        }
        .map_err(png_err)?;
        let mut writer = enc.write_header().map_err(png_err)?;
        let mut stream = writer
            .stream_writer_with_size(256 * 1024)
            .map_err(png_err)?;
        let mut row = vec![0u8; w as usize * channels];
        for src in pixmap.data().chunks_exact(w as usize * 4) {
            convert_row(src, opaque, &mut row);
            stream
                .write_all(&row)
                .map_err(|e| RenderError::Encode(format!("png: {e}")))?;
        }
        stream.finish().map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(png_err)`
fn png_err(e: png::EncodingError) -> RenderError {
    RenderError::Encode(format!("png: {e}"))
}

/// Encodes `pixmap` as lossless WebP (`opaque` as for [`png`]).
pub fn webp(pixmap: &Pixmap, opaque: bool) -> Result<Vec<u8>, RenderError> {
    let (w, h) = (pixmap.width(), pixmap.height());
    let channels: usize = if opaque { 3 } else { 4 };
    let mut data = vec![0u8; w as usize * h as usize * channels];
    for (src, dst) in pixmap
        .data()
        .chunks_exact(w as usize * 4)
        .zip(data.chunks_exact_mut(w as usize * channels))
    {
        convert_row(src, opaque, dst);
    }
    let colour = if opaque {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::Rgba8
    };
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(&data, w, h, colour)
        .map_err(|e| RenderError::Encode(format!("webp: {e}")))?;
    Ok(out)
}

/// Why a file's spec could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpecFromPngError {
    #[error("not a readable PNG: {0}")]
    NotPng(String),
    #[error("the PNG has no `{SPEC_KEYWORD}` text chunk (it was not made by this renderer)")]
    NoSpec,
    #[error("the PNG's `{SPEC_KEYWORD}` chunk is not a resolved spec: {0}")]
    BadJson(String),
    #[error("the PNG's spec is not renderable: {0}")]
    Invalid(#[from] SpecError),
}

/// Reads the [`ResolvedSpec`] from a PNG's `mandala:spec` chunk (only the
/// chunks before the image data are parsed; the pixels are not decoded).
pub fn spec_from_png(bytes: &[u8]) -> Result<ResolvedSpec, SpecFromPngError> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let reader = decoder
        .read_info()
        .map_err(|e| SpecFromPngError::NotPng(e.to_string()))?;
    let info = reader.info();
    let text = info
        .uncompressed_latin1_text
        .iter()
        .find(|c| c.keyword == SPEC_KEYWORD)
        .map(|c| c.text.clone())
        .or_else(|| {
            info.utf8_text
                .iter()
                .find(|c| c.keyword == SPEC_KEYWORD)
                .and_then(|c| c.get_text().ok())
        })
        .ok_or(SpecFromPngError::NoSpec)?;
    let spec: ResolvedSpec =
        serde_json::from_str(&text).map_err(|e| SpecFromPngError::BadJson(e.to_string()))?;
    spec.validate()?;
    Ok(spec)
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
