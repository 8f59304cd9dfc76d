//! Plane geometry in the mandala's own unit coordinates (y up, radius 1).
//!
//! Everything here is pure maths on `f64`: the seed wedge and its shuffled
//! order, Bézier flattening, the closed Catmull-Rom spline, rotations and
//! bounding boxes. The scene builder composes these into layers and only at
//! the very end maps them to pixels.

mod curves;
mod wedge;

pub use curves::{bezier_at, closed_spline, flatten_bezier};
pub use wedge::{seed_points, spoke_merged_strokes, wedge_angle};

/// A point (or vector) in the plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
}

impl Pt {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    pub fn polar(r: f64, angle: f64) -> Self {
        let (s, c) = angle.sin_cos();
        Self::new(r * c, r * s)
    }

    pub fn lerp(self, o: Pt, t: f64) -> Pt {
        Pt::new(self.x + (o.x - self.x) * t, self.y + (o.y - self.y) * t)
    }

    pub fn minus(self, o: Pt) -> Pt {
        Pt::new(self.x - o.x, self.y - o.y)
    }

    pub fn plus(self, o: Pt) -> Pt {
        Pt::new(self.x + o.x, self.y + o.y)
    }

    pub fn scale(self, s: f64) -> Pt {
        Pt::new(self.x * s, self.y * s)
    }

    pub fn len(self) -> f64 {
        self.x.hypot(self.y)
    }

    /// Reflection in the x-axis: the mirror of the seed wedge.
    pub fn mirrored(self) -> Pt {
        Pt::new(self.x, -self.y)
    }

    /// This point rotated about the origin by the angle with sine `s`, cosine `c`.
    pub fn rotated(self, s: f64, c: f64) -> Pt {
        Pt::new(self.x * c - self.y * s, self.x * s + self.y * c)
    }
}

/// One piece of a sub-path after its start point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seg {
    Line(Pt),
    Cubic(Pt, Pt, Pt),
}

impl Seg {
    pub fn end(self) -> Pt {
        match self {
            Seg::Line(p) | Seg::Cubic(_, _, p) => p,
        }
    }

    fn map(self, f: impl Fn(Pt) -> Pt) -> Seg {
        match self {
            Seg::Line(p) => Seg::Line(f(p)),
            Seg::Cubic(a, b, p) => Seg::Cubic(f(a), f(b), f(p)),
        }
    }
}

/// A connected run of segments, open or closed.
#[derive(Debug, Clone, PartialEq)]
pub struct SubPath {
    pub start: Pt,
    pub segs: Vec<Seg>,
    pub closed: bool,
}

impl SubPath {
    /// A polyline through `points` (which must not be empty).
    pub fn polyline(points: &[Pt], closed: bool) -> Self {
        Self {
            start: points[0],
            segs: points[1..].iter().copied().map(Seg::Line).collect(),
            closed,
        }
    }

    pub fn map(&self, f: impl Fn(Pt) -> Pt + Copy) -> SubPath {
        SubPath {
            start: f(self.start),
            segs: self.segs.iter().map(|s| s.map(f)).collect(),
            closed: self.closed,
        }
    }

    pub fn mirrored(&self) -> SubPath {
        self.map(Pt::mirrored)
    }

    /// Extends `bbox` by the exact extent of this sub-path (cubics by their
    /// extrema, not their control points, so fitting is tight).
    pub fn extend_bbox(&self, bbox: &mut BBox) {
        bbox.add(self.start);
        let mut from = self.start;
        for seg in &self.segs {
            match *seg {
                Seg::Line(p) => bbox.add(p),
                Seg::Cubic(c1, c2, p) => cubic_extent(from, c1, c2, p, bbox),
            }
            from = seg.end();
        }
    }
}

/// An axis-aligned bounding box; empty until a point is added.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min: Pt,
    pub max: Pt,
}

