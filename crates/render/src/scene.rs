//! The scene: a resolved spec turned into painted paths in pixel space.
//!
//! Both back ends draw from the same [`Scene`]: the rasterizer
//! ([`crate::raster`]) and the SVG writer ([`crate::svg`]). Building it is
//! the "geometry" phase: each layer's seed wedge is connected in its style,
//! mirrored and replicated around the centre, every copy of one paint going
//! into ONE path (so edges shared by neighbouring copies are covered once:
//! no seams, no double-blended overlaps, one draw call), and finally the
//! whole drawing is fitted to the canvas.

use std::f64::consts::{FRAC_PI_2, PI};

use mandala_model::stream::Stream;
use mandala_model::{Background, LayerSpec, ResolvedSpec, Rgb, Style};

use crate::geometry::{self, BBox, Pt, Seg, SubPath};

/// Stream purpose for a layer's point order (the layer seed is the seed).
const ORDER_PURPOSE: u64 = 0x006f_7264_6572;

/// Margin on every side, as a fraction of the canvas edge.
pub const MARGIN: f64 = 0.035;

/// Everything to paint, in order, in pixel coordinates (y down).
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Width and height in pixels.
    pub size: u32,
    /// `None` is a transparent canvas.
    pub background: Option<Rgb>,
    pub items: Vec<Item>,
    /// Where the mandala's centre of rotation landed, in pixels (the fit
    /// centres the drawing's extent, which for odd orders is not the centre).
    pub centre: [f32; 2],
    /// `ResolvedSpec::canonical_json()`, embedded in the encoded file.
    pub spec_json: String,
}

/// One path and how to paint it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub path: Vec<PathPart>,
    pub paint: Paint,
    /// What the item draws (a layer's shapes, or an ornament).
    pub role: Role,
}

/// Which part of the design an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The shapes of layer `i` (outermost is 0).
    Layer(usize),
    /// Rings, dots and halos between layers.
    Ornament,
}

/// A sub-path in pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPart {
    pub start: [f32; 2],
    pub segs: Vec<PixSeg>,
    pub closed: bool,
}

/// A segment in pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PixSeg {
    Line([f32; 2]),
    Cubic([f32; 2], [f32; 2], [f32; 2]),
}

/// Fills use the non-zero rule; strokes have round joins and caps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Paint {
    /// `outline`: the width of the opaque stroke drawn over this fill's
    /// whole boundary right after it (0 if none). An outline at least
    /// [`HIDES_FILL_EDGES`] wide covers the fill's anti-aliasing fringe, so
    /// the rasterizer may skip anti-aliasing the fill (same pixels).
    Fill {
        colour: Rgb,
        alpha: f32,
        outline: f32,
    },
    Stroke {
        colour: Rgb,
        alpha: f32,
        width: f32,
    },
}

/// See [`Paint::Fill`].
pub const HIDES_FILL_EDGES: f32 = 2.0;

/// An item before fitting: unit coordinates, stroke widths in pixels.
struct Draft {
    parts: Vec<SubPath>,
    paint: Paint,
    role: Role,
}

/// Stroke widths in pixels for a canvas of `size`: they scale with the image.
#[derive(Debug, Clone, Copy)]
struct Widths {
    line: f32,
    outline: f32,
    ring: f32,
}

impl Widths {
    fn for_size(size: u32) -> Self {
        let unit = size as f32 / 1024.0;
        let w = |px: f32| (px * unit).max(0.6);
        Self {
            line: w(2.8),
            outline: w(2.3),
            ring: w(2.3),
        }
    }
}

/// Builds the scene for `spec` (which should be valid; see `ResolvedSpec::validate`).
pub fn build(spec: &ResolvedSpec) -> Scene {
    let size = spec.size.max(1);
    let widths = Widths::for_size(size);
    // Flatten curves finely enough for the largest plausible zoom of the fit.
    // (Unit coordinates map to about size/2 pixels per unit; the fit may zoom
    // in up to ~2x when the outer layer is small.)
    let tol = 0.25 / f64::from(size);
    let background = match spec.background {
        Background::Transparent => None,
        Background::Colour(c) => Some(c),
    };

    let mut drafts = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        if spec.ornaments && i > 0 {
            ornaments_before(spec, i, background, widths, &mut drafts);
        }
        layer_drafts(i, layer, widths, tol, &mut drafts);
    }
    if spec.ornaments {
        centre_jewel(spec, widths, &mut drafts);
    }

    let fit = Fit::new(&drafts, size, widths);
    let items = drafts
        .into_iter()
        .map(|d| Item {
            path: d.parts.iter().map(|p| fit.apply(p)).collect(),
            paint: d.paint,
            role: d.role,
        })
        .collect();
    Scene {
        size,
        background,
        centre: fit.point(Pt::new(0.0, 0.0)),
        items,
        spec_json: spec.canonical_json(),
    }
}

