//! Parity with the reference renderer's geometry, checked on the scene and
//! on real pixels: exact copy counts, rotational and mirror symmetry of the
//! rasterized image, alpha in every style, and a drawing that fills the canvas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::f64::consts::PI;

use mandala_model::{
    Background, Format, LayerSpec, RENDER_VERSION, RenderSpec, ResolvedSpec, Rgb, Style,
};
use mandala_render::scene::{Paint, PixSeg, Role};

fn layer(style: Style, symmetry: u32, mirror: bool, elements: u32, seed: u64) -> LayerSpec {
    LayerSpec {
        radius: 1.0,
        symmetry,
        mirror,
        elements,
        style,
        stroke: Rgb::hex(0xffcc00),
        fill: Rgb::hex(0x3366ff),
        alpha: 0.7,
        seed,
    }
}

fn spec_of(layers: Vec<LayerSpec>, size: u32, background: Background) -> ResolvedSpec {
    ResolvedSpec {
        version: RENDER_VERSION,
        seed: 1,
        variant: 0,
        size,
        format: Format::Png,
        symmetry: layers[0].symmetry,
        mirror: layers[0].mirror,
        palette: "custom".into(),
        background,
        ornaments: false,
        layers,
    }
}

/// The end point of every segment of a sub-path, in order.
fn vertices(part: &mandala_render::scene::PathPart) -> Vec<[f32; 2]> {
    std::iter::once(part.start)
        .chain(part.segs.iter().map(|s| match *s {
            PixSeg::Line(p) | PixSeg::Cubic(_, _, p) => p,
        }))
        .collect()
}

