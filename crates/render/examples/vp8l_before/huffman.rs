//! Prefix codes: length-limited Huffman codes from symbol counts, and
//! their VP8L serialisation (RFC 9649, section 3.7.2).
//!
//! Codes are canonical and complete (every tree is a real Huffman tree,
//! so the Kraft sum is exactly one, which decoders check). A code with at
//! most one used symbol below 256 is written as a "simple" code and costs
//! no bits per symbol; every other code is written "normally", its code
//! lengths themselves run-length coded with the 19-symbol code-length code.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::bits::BitWriter;

/// Longest code of the five main codes, and of the code-length code.
const MAX_LENGTH: u8 = 15;
const MAX_CODE_LENGTH_LENGTH: u8 = 7;

/// The order in which the code-length code's lengths are written.
const CODE_LENGTH_ORDER: [usize; 19] = [
    17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];

/// A prefix code ready to write symbols with.
#[derive(Debug, Clone)]
pub struct Code {
    pub lengths: Vec<u8>,
    /// Bit-reversed canonical codes, ready for an LSB-first writer.
    codes: Vec<u16>,
}

impl Code {
    pub fn put(&self, w: &mut BitWriter, symbol: usize) {
        w.put(
            u32::from(self.codes[symbol]),
            u32::from(self.lengths[symbol]),
        );
    }
}

/// Code lengths of a Huffman code for `counts`, none longer than `limit`.
/// Unused symbols get length 0; at least two symbols must be used.
/// Too-deep trees are flattened the usual way: raise the smallest counts
/// and build again (libwebp and zlib's `deflate` do the same).
pub fn lengths(counts: &[u32], limit: u8) -> Vec<u8> {
    let mut floor = 1u32;
    loop {
        let clamped: Vec<u32> = counts
            .iter()
            .map(|&c| if c == 0 { 0 } else { c.max(floor) })
            .collect();
        let depths = tree_depths(&clamped);
        if depths.iter().all(|&d| d <= limit) {
            return depths;
        }
        floor = floor.saturating_mul(2);
    }
}

/// Depths of the leaves of a Huffman tree over the non-zero counts. Ties
/// are broken by node index, so the tree is the same on every machine.
fn tree_depths(counts: &[u32]) -> Vec<u8> {
    let mut parent: Vec<usize> = Vec::with_capacity(counts.len() * 2);
    let mut heap = BinaryHeap::new();
    for (symbol, &c) in counts.iter().enumerate() {
        parent.push(usize::MAX);
        if c > 0 {
            heap.push(Reverse((u64::from(c), symbol)));
        }
    }
    while heap.len() > 1 {
        let (Some(Reverse((wa, a))), Some(Reverse((wb, b)))) = (heap.pop(), heap.pop()) else {
            break;
        };
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((wa + wb, node)));
    }
    // Depth of a node = depth of its parent + 1; parents come later.
    let mut depth = vec![0u8; parent.len()];
    for node in (0..parent.len()).rev() {
        if parent[node] != usize::MAX {
            depth[node] = depth[parent[node]].saturating_add(1);
        }
    }
    (0..counts.len())
        .map(|s| if counts[s] == 0 { 0 } else { depth[s] })
        .collect()
}

/// Canonical codes for `lengths` (DEFLATE's assignment), bit-reversed.
fn canonical(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lengths {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            c.reverse_bits() >> (16 - l)
        })
        .collect()
}

/// Builds the code for `counts` and writes its description to `w`.
pub fn write(w: &mut BitWriter, counts: &[u32]) -> Code {
    let used: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
    if used.len() <= 1 && used.first().is_none_or(|&s| s < 256) {
        // Simple code, one symbol: zero bits per symbol.
        let symbol = used.first().copied().unwrap_or(0);
        w.put(1, 1); // simple
        w.put(0, 1); // one symbol
        if symbol < 2 {
            w.put(0, 1);
            w.put(symbol as u32, 1);
        } else {
            w.put(1, 1);
            w.put(symbol as u32, 8);
        }
        return Code {
            lengths: vec![0; counts.len()],
            codes: vec![0; counts.len()],
        };
    }
    let mut counts = counts.to_vec();
    if used.len() == 1 {
        // A lone symbol above 255 cannot be simple: pair it with a dummy.
        counts[0] = 1;
    }
    let lengths = lengths(&counts, MAX_LENGTH);
    w.put(0, 1); // normal
    write_lengths(w, &lengths);
    Code {
        codes: canonical(&lengths),
        lengths,
    }
}

/// Run-length codes code lengths: 0–15 literally, 16 repeats the previous
/// (non-zero) length 3–6 times, 17 and 18 write 3–10 and 11–138 zeros.
/// Returns (symbol, extra bits value) pairs.
fn run_length(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lengths.len() {
        let value = lengths[i];
        let mut run = 1;
        while i + run < lengths.len() && lengths[i + run] == value {
            run += 1;
        }
        i += run;
        if value == 0 {
            let mut left = run;
            while left >= 11 {
                let n = left.min(138);
                out.push((18, (n - 11) as u8));
                left -= n;
            }
            if left >= 3 {
                out.push((17, (left - 3) as u8));
                left = 0;
            }
            out.extend(std::iter::repeat_n((0, 0), left));
        } else {
            // The first one literally, so 16 repeats exactly this value.
            out.push((value, 0));
            let mut left = run - 1;
            while left >= 3 {
                let n = left.min(6);
                out.push((16, (n - 3) as u8));
                left -= n;
            }
            out.extend(std::iter::repeat_n((value, 0), left));
        }
    }
    out
}

fn write_lengths(w: &mut BitWriter, lengths: &[u8]) {
    let runs = run_length(lengths);
    let mut counts = [0u32; 19];
    for &(s, _) in &runs {
        counts[s as usize] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        // Keep the code-length code a real (two-leaf) tree.
        let spare = if counts[0] == 0 { 0 } else { 8 };
        counts[spare] += 1;
    }
    let cl_lengths = lengths_capped(&counts);
    let cl_codes = canonical(&cl_lengths);
    let mut n = 19;
    while n > 4 && cl_lengths[CODE_LENGTH_ORDER[n - 1]] == 0 {
        n -= 1;
    }
    w.put((n - 4) as u32, 4);
    for &s in &CODE_LENGTH_ORDER[..n] {
        w.put(u32::from(cl_lengths[s]), 3);
    }
    w.put(0, 1); // no max_symbol: every length is written
    for (s, extra) in runs {
        let s = s as usize;
        w.put(u32::from(cl_codes[s]), u32::from(cl_lengths[s]));
        match s {
            16 => w.put(u32::from(extra), 2),
            17 => w.put(u32::from(extra), 3),
            18 => w.put(u32::from(extra), 7),
            _ => {}
        }
    }
}

fn lengths_capped(counts: &[u32; 19]) -> Vec<u8> {
    lengths(counts, MAX_CODE_LENGTH_LENGTH)
}
