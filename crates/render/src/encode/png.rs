//! PNG, with the spec in a `mandala:spec` text chunk.
//!
//! Choices, measured on the benchmark images (see docs/BENCHMARKS.md):
//! fdeflate's fast mode with the Up row filter. zlib ("balanced") makes
//! files ~25% smaller but takes 10-20x longer; Paeth saves 5% of the size
//! for 40% more encoding time, the adaptive filter 8% for 3x. Mandalas are
//! large flat areas with anti-aliased edges, which fdeflate's run-length
//! heavy matcher suits. An opaque background is written as RGB (a quarter
//! less data to filter and deflate); a transparent
//! one as straight (un-premultiplied) RGBA. Rows are converted and streamed
//! into the compressor one at a time, so encoding holds no second copy of
//! the image (at 4096² that is 48 MiB saved).

use std::io::Write as _;

use tiny_skia::Pixmap;

use super::convert_row;
use crate::RenderError;

use crate::marks::SPEC_KEYWORD;

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