/// The rotation that puts copy 0's axis straight up; odd layers turn half
/// a step further so their petals sit between those of the layer outside.
pub fn base_angle(index: usize, layer: &LayerSpec) -> f64 {
    let sector = 2.0 * PI / f64::from(layer.symmetry.max(1));
    let centre_of_wedge = if layer.mirror { 0.0 } else { sector / 2.0 };
    let stagger = if index % 2 == 1 { sector / 2.0 } else { 0.0 };
    FRAC_PI_2 - centre_of_wedge + stagger
}

/// The motif of one layer (copy 0 before rotation, unit radius scaled by the
/// layer radius): sub-paths to fill and sub-paths to stroke.
pub fn motif(layer: &LayerSpec, tol: f64) -> (Vec<SubPath>, Vec<SubPath>) {
    let wedge = geometry::wedge_angle(layer.symmetry, layer.mirror);
    let mut stream = Stream::new(layer.seed, ORDER_PURPOSE);
    let p: Vec<Pt> = geometry::seed_points(layer.elements, wedge, &mut stream)
        .into_iter()
        .map(|q| q.scale(layer.radius))
        .collect();
    // The vertex loop P then its mirror Q: a closed loop through it is
    // itself mirror-symmetric (reflection maps P_i to Q_i).
    let mut loop_pts = p.clone();
    if layer.mirror {
        loop_pts.extend(p.iter().map(|q| q.mirrored()));
    }
    let with_mirror = |s: SubPath| {
        if layer.mirror {
            let m = s.mirrored();
            vec![s, m]
        } else {
            vec![s]
        }
    };
    let curve = |closed: bool| {
        let mut pts = vec![p[0]];
        geometry::flatten_bezier(&p, tol, &mut pts);
        SubPath::polyline(&pts, closed)
    };
    let straight = |closed| geometry::spoke_merged_strokes(&loop_pts, closed, wedge, layer.mirror);
    match layer.style {
        Style::Line => (Vec::new(), straight(false)),
        Style::Fill => (vec![SubPath::polyline(&loop_pts, true)], straight(true)),
        Style::Bezier => (Vec::new(), with_mirror(curve(false))),
        Style::BezierFill => {
            let shapes = with_mirror(curve(true));
            (shapes.clone(), shapes)
        }
        Style::Spline => {
            let s = geometry::closed_spline(&loop_pts);
            (vec![s.clone()], vec![s])
        }
    }
}

/// `parts` replicated `k` times around the centre starting at `base`.
pub fn replicate(parts: &[SubPath], k: u32, base: f64) -> Vec<SubPath> {
    let k = k.max(1);
    let step = 2.0 * PI / f64::from(k);
    (0..k)
        .flat_map(|c| {
            let (s, co) = (base + step * f64::from(c)).sin_cos();
            parts.iter().map(move |p| p.map(|q| q.rotated(s, co)))
        })
        .collect()
}

fn alpha_of(a: f64) -> f32 {
    a.clamp(0.0, 1.0) as f32
}

fn layer_drafts(i: usize, layer: &LayerSpec, w: Widths, tol: f64, out: &mut Vec<Draft>) {
    let (fills, strokes) = motif(layer, tol);
    let base = base_angle(i, layer);
    let role = Role::Layer(i);
    let alpha = alpha_of(layer.alpha);
    let (fill_paint, stroke_paint) = match layer.style {
        // Stroke-only styles take the layer's alpha on the stroke.
        Style::Line | Style::Bezier => (
            None,
            Paint::Stroke {
                colour: layer.stroke,
                alpha,
                width: w.line,
            },
        ),
        Style::Fill | Style::Spline => (
            Some(Paint::Fill {
                colour: layer.fill,
                alpha,
                outline: w.outline,
            }),
            Paint::Stroke {
                colour: layer.stroke,
                alpha: 1.0,
                width: w.outline,
            },
        ),
        // Like the reference: a glassy blade outlined in its own colour.
        Style::BezierFill => (
            Some(Paint::Fill {
                colour: layer.fill,
                alpha,
                outline: w.line,
            }),
            Paint::Stroke {
                colour: layer.fill,
                alpha: 1.0,
                width: w.line,
            },
        ),
    };
    if let Some(paint) = fill_paint {
        out.push(Draft {
            parts: replicate(&fills, layer.symmetry, base),
            paint,
            role,
        });
    }
    out.push(Draft {
        parts: replicate(&strokes, layer.symmetry, base),
        paint: stroke_paint,
        role,
    });
}

