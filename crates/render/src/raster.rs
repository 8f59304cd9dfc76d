//! Rasterization: a [`Scene`] painted onto a `tiny_skia::Pixmap`.
//!
//! The painting itself is vello_cpu's: its sparse-strip rasterizer computes
//! exact anti-aliased coverage per pixel, where tiny-skia supersamples every
//! edge on four sub-scanlines per pixel row — about three times the work for
//! the long thin strokes a mandala is made of. The result lands in a
//! tiny-skia `Pixmap` (premultiplied RGBA, the same layout), which stays the
//! crate's canvas type for encoding and composing.
//!
//! Each scene item is one path drawn once, anti-aliased; fills use the
//! non-zero rule, strokes round joins and caps. vello_cpu runs at the SIMD
//! level every x86-64 (and every aarch64) CPU has, never a detected better
//! one: wider SIMD rounds differently, and the same spec must give the same
//! bytes on every machine.

use vello_cpu::color::{AlphaColor, Srgb};
use vello_cpu::kurbo::{BezPath, Cap, Join, Rect, Stroke};
use vello_cpu::peniko::Fill;
use vello_cpu::{
    Level, PixmapMut, RasterizerSettings, RenderContext, RenderSettings, Resources, TargetInit,
};

use crate::RenderError;
use crate::scene::{HIDES_FILL_EDGES, Item, Paint, PixSeg, Scene};
use tiny_skia::Pixmap;

/// Coverage at or above which a non-anti-aliased fill covers a pixel (of 255).
const HALF_COVERAGE: u8 = 128;

/// Paints `scene` onto a new pixmap of its size.
pub fn rasterize(scene: &Scene) -> Result<Pixmap, RenderError> {
    let canvas = || RenderError::Canvas(scene.size);
    let edge = u16::try_from(scene.size).map_err(|_| canvas())?;
    let mut pixmap = Pixmap::new(scene.size, scene.size).ok_or_else(canvas)?;
    let mut ctx = RenderContext::new_with(
        edge,
        edge,
        RenderSettings {
            level: Level::baseline(),
            num_threads: 0,
        },
    );
    ctx.set_fill_rule(Fill::NonZero);
    // The background is the first thing painted, so every item blends onto
    // what lies under it, in scene order.
    if let Some(bg) = scene.background {
        ctx.set_paint(AlphaColor::<Srgb>::from_rgba8(bg.r, bg.g, bg.b, 255));
        ctx.fill_rect(&Rect::new(0.0, 0.0, f64::from(edge), f64::from(edge)));
    }
    for item in &scene.items {
        draw(&mut ctx, item);
    }
    ctx.flush();
    let target = PixmapMut::new(edge, edge, pixmap.data_mut()).ok_or_else(canvas)?;
    ctx.render_with(
        target,
        &mut Resources::new(),
        RasterizerSettings {
            target_init: TargetInit::Clear(AlphaColor::TRANSPARENT),
            ..RasterizerSettings::default()
        },
    );
    if scene.background.is_some() {
        // vello's 8-bit blending of translucent paint can round an opaque
        // pixel down to alpha 254; over an opaque background every pixel
        // is opaque, exactly (the PNG is then written as RGB).
        // (Written as a whole-word OR so that it vectorizes.)
        const OPAQUE: u32 = u32::from_le_bytes([0, 0, 0, 255]);
        let (pixels, _) = pixmap.data_mut().as_chunks_mut::<4>();
        for px in pixels {
            *px = (u32::from_le_bytes(*px) | OPAQUE).to_le_bytes();
        }
    }
    Ok(pixmap)
}

fn draw(ctx: &mut RenderContext, item: &Item) {
    let mut path = BezPath::new();
    let pt = |p: [f32; 2]| (f64::from(p[0]), f64::from(p[1]));
    for part in &item.path {
        path.move_to(pt(part.start));
        for seg in &part.segs {
            match *seg {
                PixSeg::Line(p) => path.line_to(pt(p)),
                PixSeg::Cubic(a, b, p) => path.curve_to(pt(a), pt(b), pt(p)),
            }
        }
        if part.closed {
            path.close_path();
        }
    }
    match item.paint {
        Paint::Fill {
            colour,
            alpha,
            outline,
        } => {
            ctx.set_paint(AlphaColor::<Srgb>::from_rgba8(
                colour.r,
                colour.g,
                colour.b,
                alpha_u8(alpha),
            ));
            // The outline drawn next hides the fill's fringe.
            let hidden = outline >= HIDES_FILL_EDGES;
            ctx.set_aliasing_threshold(hidden.then_some(HALF_COVERAGE));
            ctx.fill_path(&path);
            ctx.set_aliasing_threshold(None);
        }
        Paint::Stroke {
            colour,
            alpha,
            width,
        } => {
            ctx.set_paint(AlphaColor::<Srgb>::from_rgba8(
                colour.r,
                colour.g,
                colour.b,
                alpha_u8(alpha),
            ));
            ctx.set_stroke(
                Stroke::new(f64::from(width))
                    .with_caps(Cap::Round)
                    .with_join(Join::Round),
            );
            ctx.stroke_path(&path);
        }
    }
}

pub(crate) fn alpha_u8(alpha: f32) -> u8 {
    (alpha.clamp(0.0, 1.0) * 255.0).round() as u8
}
