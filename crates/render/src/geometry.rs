//! Plane geometry in the mandala's own unit coordinates (y up, radius 1).
//!
//! Everything here is pure maths on `f64`: the seed wedge and its shuffled
//! order, Bézier flattening, the closed Catmull-Rom spline, rotations and
//! bounding boxes. The scene builder composes these into layers and only at
//! the very end maps them to pixels.

use std::f64::consts::PI;

use mandala_model::stream::Stream;

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

/// The seed wedge: `n` points on the positive x-axis and `n` on the ray at
/// `wedge` radians, shuffled by the layer's stream.
///
/// Unlike the reference (radii `j/n` on both rays: the origin twice and the
/// rim never reached) the axis ray holds radii `j/(n-1)` — the centre once
/// and the rim — and the other ray `(j+1)/n`, so both rays reach the rim
/// and all `2n` points are distinct.
pub fn seed_points(n: u32, wedge: f64, stream: &mut Stream) -> Vec<Pt> {
    let n = n.max(2);
    let nf = f64::from(n);
    let mut points: Vec<Pt> = (0..n)
        .map(|j| Pt::new(f64::from(j) / (nf - 1.0), 0.0))
        .chain((0..n).map(|j| Pt::polar(f64::from(j + 1) / nf, wedge)))
        .collect();
    stream.shuffle(&mut points);
    points
}

/// The angle of the seed wedge: half a sector when mirrored (the mirror
/// fills the other half), a whole sector otherwise.
pub fn wedge_angle(symmetry: u32, mirror: bool) -> f64 {
    let sector = 2.0 * PI / f64::from(symmetry.max(1));
    if mirror { sector / 2.0 } else { sector }
}

