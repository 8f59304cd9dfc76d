//! Rasterization: a [`Scene`] painted onto a `tiny_skia::Pixmap`.
//!
//! Each scene item is one tiny-skia path drawn once, anti-aliased; fills use
//! the non-zero rule, strokes round joins and caps.

use tiny_skia::{
    Color, FillRule, LineCap, LineJoin, Paint as SkPaint, PathBuilder, Pixmap, Stroke, Transform,
};

use crate::RenderError;
use crate::scene::{HIDES_FILL_EDGES, Item, Paint, PixSeg, Scene};

/// Paints `scene` onto a new pixmap of its size.
pub fn rasterize(scene: &Scene) -> Result<Pixmap, RenderError> {
    let mut pixmap = Pixmap::new(scene.size, scene.size).ok_or(RenderError::Canvas(scene.size))?;
    if let Some(bg) = scene.background {
        pixmap.fill(Color::from_rgba8(bg.r, bg.g, bg.b, 255));
    }
    for item in &scene.items {
        draw(&mut pixmap, item);
    }
    Ok(pixmap)
}

fn draw(pixmap: &mut Pixmap, item: &Item) {
    let mut pb = PathBuilder::new();
    for part in &item.path {
        pb.move_to(part.start[0], part.start[1]);
        for seg in &part.segs {
            match *seg {
                PixSeg::Line(p) => pb.line_to(p[0], p[1]),
                PixSeg::Cubic(a, b, p) => pb.cubic_to(a[0], a[1], b[0], b[1], p[0], p[1]),
            }
        }
        if part.closed {
            pb.close();
        }
    }
    // An empty or degenerate path draws nothing.
    let Some(path) = pb.finish() else {
        return;
    };
    let mut paint = SkPaint {
        anti_alias: true,
        ..SkPaint::default()
    };
    match item.paint {
        Paint::Fill {
            colour,
            alpha,
            outline,
        } => {
            paint.anti_alias = outline < HIDES_FILL_EDGES;
            paint.set_color_rgba8(colour.r, colour.g, colour.b, alpha_u8(alpha));
            pixmap.fill_path(
                &path,
                &paint,
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
        Paint::Stroke {
            colour,
            alpha,
            width,
        } => {
            paint.set_color_rgba8(colour.r, colour.g, colour.b, alpha_u8(alpha));
            let stroke = Stroke {
                width,
                line_cap: LineCap::Round,
                line_join: LineJoin::Round,
                ..Stroke::default()
            };
            pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
        }
    }
}

pub(crate) fn alpha_u8(alpha: f32) -> u8 {
    (alpha.clamp(0.0, 1.0) * 255.0).round() as u8
}
