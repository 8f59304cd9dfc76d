//! Backward references: the pixels as literals and copies of earlier runs.
//!
//! A mandala is flat colour, anti-aliased edges and the same shapes again
//! and again, so most pixels repeat the one to their left or above, or a
//! run seen elsewhere. Candidates at each position: the pixel to the left
//! (a run), the row above, then up to [`MAX_CHAIN`] earlier positions whose
//! next two pixels hash alike. The longest copy wins, ties going to the
//! nearer (cheaper) distance code; one step of lazy matching skips a copy
//! when the next position starts a clearly longer one.

/// A decision for the entropy coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One pixel (the entropy coder may send it through the colour cache).
    Literal(u32),
    /// `len` pixels copied from `code`'s distance (a VP8L distance code:
    /// 1–120 for the 2D neighbourhood, the linear distance + 120 beyond).
    /// `len` ≤ 4095 fits 16 bits, which keeps a token at 8 bytes: a 4096²
    /// image can have millions.
    Copy { len: u16, code: u32 },
}

const HASH_BITS: u32 = 18;
/// Earlier positions tried per search: more finds longer copies, slower.
pub const MAX_CHAIN: usize = 24;
/// Longest copy VP8L can express (24 length prefixes).
const MAX_LEN: usize = 4095;
/// Farthest copy: 40 distance prefixes reach 2^20, less the 120 plane codes.
const WINDOW: usize = (1 << 20) - 121;
const RING: usize = 1 << 20;

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

fn hash(a: u32, b: u32) -> usize {
    let key = (u64::from(a) << 32) | u64::from(b);
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - HASH_BITS)) as usize
}

fn common(px: &[u32], at: usize, from: usize, max: usize) -> usize {
    px[at..at + max]
        .iter()
        .zip(&px[from..])
        .take_while(|(a, b)| a == b)
        .count()
}

/// Is a copy of `len` from distance code `code` worth more than literals?
/// Near codes are a few bits; far ones carry up to 18 extra bits.
fn worth(len: usize, code: u32) -> bool {
    len >= if code <= 120 { 2 } else { 3 }
}

/// The pixels (`width` per row) as literals and copies.
pub fn tokens(px: &[u32], width: usize) -> Vec<Token> {
    let n = px.len();
    let plane = PlaneCodes::new(width);
    let mut head = vec![u32::MAX; 1 << HASH_BITS];
    // Chains only reach back WINDOW pixels, so a ring of 2^20 links will
    // do: a slot is reused only after its position fell out of reach.
    let mut prev = vec![u32::MAX; RING.min(n.next_power_of_two())];
    let mut out = Vec::with_capacity(n / 8);

    let mut i = 0;
    let mut pending: Option<(usize, u32)> = None;
    while i < n {
        let (len, code) = pending
            .take()
            .unwrap_or_else(|| best_copy(px, width, &plane, &head, &prev, i));
        if !worth(len, code) {
            out.push(Token::Literal(px[i]));
            insert(px, &mut head, &mut prev, i);
            i += 1;
            continue;
        }
        insert(px, &mut head, &mut prev, i);
        // Lazy step: a clearly longer copy one pixel on beats this one.
        if i + 1 < n && len < 64 {
            let next = best_copy(px, width, &plane, &head, &prev, i + 1);
            if next.0 > len + 1 && worth(next.0, next.1) {
                out.push(Token::Literal(px[i]));
                pending = Some(next);
                i += 1;
                continue;
            }
        }
        out.push(Token::Copy {
            len: len as u16,
            code,
        });
        for k in i + 1..i + len {
            insert(px, &mut head, &mut prev, k);
        }
        i += len;
    }
    out
}

/// Links position `i` into the hash chains (`head` by the hash of the
/// pixel pair at `i`, `prev` a ring of earlier positions).
#[inline]
fn insert(px: &[u32], head: &mut [u32], prev: &mut [u32], i: usize) {
    if i + 1 < px.len() {
        let h = hash(px[i], px[i + 1]);
        prev[i & (prev.len() - 1)] = head[h];
        head[h] = i as u32;
    }
}

/// Best (len, code) starting at `i`, before `i` is inserted: the pixel to
/// the left and the one above first (their codes are the cheapest), then
/// the hash chain, at most [`MAX_CHAIN`] links and [`WINDOW`] pixels back.
#[inline]
fn best_copy(
    px: &[u32],
    width: usize,
    plane: &PlaneCodes,
    head: &[u32],
    prev: &[u32],
    i: usize,
) -> (usize, u32) {
    let n = px.len();
    let ring = prev.len() - 1;
    let max = MAX_LEN.min(n - i);
    let mut best = (0usize, u32::MAX);
    let consider = |from: usize, best: &mut (usize, u32)| {
        let len = common(px, i, from, max);
        let code = plane.code(i - from);
        if len > best.0 || (len == best.0 && code < best.1) {
            *best = (len, code);
        }
    };
    if i >= 1 {
        consider(i - 1, &mut best);
    }
    if i >= width {
        consider(i - width, &mut best);
    }
    if i + 1 < n && best.0 < max {
        let mut j = head[hash(px[i], px[i + 1])];
        let mut tries = 0;
        while j != u32::MAX && tries < MAX_CHAIN {
            let from = j as usize;
            if i - from > WINDOW {
                break;
            }
            if px[from + best.0.min(max - 1)] == px[i + best.0.min(max - 1)] {
                consider(from, &mut best);
                if best.0 == max {
                    break;
                }
            }
            j = prev[from & ring];
            tries += 1;
        }
    }
    best
}
