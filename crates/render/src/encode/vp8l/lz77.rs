//! Backward references: the pixels as literals, colour cache hits and
//! copies of earlier runs.
//!
//! A mandala is flat colour, anti-aliased edges and the same shapes again
//! and again, so most pixels repeat the one to their left or above, or a
//! run seen elsewhere (a mirrored mandala repeats its top half upside
//! down, row for row). The search is shaped by that, and by what a
//! pixel costs to look at:
//! - cheap candidates first, each a known distance: the pixel to the left
//!   (a run), the row above and its two diagonals, the distance of the
//!   previous copy, and the distance of the copy that covered the pixel
//!   above — as it was (a shape repeated lower down) and two rows farther
//!   (the same shape mirrored, whose source moves up as we move down);
//! - only when those give less than [`GOOD`] pixels, hash chains of at
//!   most [`MAX_CHAIN`] earlier positions whose next three pixels hash
//!   alike (a copy from afar is worth it only from three pixels on);
//! - positions enter the chains (and the colour cache) only where the
//!   colour changes: inside a run every position looks like the one before,
//!   a chain full of them finds nothing the run does not, and the cache
//!   already holds the colour. A copy that would start inside a run is
//!   found as the run plus a copy from where the colour changes.
//!
//! The longest copy wins, ties going to the nearer (cheaper) distance code;
//! one step of lazy matching skips a copy when the next position starts a
//! clearly longer one. The colour cache is tracked here too, so a literal
//! already knows whether it is a cache hit. Every choice depends only on
//! the pixels, never on timing or threads.

/// A decision for the entropy coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One pixel, sent as itself.
    Literal(u32),
    /// One pixel the colour cache holds: its slot.
    Cached(u16),
    /// `len` pixels copied from `code`'s distance (a VP8L distance code:
    /// 1–120 for the 2D neighbourhood, the linear distance + 120 beyond).
    /// `len` ≤ 4095 fits 16 bits, which keeps a token at 8 bytes: a 4096²
    /// image can have millions.
    Copy { len: u16, code: u32 },
}

/// Chain heads: 64K, a quarter of a megabyte, since only colour changes
/// are linked.
const HASH_BITS: u32 = 16;
/// Earlier positions tried per search: more finds longer copies, slower.
pub const MAX_CHAIN: usize = 8;
/// A copy this long from a cheap candidate ends the search.
pub const GOOD: usize = 32;
/// Longest copy VP8L can express (24 length prefixes).
const MAX_LEN: usize = 4095;
/// Farthest copy: 40 distance prefixes reach 2^20, less the 120 plane codes.
const WINDOW: usize = (1 << 20) - 121;
/// Chain links kept: only colour changes are linked, far fewer than
/// pixels; older links are forgotten (the chain simply ends there).
const LINKS: usize = 1 << 18;