/// Before inner layer `i`: a soft halo of background that calms the layers
/// underneath, a ring framing layer `i`, and a dot at each of its tips.
fn ornaments_before(
    spec: &ResolvedSpec,
    i: usize,
    background: Option<Rgb>,
    w: Widths,
    out: &mut Vec<Draft>,
) {
    let layer = &spec.layers[i];
    let outer = &spec.layers[i - 1];
    let r = layer.radius * 1.06;
    let origin = Pt::new(0.0, 0.0);
    if let Some(bg) = background {
        out.push(Draft {
            parts: vec![geometry::circle(origin, r)],
            paint: Paint::Fill {
                colour: bg,
                alpha: 0.55,
                outline: w.ring,
            },
            role: Role::Ornament,
        });
    }
    out.push(Draft {
        parts: vec![geometry::circle(origin, r)],
        paint: Paint::Stroke {
            colour: outer.stroke,
            alpha: 1.0,
            width: w.ring,
        },
        role: Role::Ornament,
    });
    let dot_r = (0.012 + 0.01 * layer.radius).min(0.5 * PI * r / f64::from(layer.symmetry));
    let step = 2.0 * PI / f64::from(layer.symmetry.max(1));
    let base = base_angle(i, layer) + if layer.mirror { 0.0 } else { step / 2.0 };
    let dots = (0..layer.symmetry)
        .map(|c| geometry::circle(Pt::polar(r, base + step * f64::from(c)), dot_r))
        .collect();
    out.push(Draft {
        parts: dots,
        paint: Paint::Fill {
            colour: outer.fill,
            alpha: 1.0,
            outline: 0.0,
        },
        role: Role::Ornament,
    });
}

/// A small ringed dot at the very centre.
fn centre_jewel(spec: &ResolvedSpec, w: Widths, out: &mut Vec<Draft>) {
    let Some(last) = spec.layers.last() else {
        return;
    };
    let r = (last.radius * 0.08).max(0.015);
    let origin = Pt::new(0.0, 0.0);
    out.push(Draft {
        parts: vec![geometry::circle(origin, r)],
        paint: Paint::Fill {
            colour: last.fill,
            alpha: 1.0,
            outline: w.ring,
        },
        role: Role::Ornament,
    });
    out.push(Draft {
        parts: vec![geometry::circle(origin, r)],
        paint: Paint::Stroke {
            colour: last.stroke,
            alpha: 1.0,
            width: w.ring,
        },
        role: Role::Ornament,
    });
}

/// Maps unit coordinates to pixels so the drawing's actual extent (plus
/// half the widest stroke) fills the canvas inside the margin, centred.
struct Fit {
    scale: f64,
    centre: Pt,
    half: f64,
}

impl Fit {
    fn new(drafts: &[Draft], size: u32, w: Widths) -> Self {
        let mut bbox = BBox::default();
        for d in drafts {
            for p in &d.parts {
                p.extend_bbox(&mut bbox);
            }
        }
        let half = f64::from(size) / 2.0;
        if bbox.is_empty() {
            return Self {
                scale: half,
                centre: Pt::new(0.0, 0.0),
                half,
            };
        }
        let stroke = f64::from(w.line.max(w.ring).max(w.outline));
        let avail = (f64::from(size) * (1.0 - 2.0 * MARGIN) - stroke).max(1.0);
        let extent = bbox.width().max(bbox.height()).max(1e-6);
        Self {
            scale: avail / extent,
            centre: bbox.centre(),
            half,
        }
    }

    fn point(&self, p: Pt) -> [f32; 2] {
        [
            (self.half + (p.x - self.centre.x) * self.scale) as f32,
            (self.half - (p.y - self.centre.y) * self.scale) as f32,
        ]
    }

    fn apply(&self, s: &SubPath) -> PathPart {
        PathPart {
            start: self.point(s.start),
            segs: s
                .segs
                .iter()
                .map(|g| match *g {
                    Seg::Line(p) => PixSeg::Line(self.point(p)),
                    Seg::Cubic(a, b, p) => {
                        PixSeg::Cubic(self.point(a), self.point(b), self.point(p))
                    }
                })
                .collect(),
            closed: s.closed,
        }
    }
}