#[test]
fn every_order_from_2_to_64_gets_exactly_k_rotated_copies() {
    for k in 2..=64 {
        for mirror in [false, true] {
            for style in Style::ALL {
                let spec = spec_of(
                    vec![layer(style, k, mirror, 5, u64::from(k))],
                    512,
                    Background::Transparent,
                );
                let scene = mandala_render::scene(&spec).unwrap();
                let stroke = scene
                    .items
                    .iter()
                    .find(|i| i.role == Role::Layer(0) && matches!(i.paint, Paint::Stroke { .. }))
                    .unwrap();
                // The motif of one copy: a Bézier curve and its mirror image,
                // the polygon's or polyline's pieces, ...
                let motif = mandala_render::scene::motif(&spec.layers[0], 0.25 / 512.0).1;
                let m = motif.len() as u32;
                assert!(m >= 1);
                assert_eq!(
                    stroke.path.len(),
                    (k * m) as usize,
                    "k={k} mirror={mirror} {style:?}"
                );
                // Copy c is copy 0 turned by c * 2pi/k about the centre.
                let [cx, cy] = scene.centre;
                for j in 0..m {
                    let first = vertices(&stroke.path[j as usize]);
                    for c in 0..k {
                        let got = vertices(&stroke.path[(c * m + j) as usize]);
                        assert_eq!(got.len(), first.len());
                        // Pixel y points down: a counter-clockwise turn is -angle on screen.
                        let a = -2.0 * PI * f64::from(c) / f64::from(k);
                        let (s, co) = a.sin_cos();
                        for (p, q) in first.iter().zip(&got) {
                            let (dx, dy) = (f64::from(p[0] - cx), f64::from(p[1] - cy));
                            let want = (
                                f64::from(cx) + dx * co - dy * s,
                                f64::from(cy) + dx * s + dy * co,
                            );
                            assert!(
                                (want.0 - f64::from(q[0])).abs() < 0.01
                                    && (want.1 - f64::from(q[1])).abs() < 0.01,
                                "k={k} copy {c}: {want:?} vs {q:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Alpha at (x, y), bilinearly interpolated (the sample points of a rotated
/// grid fall between pixel centres).
fn alpha_at(p: &mandala_render::Pixmap, x: f64, y: f64) -> f64 {
    let (x, y) = (x - 0.5, y - 0.5);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let get = |xi: f64, yi: f64| {
        let (xi, yi) = (xi as i64, yi as i64);
        if xi < 0 || yi < 0 || xi >= i64::from(p.width()) || yi >= i64::from(p.height()) {
            return 0.0;
        }
        f64::from(p.pixels()[(yi as usize) * p.width() as usize + xi as usize].alpha())
    };
    let top = get(x0, y0) * (1.0 - fx) + get(x0 + 1.0, y0) * fx;
    let bottom = get(x0, y0 + 1.0) * (1.0 - fx) + get(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Alpha averaged over a 3x3 pixel neighbourhood: thin anti-aliased lines
/// then compare fairly between a point and its rotated image.
fn smooth_alpha_at(p: &mandala_render::Pixmap, x: f64, y: f64) -> f64 {
    let mut sum = 0.0;
    for dy in [-1.0, 0.0, 1.0] {
        for dx in [-1.0, 0.0, 1.0] {
            sum += alpha_at(p, x + dx, y + dy);
        }
    }
    sum / 9.0
}

/// Mean absolute alpha difference between the image and the image mapped
/// by `map`, over a grid of sample points where the drawing is.
fn mismatch(p: &mandala_render::Pixmap, map: impl Fn(f64, f64) -> (f64, f64)) -> f64 {
    let n = p.width();
    let (mut sum, mut count) = (0.0, 0);
    for yi in (3..n).step_by(3) {
        for xi in (3..n).step_by(3) {
            let (x, y) = (f64::from(xi) + 0.25, f64::from(yi) + 0.75);
            let a = smooth_alpha_at(p, x, y);
            let (mx, my) = map(x, y);
            let b = smooth_alpha_at(p, mx, my);
            if a > 0.0 || b > 0.0 {
                sum += (a - b).abs();
                count += 1;
            }
        }
    }
    assert!(
        count > 1000,
        "the drawing is almost empty ({count} samples)"
    );
    sum / f64::from(count)
}

fn rotation(c: [f32; 2], angle: f64) -> impl Fn(f64, f64) -> (f64, f64) {
    let (s, co) = angle.sin_cos();
    let (cx, cy) = (f64::from(c[0]), f64::from(c[1]));
    move |x, y| {
        let (dx, dy) = (x - cx, y - cy);
        (cx + dx * co - dy * s, cy + dx * s + dy * co)
    }
}

#[test]
fn rasterized_image_is_symmetric_under_rotation_by_one_step() {
    for (k, mirror, style) in [
        (3, false, Style::Fill),
        (5, true, Style::Line),
        (6, true, Style::BezierFill),
        (7, false, Style::Spline),
        (12, true, Style::Bezier),
    ] {
        let spec = spec_of(
            vec![
                layer(style, k, mirror, 6, 40 + u64::from(k)),
                LayerSpec {
                    radius: 0.6,
                    ..layer(Style::Fill, k, mirror, 4, 7)
                },
            ],
            512,
            Background::Transparent,
        );
        let scene = mandala_render::scene(&spec).unwrap();
        let pixmap = mandala_render::render(&spec).unwrap();
        let step = 2.0 * PI / f64::from(k);
        let same = mismatch(&pixmap, rotation(scene.centre, step));
        // A turn that is not a symmetry must show up as a large difference,
        // or this test could not fail.
        let off = mismatch(&pixmap, rotation(scene.centre, step / 2.0 + 0.1));
        eprintln!("k={k} {style:?}: one step {same:.2}, off {off:.2}");
        assert!(
            same < 6.0,
            "k={k} {style:?}: mean alpha difference {same:.2} after one step"
        );
        assert!(
            off > 4.0 * same.max(1.0),
            "k={k} {style:?}: a non-symmetric turn only differs by {off:.2} (step {same:.2})"
        );
    }
}

#[test]
fn mirrored_designs_are_reflection_symmetric_and_unmirrored_ones_are_not() {
    for (k, style) in [
        (5, Style::Fill),
        (6, Style::Line),
        (8, Style::BezierFill),
        (9, Style::Spline),
    ] {
        let flip = |mirror: bool| {
            eprintln!("k={k} {style:?} mirror={mirror}");
            let spec = spec_of(
                vec![layer(style, k, mirror, 7, 90 + u64::from(k))],
                384,
                Background::Transparent,
            );
            let scene = mandala_render::scene(&spec).unwrap();
            let pixmap = mandala_render::render(&spec).unwrap();
            let cx = f64::from(scene.centre[0]);
            // Copy 0's axis points straight up: reflect in the vertical line.
            mismatch(&pixmap, move |x, y| (2.0 * cx - x, y))
        };
        let (mirrored, plain) = (flip(true), flip(false));
        eprintln!("k={k} {style:?}: mirrored {mirrored:.2}, plain {plain:.2}");
        assert!(mirrored < 6.0, "k={k} {style:?}: {mirrored:.2}");
        assert!(
            plain > 4.0 * mirrored.max(1.0),
            "k={k} {style:?}: unmirrored {plain:.2} vs mirrored {mirrored:.2}"
        );
    }
}

#[test]
fn every_style_honours_alpha() {
    for style in Style::ALL {
        let mut l = layer(style, 6, true, 6, 5);
        l.alpha = 0.4;
        let pixmap =
            mandala_render::render(&spec_of(vec![l], 1024, Background::Transparent)).unwrap();
        let mut histogram = [0u32; 256];
        for p in pixmap.pixels() {
            histogram[p.alpha() as usize] += 1;
        }
        let mode = (1..256).max_by_key(|&a| histogram[a]).unwrap();
        assert!(
            (100..=104).contains(&mode),
            "{style:?}: most common alpha {mode}, want about 0.4*255"
        );
    }
}

#[test]
fn drawing_fills_the_canvas_and_transparent_corners_stay_transparent() {
    for seed in 0..12 {
        let spec = RenderSpec {
            seed: Some(seed),
            size: Some(256),
            background: Some(Background::Transparent),
            ..RenderSpec::default()
        }
        .resolve()
        .unwrap();
        let p = mandala_render::render(&spec).unwrap();
        let n = p.width() as usize;
        let (mut x0, mut x1, mut y0, mut y1) = (n, 0, n, 0);
        for (i, px) in p.pixels().iter().enumerate() {
            if px.alpha() > 0 {
                let (x, y) = (i % n, i / n);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        let (w, h) = ((x1 + 1 - x0) as f64, (y1 + 1 - y0) as f64);
        assert!(
            w.max(h) >= 0.9 * n as f64,
            "seed {seed}: drawing spans {w}x{h} of {n}"
        );
        assert!(
            w >= 0.85 * n as f64 || h >= 0.85 * n as f64,
            "seed {seed}: {w}x{h}"
        );
        // Nothing is clipped: a margin stays empty on every side.
        assert!(x0 > 0 && y0 > 0 && x1 < n - 1 && y1 < n - 1, "seed {seed}");
        for (x, y) in [(0, 0), (n - 1, 0), (0, n - 1), (n - 1, n - 1)] {
            assert_eq!(p.pixels()[y * n + x].alpha(), 0, "seed {seed} corner");
        }
    }
}

#[test]
fn line_widths_scale_with_the_image() {
    let spec = |size| {
        spec_of(
            vec![layer(Style::Line, 6, true, 6, 3)],
            size,
            Background::Transparent,
        )
    };
    let coverage = |size: u32| {
        let p = mandala_render::render(&spec(size)).unwrap();
        let ink: f64 = p.pixels().iter().map(|px| f64::from(px.alpha())).sum();
        ink / f64::from(size * size)
    };
    // Same picture at twice the size: the inked fraction of the canvas
    // stays about the same only if lines get twice as wide.
    let (small, large) = (coverage(512), coverage(1024));
    assert!(
        (small / large - 1.0).abs() < 0.12,
        "ink fraction {small:.4} at 512 vs {large:.4} at 1024"
    );
}

#[test]
fn extremes_render_something_in_every_style() {
    for style in Style::ALL {
        for (k, elements, mirror, size) in [
            (2, 2, false, 64),
            (2, 2, true, 64),
            (64, 32, true, 256),
            (64, 32, false, 256),
            (3, 32, false, 128),
        ] {
            let mut layers = vec![layer(style, k, mirror, elements, u64::from(k * elements))];
            layers.push(LayerSpec {
                radius: 0.001,
                ..layer(style, k, mirror, elements, 9)
            });
            let mut spec = spec_of(layers, size, Background::Transparent);
            spec.ornaments = true;
            let p = mandala_render::render(&spec).unwrap();
            let inked = p.pixels().iter().filter(|px| px.alpha() > 0).count();
            assert!(
                inked * 100 > (size * size) as usize,
                "{style:?} k={k} n={elements} mirror={mirror}: only {inked} pixels inked"
            );
            let svg = mandala_render::render_to_bytes(&ResolvedSpec {
                format: Format::Svg,
                ..spec
            })
            .unwrap();
            assert!(!String::from_utf8(svg.bytes).unwrap().contains("NaN"));
        }
    }
}