/// The 2D neighbourhood of VP8L's distance codes 1..=120, as (dx, dy):
/// the source pixel is dx to the left and dy rows up (RFC 9649, 4.2.2).
const PLANE: [(i8, i8); 120] = [
    (0, 1),
    (1, 0),
    (1, 1),
    (-1, 1),
    (0, 2),
    (2, 0),
    (1, 2),
    (-1, 2),
    (2, 1),
    (-2, 1),
    (2, 2),
    (-2, 2),
    (0, 3),
    (3, 0),
    (1, 3),
    (-1, 3),
    (3, 1),
    (-3, 1),
    (2, 3),
    (-2, 3),
    (3, 2),
    (-3, 2),
    (0, 4),
    (4, 0),
    (1, 4),
    (-1, 4),
    (4, 1),
    (-4, 1),
    (3, 3),
    (-3, 3),
    (2, 4),
    (-2, 4),
    (4, 2),
    (-4, 2),
    (0, 5),
    (3, 4),
    (-3, 4),
    (4, 3),
    (-4, 3),
    (5, 0),
    (1, 5),
    (-1, 5),
    (5, 1),
    (-5, 1),
    (2, 5),
    (-2, 5),
    (5, 2),
    (-5, 2),
    (4, 4),
    (-4, 4),
    (3, 5),
    (-3, 5),
    (5, 3),
    (-5, 3),
    (0, 6),
    (6, 0),
    (1, 6),
    (-1, 6),
    (6, 1),
    (-6, 1),
    (2, 6),
    (-2, 6),
    (6, 2),
    (-6, 2),
    (4, 5),
    (-4, 5),
    (5, 4),
    (-5, 4),
    (3, 6),
    (-3, 6),
    (6, 3),
    (-6, 3),
    (0, 7),
    (7, 0),
    (1, 7),
    (-1, 7),
    (5, 5),
    (-5, 5),
    (7, 1),
    (-7, 1),
    (4, 6),
    (-4, 6),
    (6, 4),
    (-6, 4),
    (2, 7),
    (-2, 7),
    (7, 2),
    (-7, 2),
    (3, 7),
    (-3, 7),
    (7, 3),
    (-7, 3),
    (5, 6),
    (-5, 6),
    (6, 5),
    (-6, 5),
    (8, 0),
    (4, 7),
    (-4, 7),
    (7, 4),
    (-7, 4),
    (8, 1),
    (8, 2),
    (6, 6),
    (-6, 6),
    (8, 3),
    (5, 7),
    (-5, 7),
    (7, 5),
    (-7, 5),
    (8, 4),
    (6, 7),
    (-6, 7),
    (7, 6),
    (-7, 6),
    (8, 5),
    (7, 7),
    (-7, 7),
    (8, 6),
    (8, 7),
];

/// Distance code of each linear distance a plane code can express.
struct PlaneCodes(Vec<u8>);

impl PlaneCodes {
    fn new(width: usize) -> Self {
        let mut table = vec![0u8; 8 * width + 9];
        for (i, &(dx, dy)) in PLANE.iter().enumerate().rev() {
            // The decoder computes dx + dy * width; we look up by it.
            let d = i64::from(dx) + i64::from(dy) * width as i64;
            if d >= 1 {
                table[d as usize] = (i + 1) as u8; // lowest code wins (rev)
            }
        }
        PlaneCodes(table)
    }

    fn code(&self, distance: usize) -> u32 {
        match self.0.get(distance) {
            Some(&c) if c > 0 => u32::from(c),
            _ => distance as u32 + 120,
        }
    }
}

/// The colour cache: the decoder's, mirrored. Every pixel goes in, in
/// order (a pixel equal to the one before it changes nothing, so those
/// are skipped).
struct Cache {
    slots: Vec<u32>,
    shift: u32,
}

impl Cache {
    fn new(bits: u32) -> Option<Self> {
        (bits > 0).then(|| Cache {
            slots: vec![0; 1 << bits],
            shift: 32 - bits,
        })
    }

    /// The slot of `p` (VP8L's hash).
    fn index(&self, p: u32) -> usize {
        (p.wrapping_mul(0x1e35_a7bd) >> self.shift) as usize
    }
}

/// Hash chains over the positions where the colour changes. `head` maps a
/// pixel pair's hash to its newest link; a link holds its position and
/// the number of the link before it with the same hash (numbers are
/// 1-based, 0 ends a chain), in a ring of [`LINKS`].
struct Chains {
    head: Vec<u32>,
    pos: Vec<u32>,
    next: Vec<u32>,
    count: u32,
}

impl Chains {
    fn new(n: usize) -> Self {
        let links = LINKS.min(n.next_power_of_two());
        Chains {
            head: vec![0; 1 << HASH_BITS],
            pos: vec![0; links],
            next: vec![0; links],
            count: 0,
        }
    }

    fn hash(a: u32, b: u32, c: u32) -> usize {
        let key = (u64::from(a) << 32) | u64::from(b);
        let key = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(c);
        (key.wrapping_mul(0xff51_afd7_ed55_8ccd) >> (64 - HASH_BITS)) as usize
    }

