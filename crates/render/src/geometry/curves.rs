//! Curves: Bézier flattening and evaluation, and the closed Catmull-Rom
//! spline.

use super::{Pt, Seg, SubPath};

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

#[cfg(test)]
mod tests {
    use mandala_model::stream::Stream;

    use super::super::seed_points;
    use super::super::tests::dist_to_segment;
    use super::*;

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
}