/// The stroke of a polyline through the seed points (`closed` for the
/// polygon), ready to be replicated around the centre, with the segments
/// that run along the wedge's rays — the radial "spokes", about half of all
/// segments — merged into disjoint radial intervals.
///
/// Those spokes overlap each other, the mirror half repeats the ones on the
/// axis, and neighbouring copies repeat the ones on the wedge's edge. With
/// round joins and caps the union of the stroke is the same either way, but
/// long overlapping edges are what an anti-aliasing scan converter pays for,
/// so drawing each spoke once roughly halves a layer's stroke time.
///
/// `wedge` is the seed wedge's angle; `mirror` says the points are the seed
/// P followed by its mirror image (wedge [-wedge, wedge]), otherwise the
/// wedge is [0, wedge] and one rotation step wide.
pub fn spoke_merged_strokes(points: &[Pt], closed: bool, wedge: f64, mirror: bool) -> Vec<SubPath> {
    const EPS: f64 = 1e-9;
    // Rays: 0 = the x-axis, 1 = the wedge edge. A mirrored copy's lower
    // edge (-wedge) is its neighbour's upper edge; an unmirrored copy's
    // upper edge is its neighbour's axis: fold both onto one canonical ray.
    // Which ray a point lies on: 0 the axis, 1 the upper edge, 2 the lower
    // (mirrored) edge, OFF none; `None` is the centre, on every ray.
    const OFF: u8 = u8::MAX;
    let ray_of = |p: Pt| -> Option<u8> {
        if p.len() < EPS {
            return None;
        }
        let a = p.y.atan2(p.x);
        Some(if a.abs() < 1e-7 {
            0
        } else if (a - wedge).abs() < 1e-7 {
            1
        } else if mirror && (a + wedge).abs() < 1e-7 {
            2
        } else {
            OFF
        })
    };
    let along = |a: Pt, b: Pt| -> Option<usize> {
        let ray = match (ray_of(a), ray_of(b)) {
            (Some(x), Some(y)) if x == y => x,
            (Some(x), None) | (None, Some(x)) => x,
            _ => return None,
        };
        match ray {
            OFF => None,
            0 => Some(0),
            // The upper edge is the neighbour's axis when not mirrored.
            1 if !mirror => Some(0),
            // A mirrored copy's lower edge is its neighbour's upper edge.
            _ => Some(1),
        }
    };
    let n = points.len();
    let segments = if closed { n } else { n.saturating_sub(1) };
    let mut intervals: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    let mut out: Vec<SubPath> = Vec::new();
    let mut run: Vec<Pt> = Vec::new();
    let flush = |run: &mut Vec<Pt>, out: &mut Vec<SubPath>| {
        if run.len() >= 2 {
            out.push(SubPath::polyline(run, false));
        }
        run.clear();
    };
    for i in 0..segments {
        let (a, b) = (points[i], points[(i + 1) % n]);
        if let Some(ray) = along(a, b) {
            let (ra, rb) = (a.len(), b.len());
            intervals[ray].push((ra.min(rb), ra.max(rb)));
            flush(&mut run, &mut out);
        } else {
            if run.is_empty() {
                run.push(a);
            }
            run.push(b);
        }
    }
    flush(&mut run, &mut out);
    if closed && out.len() == 1 && intervals.iter().all(Vec::is_empty) {
        // No spokes at all: keep the polygon closed (joins, not caps).
        out[0].closed = true;
        out[0].segs.pop();
    }
    for (ray, list) in intervals.iter_mut().enumerate() {
        let angle = if ray == 0 { 0.0 } else { wedge };
        list.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for &(lo, hi) in list.iter() {
            match merged.last_mut() {
                Some(last) if lo <= last.1 + EPS => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        for (lo, hi) in merged {
            out.push(SubPath::polyline(
                &[Pt::polar(lo, angle), Pt::polar(hi, angle)],
                false,
            ));
        }
    }
    out
}

/// Flattens the Bézier curve with control points `ctrl` (any degree) into
/// points appended to `out` (the first control point is not appended),
/// subdividing with de Casteljau until the control polygon is within `tol`
/// of its chord; the curve lies within that polygon's hull, so within `tol`
/// of the emitted chords.
pub fn flatten_bezier(ctrl: &[Pt], tol: f64, out: &mut Vec<Pt>) {
    let mut scratch = Vec::with_capacity(ctrl.len() * 2);
    flatten_rec(ctrl, tol, 0, out, &mut scratch);
}

fn flatten_rec(ctrl: &[Pt], tol: f64, depth: u32, out: &mut Vec<Pt>, scratch: &mut Vec<Pt>) {
    let (first, last) = (ctrl[0], ctrl[ctrl.len() - 1]);
    if depth >= 20 || control_deviation(ctrl) <= tol {
        out.push(last);
        return;
    }
    let (left, right) = split_half(ctrl, scratch);
    debug_assert!(left[0] == first && right[right.len() - 1] == last);
    flatten_rec(&left, tol, depth + 1, out, scratch);
    flatten_rec(&right, tol, depth + 1, out, scratch);
}

/// The largest distance of an inner control point from the chord.
fn control_deviation(ctrl: &[Pt]) -> f64 {
    let (a, b) = (ctrl[0], ctrl[ctrl.len() - 1]);
    let d = b.minus(a);
    let len = d.len();
    ctrl[1..ctrl.len() - 1]
        .iter()
        .map(|p| {
            let v = p.minus(a);
            if len < 1e-12 {
                v.len()
            } else {
                (v.x * d.y - v.y * d.x).abs() / len
            }
        })
        .fold(0.0, f64::max)
}

/// de Casteljau at t = 1/2: the control points of both halves.
fn split_half(ctrl: &[Pt], scratch: &mut Vec<Pt>) -> (Vec<Pt>, Vec<Pt>) {
    let n = ctrl.len();
    scratch.clear();
    scratch.extend_from_slice(ctrl);
    let mut left = Vec::with_capacity(n);
    let mut right = vec![Pt::new(0.0, 0.0); n];
    left.push(scratch[0]);
    right[n - 1] = scratch[n - 1];
    for level in 1..n {
        for i in 0..n - level {
            scratch[i] = scratch[i].lerp(scratch[i + 1], 0.5);
        }
        left.push(scratch[0]);
        right[n - 1 - level] = scratch[n - 1 - level];
    }
    (left, right)
}

/// Evaluates a Bézier curve of any degree at `t` (de Casteljau); used by tests
/// to check the flattening.
pub fn bezier_at(ctrl: &[Pt], t: f64) -> Pt {
    let mut pts = ctrl.to_vec();
    for level in 1..pts.len() {
        for i in 0..pts.len() - level {
            pts[i] = pts[i].lerp(pts[i + 1], t);
        }
    }
    pts[0]
}

/// A closed centripetal Catmull-Rom spline through `points`, as cubic
/// Bézier segments. Centripetal parametrisation (knot spacing √distance)
/// avoids the cusps and self-loops the uniform form makes at uneven spacing.
/// Consecutive duplicates are skipped.
pub fn closed_spline(points: &[Pt]) -> SubPath {
    let mut pts: Vec<Pt> = Vec::with_capacity(points.len());
    for &p in points {
        if pts.last().is_none_or(|q: &Pt| q.minus(p).len() > 1e-9) {
            pts.push(p);
        }
    }
    while pts.len() > 1 && pts[0].minus(pts[pts.len() - 1]).len() <= 1e-9 {
        pts.pop();
    }
    let n = pts.len();
    if n < 3 {
        return SubPath::polyline(&pts, true);
    }
    let at = |i: usize| pts[i % n];
    // Knot interval between point i and i+1.
    let dt = |i: usize| at(i + 1).minus(at(i)).len().sqrt().max(1e-9);
    // Tangent (derivative w.r.t. the knot parameter) at point i.
    let tangent = |i: usize| {
        let (p0, p1, p2) = (at(i + n - 1), at(i), at(i + 1));
        let (d0, d1) = (dt(i + n - 1), dt(i));
        p1.minus(p0)
            .scale(1.0 / d0)
            .minus(p2.minus(p0).scale(1.0 / (d0 + d1)))
            .plus(p2.minus(p1).scale(1.0 / d1))
    };
    let tangents: Vec<Pt> = (0..n).map(tangent).collect();
    let segs = (0..n)
        .map(|i| {
            let d = dt(i);
            let (p1, p2) = (at(i), at(i + 1));
            Seg::Cubic(
                p1.plus(tangents[i].scale(d / 3.0)),
                p2.minus(tangents[(i + 1) % n].scale(d / 3.0)),
                p2,
            )
        })
        .collect();
    SubPath {
        start: pts[0],
        segs,
        closed: true,
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

    #[test]
    fn seed_wedge_has_distinct_points_on_two_rays_reaching_the_rim() {
        for n in 2..=32 {
            let wedge = 0.4;
            let pts = seed_points(n, wedge, &mut Stream::new(u64::from(n), 9));
            assert_eq!(pts.len(), 2 * n as usize);
            let on_axis = pts.iter().filter(|p| p.y.abs() < 1e-12).count();
            assert_eq!(on_axis, n as usize);
            for p in &pts {
                let a = p.y.atan2(p.x);
                assert!(p.y.abs() < 1e-12 || (a - wedge).abs() < 1e-9, "{p:?}");
            }
            let at_rim = pts.iter().filter(|p| (p.len() - 1.0).abs() < 1e-9).count();
            assert_eq!(at_rim, 2);
            let at_origin = pts.iter().filter(|p| p.len() < 1e-12).count();
            assert_eq!(at_origin, 1);
        }
    }

    #[test]
    fn shuffle_depends_on_the_stream_only() {
        let a = seed_points(8, 0.3, &mut Stream::new(5, 1));
        let b = seed_points(8, 0.3, &mut Stream::new(5, 1));
        let c = seed_points(8, 0.3, &mut Stream::new(6, 1));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn flattened_high_degree_bezier_stays_within_tolerance() {
        let ctrl = seed_points(12, 0.5, &mut Stream::new(3, 3));
        let mut out = vec![ctrl[0]];
        flatten_bezier(&ctrl, 1e-4, &mut out);
        assert_eq!(*out.last().unwrap(), ctrl[ctrl.len() - 1]);
        assert!(out.len() > 10 && out.len() < 5000, "{}", out.len());
        for i in 0..=200 {
            let p = bezier_at(&ctrl, f64::from(i) / 200.0);
            let nearest = out
                .windows(2)
                .map(|w| dist_to_segment(p, w[0], w[1]))
                .fold(f64::INFINITY, f64::min);
            assert!(nearest < 2e-4, "t={i} off by {nearest}");
        }
    }

    fn dist_to_segment(p: Pt, a: Pt, b: Pt) -> f64 {
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
    fn spline_passes_through_every_point() {
        let pts = seed_points(5, 0.6, &mut Stream::new(1, 1));
        let s = closed_spline(&pts);
        assert!(s.closed);
        assert_eq!(s.segs.len(), pts.len());
        let ends: Vec<Pt> = s.segs.iter().map(|g| g.end()).collect();
        for p in &pts {
            assert!(ends.contains(p));
        }
    }

    #[test]
    fn merged_spokes_cover_every_original_segment_once() {
        for (mirror, k, seed) in [(true, 6, 1), (false, 5, 2), (true, 12, 3), (false, 2, 4)] {
            let wedge = wedge_angle(k, mirror);
            let p = seed_points(9, wedge, &mut Stream::new(seed, 5));
            let mut pts = p.clone();
            if mirror {
                pts.extend(p.iter().map(|q| q.mirrored()));
            }
            let out = spoke_merged_strokes(&pts, true, wedge, mirror);
            let segs: Vec<(Pt, Pt)> = out
                .iter()
                .flat_map(|s| {
                    let mut from = s.start;
                    s.segs.iter().map(move |g| {
                        let seg = (from, g.end());
                        from = g.end();
                        seg
                    })
                })
                .collect();
            assert!(segs.len() < pts.len(), "{} >= {}", segs.len(), pts.len());
            // Rotations by whole steps, to find spokes that moved to a neighbour.
            let step = 2.0 * PI / f64::from(k);
            let covered = |a: Pt, b: Pt| {
                (-1..=1).any(|turn: i32| {
                    let (s, c) = (step * f64::from(turn)).sin_cos();
                    let (a, b) = (a.rotated(s, c), b.rotated(s, c));
                    segs.iter().any(|&(u, v)| {
                        // a and b both on segment u-v.
                        let on = |p: Pt| dist_to_segment(p, u, v) < 1e-9;
                        on(a) && on(b)
                    })
                })
            };
            for i in 0..pts.len() {
                let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                assert!(covered(a, b), "mirror={mirror} k={k}: {a:?}-{b:?} lost");
            }
        }
    }

    #[test]
    fn cubic_bbox_is_tight() {
        let c = circle(Pt::new(1.0, 2.0), 3.0);
        let mut b = BBox::default();
        c.extend_bbox(&mut b);
        assert!((b.min.x + 2.0).abs() < 1e-9 && (b.max.y - 5.0).abs() < 1e-9);
    }
}