    /// Links position `i` under hash `h`. Link numbers do not wrap: an
    /// image has at most 2^28 pixels (16384²).
    fn insert(&mut self, h: usize, i: usize) {
        self.count += 1;
        let slot = self.count as usize & (self.pos.len() - 1);
        self.pos[slot] = i as u32;
        self.next[slot] = self.head[h];
        self.head[h] = self.count;
    }

    /// Position of link `link`, if it is still in the ring.
    fn at(&self, link: u32) -> Option<(usize, u32)> {
        let live = link != 0 && self.count.wrapping_sub(link) < self.pos.len() as u32;
        live.then(|| {
            let slot = link as usize & (self.pos.len() - 1);
            (self.pos[slot] as usize, self.next[slot])
        })
    }
}

/// Length of the common run of `px[at..]` and `px[from..]`, at most `max`
/// (`from` < `at`, `at + max` ≤ the length). Eight pixels at a time while
/// they agree: copies are long, so this is most of the comparing.
#[inline]
fn common(px: &[u32], at: usize, from: usize, max: usize) -> usize {
    let (a, b) = (&px[at..at + max], &px[from..from + max]);
    let mut k = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x.iter().zip(y).fold(0, |acc, (p, q)| acc | (p ^ q)) != 0 {
            break;
        }
        k += 8;
    }
    k + a[k..]
        .iter()
        .zip(&b[k..])
        .take_while(|(p, q)| p == q)
        .count()
}

/// Is a copy of `len` from distance code `code` worth more than literals?
/// Near codes are a few bits; far ones carry up to 18 extra bits.
fn worth(len: usize, code: u32) -> bool {
    len >= if code <= 120 { 2 } else { 3 }
}

/// The search's state: the pixels, the chains, and the distances the
/// copies before used.
struct Search<'a> {
    px: &'a [u32],
    width: usize,
    plane: PlaneCodes,
    chains: Chains,
    /// The distance of the copy that covered each pixel of the last
    /// `width` (indexed by position mod `width`; 0 for a literal).
    above: Vec<u32>,
    /// The distance of the last copy.
    last: usize,
}

impl Search<'_> {
    /// Best (len, code) starting at `i`.
    fn best(&self, i: usize) -> (usize, u32) {
        let (px, width) = (self.px, self.width);
        let n = px.len();
        let max = MAX_LEN.min(n - i);
        let mut best = (0usize, u32::MAX);
        let consider = |d: usize, best: &mut (usize, u32)| {
            if d == 0 || d > i || d > WINDOW {
                return;
            }
            let from = i - d;
            // Cheap rejection: it must at least match where the best ends.
            let probe = best.0.min(max - 1);
            if px[from + probe] != px[i + probe] {
                return;
            }
            let len = common(px, i, from, max);
            if len >= best.0 {
                let code = self.plane.code(d);
                if len > best.0 || code < best.1 {
                    *best = (len, code);
                }
            }
        };
        for d in [1, width, width + 1, width - 1, self.last] {
            consider(d, &mut best);
        }
        // Far sources, each a likely cache miss: only when the pixel above
        // was copied, and each distance once.
        let d_above = self.above[i % width] as usize;
        if d_above != 0 {
            if d_above != self.last {
                consider(d_above, &mut best);
            }
            consider(d_above + 2 * width, &mut best);
        }
        if best.0 >= GOOD.min(max) || i + 2 >= n {
            return best;
        }
        let mut link = self.chains.head[Chains::hash(px[i], px[i + 1], px[i + 2])];
        for _ in 0..MAX_CHAIN {
            let Some((from, next)) = self.chains.at(link) else {
                break;
            };
            if i - from > WINDOW {
                break;
            }
            consider(i - from, &mut best);
            if best.0 == max {
                break;
            }
            link = next;
        }
        best
    }

    /// Records `len` pixels from `i` as copied from `d` (0: a literal).
    fn covered(&mut self, i: usize, len: usize, d: usize) {
        let w = self.width;
        let mut at = i;
        while at < i + len {
            let x = at % w;
            let run = (w - x).min(i + len - at);
            self.above[x..x + run].fill(d as u32);
            at += run;
        }
    }
}