impl Default for BBox {
    fn default() -> Self {
        Self {
            min: Pt::new(f64::INFINITY, f64::INFINITY),
            max: Pt::new(f64::NEG_INFINITY, f64::NEG_INFINITY),
        }
    }
}

impl BBox {
    pub fn add(&mut self, p: Pt) {
        self.min.x = self.min.x.min(p.x);
        self.min.y = self.min.y.min(p.y);
        self.max.x = self.max.x.max(p.x);
        self.max.y = self.max.y.max(p.y);
    }

    pub fn is_empty(&self) -> bool {
        self.min.x > self.max.x
    }

    pub fn width(&self) -> f64 {
        self.max.x - self.min.x
    }

    pub fn height(&self) -> f64 {
        self.max.y - self.min.y
    }

    pub fn centre(&self) -> Pt {
        self.min.lerp(self.max, 0.5)
    }
}

fn cubic_extent(p0: Pt, p1: Pt, p2: Pt, p3: Pt, bbox: &mut BBox) {
    bbox.add(p3);
    // Roots of the derivative per axis: a t^2 + b t + c = 0.
    let axis = |a0: f64, a1: f64, a2: f64, a3: f64| -> [Option<f64>; 2] {
        let a = -a0 + 3.0 * a1 - 3.0 * a2 + a3;
        let b = 2.0 * (a0 - 2.0 * a1 + a2);
        let c = a1 - a0;
        if a.abs() < 1e-12 {
            if b.abs() < 1e-12 {
                return [None, None];
            }
            return [Some(-c / b), None];
        }
        let disc = b * b - 4.0 * a * c;
        if disc < 0.0 {
            return [None, None];
        }
        let sq = disc.sqrt();
        [Some((-b + sq) / (2.0 * a)), Some((-b - sq) / (2.0 * a))]
    };
    let roots = axis(p0.x, p1.x, p2.x, p3.x)
        .into_iter()
        .chain(axis(p0.y, p1.y, p2.y, p3.y));
    for t in roots.flatten() {
        if t > 0.0 && t < 1.0 {
            let u = 1.0 - t;
            let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
            bbox.add(Pt::new(
                w[0] * p0.x + w[1] * p1.x + w[2] * p2.x + w[3] * p3.x,
                w[0] * p0.y + w[1] * p1.y + w[2] * p2.y + w[3] * p3.y,
            ));
        }
    }
}

/// A circle as four cubic arcs (the usual 0.5523 kappa approximation).
pub fn circle(centre: Pt, r: f64) -> SubPath {
    const K: f64 = 0.552_284_749_830_793_4;
    let p = |x: f64, y: f64| Pt::new(centre.x + x * r, centre.y + y * r);
    SubPath {
        start: p(1.0, 0.0),
        segs: vec![
            Seg::Cubic(p(1.0, K), p(K, 1.0), p(0.0, 1.0)),
            Seg::Cubic(p(-K, 1.0), p(-1.0, K), p(-1.0, 0.0)),
            Seg::Cubic(p(-1.0, -K), p(-K, -1.0), p(0.0, -1.0)),
            Seg::Cubic(p(K, -1.0), p(1.0, -K), p(1.0, 0.0)),
        ],
        closed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance from `p` to the segment `a`–`b`.
    pub(super) fn dist_to_segment(p: Pt, a: Pt, b: Pt) -> f64 {
        let d = b.minus(a);
        let l2 = d.x * d.x + d.y * d.y;
        let t = if l2 == 0.0 {
            0.0
        } else {
            ((p.x - a.x) * d.x + (p.y - a.y) * d.y) / l2
        };
        p.minus(a.lerp(b, t.clamp(0.0, 1.0))).len()
    }

    #[test]
    fn cubic_bbox_is_tight() {
        let c = circle(Pt::new(1.0, 2.0), 3.0);
        let mut b = BBox::default();
        c.extend_bbox(&mut b);
        assert!((b.min.x + 2.0).abs() < 1e-9 && (b.max.y - 5.0).abs() < 1e-9);
    }
}
