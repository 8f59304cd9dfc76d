//! The seed wedge: its points, its angle, and the strokes through them
//! with the spokes along its rays merged.

use std::f64::consts::PI;

use mandala_model::stream::Stream;

use super::{Pt, SubPath};

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
    let rays = WedgeRays { wedge, mirror };
    let (mut out, mut intervals) = split_off_spokes(points, closed, rays);
    if closed && out.len() == 1 && intervals.iter().all(Vec::is_empty) {
        // No spokes at all: keep the polygon closed (joins, not caps).
        out[0].closed = true;
        out[0].segs.pop();
    }
    for (ray, list) in intervals.iter_mut().enumerate() {
        let angle = if ray == 0 { 0.0 } else { wedge };
        for (lo, hi) in merge_intervals(list) {
            out.push(SubPath::polyline(
                &[Pt::polar(lo, angle), Pt::polar(hi, angle)],
                false,
            ));
        }
    }
    out
}

/// Below this a length is zero, and two radial intervals this close touch.
const SPOKE_EPS: f64 = 1e-9;

/// The rays of a seed wedge, for telling which one a segment runs along.
#[derive(Clone, Copy)]
struct WedgeRays {
    wedge: f64,
    mirror: bool,
}

impl WedgeRays {
    /// [`WedgeRays::ray_of`]'s answer for a point on none of the rays.
    const OFF: u8 = u8::MAX;

    /// Which ray a point lies on: 0 the axis, 1 the upper edge, 2 the
    /// lower (mirrored) edge, [`WedgeRays::OFF`] none; `None` is the
    /// centre, on every ray.
    #[inline]
    fn ray_of(self, p: Pt) -> Option<u8> {
        if p.len() < SPOKE_EPS {
            return None;
        }
        let a = p.y.atan2(p.x);
        Some(if a.abs() < 1e-7 {
            0
        } else if (a - self.wedge).abs() < 1e-7 {
            1
        } else if self.mirror && (a + self.wedge).abs() < 1e-7 {
            2
        } else {
            Self::OFF
        })
    }

    /// The canonical ray the segment `a`–`b` runs along, if any: 0 the
    /// axis, 1 the wedge edge. A mirrored copy's lower edge (-wedge) is
    /// its neighbour's upper edge; an unmirrored copy's upper edge is its
    /// neighbour's axis: both fold onto one canonical ray.
    #[inline]
    fn along(self, a: Pt, b: Pt) -> Option<usize> {
        let ray = match (self.ray_of(a), self.ray_of(b)) {
            (Some(x), Some(y)) if x == y => x,
            (Some(x), None) | (None, Some(x)) => x,
            _ => return None,
        };
        match ray {
            Self::OFF => None,
            0 => Some(0),
            // The upper edge is the neighbour's axis when not mirrored.
            1 if !self.mirror => Some(0),
            // A mirrored copy's lower edge is its neighbour's upper edge.
            _ => Some(1),
        }
    }
}

/// Walks the polyline: runs of segments off the rays become open
/// sub-paths; the segments along each canonical ray become radial
/// intervals `(inner, outer)`, to be merged.
fn split_off_spokes(
    points: &[Pt],
    closed: bool,
    rays: WedgeRays,
) -> (Vec<SubPath>, [Vec<(f64, f64)>; 2]) {
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
        if let Some(ray) = rays.along(a, b) {
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
    (out, intervals)
}

/// Radial intervals sorted by their inner end and merged where they
/// overlap or touch: each spoke drawn once.
fn merge_intervals(list: &mut [(f64, f64)]) -> Vec<(f64, f64)> {
    list.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for &(lo, hi) in list.iter() {
        match merged.last_mut() {
            Some(last) if lo <= last.1 + SPOKE_EPS => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::super::tests::dist_to_segment;
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
}