/// The pixels (`width` per row) as literals, colour cache hits (with a
/// cache of `cache_bits`, 0 for none) and copies.
pub fn tokens(px: &[u32], width: usize, cache_bits: u32) -> Vec<Token> {
    let n = px.len();
    let mut s = Search {
        px,
        width,
        plane: PlaneCodes::new(width),
        chains: Chains::new(n),
        above: vec![0; width],
        last: 0,
    };
    let mut cache = Cache::new(cache_bits);
    let mut out = Vec::with_capacity(n / 16);
    // Positions below `seen` are in the chains and the cache.
    let mut seen = 0usize;
    let mut see = |s: &mut Search, cache: &mut Option<Cache>, upto: usize| {
        for k in seen..upto {
            if k > 0 && px[k] == px[k - 1] {
                continue;
            }
            if let Some(c) = cache.as_mut() {
                let slot = c.index(px[k]);
                c.slots[slot] = px[k];
            }
            if k + 2 < n {
                s.chains
                    .insert(Chains::hash(px[k], px[k + 1], px[k + 2]), k);
            }
        }
        seen = seen.max(upto);
    };

    let mut i = 0;
    let mut pending: Option<(usize, u32)> = None;
    while i < n {
        let (len, code) = pending.take().unwrap_or_else(|| s.best(i));
        let literal = |cache: &Option<Cache>| match cache {
            Some(c) if c.slots[c.index(px[i])] == px[i] => Token::Cached(c.index(px[i]) as u16),
            _ => Token::Literal(px[i]),
        };
        if !worth(len, code) {
            out.push(literal(&cache));
            see(&mut s, &mut cache, i + 1);
            s.covered(i, 1, 0);
            i += 1;
            continue;
        }
        // Lazy step: a clearly longer copy one pixel on beats this one.
        if i + 1 < n && len < GOOD {
            let token = literal(&cache);
            see(&mut s, &mut cache, i + 1);
            let next = s.best(i + 1);
            if next.0 > len + 1 && worth(next.0, next.1) {
                out.push(token);
                s.covered(i, 1, 0);
                pending = Some(next);
                i += 1;
                continue;
            }
        }
        let d = distance(code, width);
        out.push(Token::Copy {
            len: len as u16,
            code,
        });
        see(&mut s, &mut cache, i + len);
        s.covered(i, len, d);
        s.last = d;
        i += len;
    }
    out
}

/// The linear distance of distance code `code` (as the decoder computes it).
fn distance(code: u32, width: usize) -> usize {
    if code > 120 {
        return code as usize - 120;
    }
    let (dx, dy) = PLANE[code as usize - 1];
    let d = i64::from(dx) + i64::from(dy) * width as i64;
    d.max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_codes_map_the_neighbourhood() {
        let p = PlaneCodes::new(100);
        assert_eq!(p.code(100), 1, "straight above");
        assert_eq!(p.code(1), 2, "left");
        assert_eq!(p.code(101), 3, "above left");
        assert_eq!(p.code(99), 4, "above right");
        assert_eq!(p.code(5000), 5120, "far away");
    }

    #[test]
    fn runs_and_rows_become_copies() {
        let row: Vec<u32> = (0..50).map(|x| x / 10).collect();
        let px: Vec<u32> = row.iter().chain(&row).copied().collect();
        let t = tokens(&px, 50, 0);
        let pixels: u32 = t
            .iter()
            .map(|t| match t {
                Token::Literal(_) | Token::Cached(_) => 1,
                Token::Copy { len, .. } => u32::from(*len),
            })
            .sum();
        assert_eq!(pixels, 100);
        assert!(t.contains(&Token::Copy { len: 50, code: 1 }), "{t:?}");
        assert_eq!(std::mem::size_of::<Token>(), 8);
    }
}
