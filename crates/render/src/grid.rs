//! A grid: four cells rendered on their own and copied into one canvas.
//!
//! Each cell is an ordinary render at the grid's cell edge; the canvas is
//! the gutter colour (or transparent, when the cells are), and each cell's
//! rows are copied to its origin. Cells are either opaque or drawn on a
//! transparent canvas, so a plain copy is exactly what blending would give.
//! The encoded image carries the grid's canonical JSON where a single image
//! carries its spec.

use std::time::Instant;

use mandala_model::{Background, Format, ResolvedGrid};
use tiny_skia::Pixmap;

use crate::{RenderError, Rendered, encode, raster, scene};

/// Paints the grid's cells onto one pixmap; returns it with the time spent
/// building scenes and painting.
pub fn rasterize(grid: &ResolvedGrid) -> Result<(Pixmap, GridTimes), RenderError> {
    let mut canvas = Pixmap::new(grid.size, grid.size).ok_or(RenderError::Canvas(grid.size))?;
    if let Background::Colour(c) = grid.background {
        canvas.fill(tiny_skia::Color::from_rgba8(c.r, c.g, c.b, 255));
    }
    let mut times = GridTimes::default();
    for (i, cell) in grid.cells.iter().enumerate() {
        let t0 = Instant::now();
        let scene = scene(cell)?;
        let t1 = Instant::now();
        let pixels = raster::rasterize(&scene)?;
        times.geometry += t1 - t0;
        times.raster += t1.elapsed();
        let origin = grid.origin(i);
        copy_into(&mut canvas, &pixels, origin)?;
    }
    Ok((canvas, times))
}

/// Where a grid's render time went.
#[derive(Debug, Default, Clone, Copy)]
pub struct GridTimes {
    pub geometry: std::time::Duration,
    pub raster: std::time::Duration,
}

/// Copies `cell` into `canvas` with its top-left corner at `origin`.
fn copy_into(canvas: &mut Pixmap, cell: &Pixmap, (x, y): (u32, u32)) -> Result<(), RenderError> {
    let too_big = || RenderError::Canvas(canvas.width());
    if x + cell.width() > canvas.width() || y + cell.height() > canvas.height() {
        return Err(too_big());
    }
    let stride = canvas.width() as usize * 4;
    let row_len = cell.width() as usize * 4;
    let dst = canvas.data_mut();
    for (r, src) in cell.data().chunks_exact(row_len).enumerate() {
        let at = (y as usize + r) * stride + x as usize * 4;
        dst[at..at + row_len].copy_from_slice(src);
    }
    Ok(())
}

/// Renders and encodes the grid in its format, timing each phase.
pub fn render_to_bytes(grid: &ResolvedGrid) -> Result<Rendered, RenderError> {
    for cell in &grid.cells {
        cell.validate()?;
    }
    let (pixmap, times) = rasterize(grid)?;
    let t = Instant::now();
    let opaque = matches!(grid.background, Background::Colour(_));
    let json = grid.canonical_json();
    let bytes = match grid.format {
        Format::Png => encode::png(&pixmap, &json, opaque)?,
        Format::Webp => encode::webp(&pixmap, &json, opaque)?,
        Format::Svg => {
            return Err(RenderError::Encode("a grid is drawn as PNG or WebP".into()));
        }
    };
    Ok(Rendered {
        bytes,
        content_type: grid.format.content_type(),
        geometry: times.geometry,
        raster: times.raster,
        encode: t.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandala_model::{GridKind, RenderSpec};

    fn grid(size: u32) -> ResolvedGrid {
        RenderSpec {
            seed: Some(11),
            size: Some(size),
            format: Some(Format::Png),
            ..Default::default()
        }
        .resolve_grid(GridKind::Candidates)
        .unwrap()
    }

    #[test]
    fn each_cell_is_its_own_render_in_its_place() {
        let g = grid(512);
        let (canvas, _) = rasterize(&g).unwrap();
        assert_eq!((canvas.width(), canvas.height()), (512, 512));
        for i in 0..4 {
            let alone = crate::render(&g.cells[i]).unwrap();
            let (x, y) = g.origin(i);
            let edge = alone.width();
            for row in [0, edge / 2, edge - 1] {
                let a = &alone.data()[(row * edge * 4) as usize..((row + 1) * edge * 4) as usize];
                let start = (((y + row) * 512 + x) * 4) as usize;
                assert_eq!(
                    &canvas.data()[start..start + a.len()],
                    a,
                    "cell {i} row {row}"
                );
            }
        }
        // The gutter is the gutter colour.
        let c = mandala_model::grid::GUTTER_COLOUR;
        assert_eq!(&canvas.data()[..4], &[c.r, c.g, c.b, 255]);
    }

    #[test]
    fn a_grid_png_decodes_and_carries_the_grid() {
        let g = grid(256);
        let out = render_to_bytes(&g).unwrap();
        let img = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
        let text = String::from_utf8_lossy(&out.bytes);
        assert!(
            text.contains("\"kind\":\"candidates\""),
            "grid JSON in the PNG"
        );
        assert_eq!(
            render_to_bytes(&g).unwrap().bytes,
            out.bytes,
            "deterministic"
        );
    }
}
