//! A frozen copy of `src/encode/vp8l` as of 2026-11-29 (tests left out),
//! kept so `encode_options` can time the encoder before the fast search
//! against today's in one run. Not used by the renderer.
//!
//! A lossless WebP (VP8L, RFC 9649) encoder shaped for mandalas.
//!
//! Why our own: libwebp's lossless encoder guesses one transform set per
//! image from an entropy estimate and, on mandalas, guesses the spatial
//! predictor. Its exhaustive mode (`cwebp -z 9`, seconds per image) shows
//! that the best choice here is the subtract-green transform alone with
//! LZ77 and the colour cache: flat colour repeats exactly, and predicting
//! it only blurs the repetition. This encoder does exactly that, quickly:
//! - subtract green (red and blue as differences to green);
//! - backward references ([`lz77`]) over the 2D distance codes;
//! - a 2048-entry colour cache;
//! - one group of five Huffman codes ([`huffman`]).
//!
//! Everything is integer arithmetic with fixed tie-breaking, so the same
//! pixels give the same bytes on every machine and in every build. The
//! numbers behind the design are in docs/BENCHMARKS.md, "Encoding".

mod bits;
mod huffman;
pub mod lz77;

use bits::BitWriter;
use lz77::Token;

/// Colour cache size in bits: VP8L's largest, 2048 entries. Measured on
/// the benchmark images, it beats every smaller size (1.8% smaller files
/// than 10 bits) and choosing per image gains nothing worth its time.
const CACHE_BITS: u32 = 11;
const NUM_LENGTH_CODES: usize = 24;
const NUM_DISTANCE_CODES: usize = 40;

/// The VP8L bitstream (the payload of a `VP8L` chunk) of `width` ×
/// `height` straight (not premultiplied) ARGB pixels, row after row; both
/// sides 1..=16384 (14 bits each in the header).
pub fn encode(argb: Vec<u32>, width: u32, height: u32) -> Vec<u8> {
    encode_with(argb, width, height, CACHE_BITS)
}

/// [`encode`] with a colour cache of `cache_bits` (0 for none, up to 11).
fn encode_with(mut px: Vec<u32>, width: u32, height: u32, cache_bits: u32) -> Vec<u8> {
    debug_assert_eq!(px.len(), width as usize * height as usize);
    debug_assert!((1..=16384).contains(&width) && (1..=16384).contains(&height));
    let alpha = px.iter().any(|p| p >> 24 != 255);
    for p in &mut px {
        // Subtract green: red and blue become differences to green.
        let [a, r, g, b] = p.to_be_bytes();
        *p = u32::from_be_bytes([a, r.wrapping_sub(g), g, b.wrapping_sub(g)]);
    }
    let tokens = lz77::tokens(&px, width as usize);
    let histograms = histograms(&px, &tokens, cache_bits);

    // Files run at about 1.2 bits per pixel; start near that.
    let mut w = BitWriter::with_capacity(px.len() / 6);
    w.put(0x2f, 8); // signature
    w.put(width - 1, 14);
    w.put(height - 1, 14);
    w.put(u32::from(alpha), 1);
    w.put(0, 3); // version
    w.put(1, 1); // a transform follows:
    w.put(2, 2); // subtract green
    w.put(0, 1); // no more transforms
    if cache_bits > 0 {
        w.put(1, 1);
        w.put(cache_bits, 4);
    } else {
        w.put(0, 1);
    }
    w.put(0, 1); // one prefix-code group for the whole image
    let codes: Vec<huffman::Code> = histograms
        .0
        .iter()
        .map(|h| huffman::write(&mut w, h))
        .collect();
    emit(&mut w, &px, &tokens, cache_bits, &codes);
    w.finish()
}

/// Symbol counts of the five codes: green + length prefixes + cache
/// indices, red, blue, alpha, distance prefixes.
struct Histograms([Vec<u32>; 5]);

/// VP8L's prefix coding of a length or distance code `v` ≥ 1:
/// (symbol, extra bit count, extra bits).
fn prefix(v: u32) -> (usize, u32, u32) {
    let d = v - 1;
    if d < 4 {
        return (d as usize, 0, 0);
    }
    let high = d.ilog2();
    let second = (d >> (high - 1)) & 1;
    let n = high - 1;
    ((2 * high + second) as usize, n, d & ((1 << n) - 1))
}

/// The colour cache: the decoder's, mirrored. Every pixel goes in, in order.
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

    fn index(&self, p: u32) -> usize {
        (p.wrapping_mul(0x1e35_a7bd) >> self.shift) as usize
    }
}

/// What the decoder reads next.
enum Step {
    /// A pixel, and its colour cache slot if the cache already holds it.
    Literal(u32, Option<usize>),
    /// A copy: length and distance code.
    Copy(u32, u32),
}

/// Walks the tokens as the decoder will, with the colour cache.
fn walk(px: &[u32], tokens: &[Token], cache_bits: u32, mut step: impl FnMut(Step)) {
    let mut cache = Cache::new(cache_bits);
    let mut at = 0usize;
    for &t in tokens {
        match t {
            Token::Literal(p) => {
                let hit = cache.as_mut().and_then(|c| {
                    let i = c.index(p);
                    let hit = (c.slots[i] == p).then_some(i);
                    c.slots[i] = p;
                    hit
                });
                step(Step::Literal(p, hit));
                at += 1;
            }
            Token::Copy { len, code } => {
                step(Step::Copy(u32::from(len), code));
                let end = at + usize::from(len);
                if let Some(c) = cache.as_mut() {
                    for &p in &px[at..end] {
                        let i = c.index(p);
                        c.slots[i] = p;
                    }
                }
                at = end;
            }
        }
    }
}

fn histograms(px: &[u32], tokens: &[Token], cache_bits: u32) -> Histograms {
    let cache_size = if cache_bits > 0 { 1 << cache_bits } else { 0 };
    let mut green = vec![0u32; 256 + NUM_LENGTH_CODES + cache_size];
    let mut red = vec![0u32; 256];
    let mut blue = vec![0u32; 256];
    let mut alpha = vec![0u32; 256];
    let mut dist = vec![0u32; NUM_DISTANCE_CODES];
    walk(px, tokens, cache_bits, |step| match step {
        Step::Literal(_, Some(i)) => green[256 + NUM_LENGTH_CODES + i] += 1,
        Step::Literal(p, None) => {
            let [a, r, g, b] = p.to_be_bytes();
            green[g as usize] += 1;
            red[r as usize] += 1;
            blue[b as usize] += 1;
            alpha[a as usize] += 1;
        }
        Step::Copy(len, code) => {
            green[256 + prefix(len).0] += 1;
            dist[prefix(code).0] += 1;
        }
    });
    Histograms([green, red, blue, alpha, dist])
}

fn emit(w: &mut BitWriter, px: &[u32], tokens: &[Token], cache_bits: u32, c: &[huffman::Code]) {
    let (green, red, blue, alpha, dist) = (&c[0], &c[1], &c[2], &c[3], &c[4]);
    walk(px, tokens, cache_bits, |step| match step {
        Step::Literal(_, Some(i)) => green.put(w, 256 + NUM_LENGTH_CODES + i),
        Step::Literal(p, None) => {
            let [a, r, g, b] = p.to_be_bytes();
            green.put(w, g as usize);
            red.put(w, r as usize);
            blue.put(w, b as usize);
            alpha.put(w, a as usize);
        }
        Step::Copy(len, code) => {
            let (s, n, extra) = prefix(len);
            green.put(w, 256 + s);
            w.put(extra, n);
            let (s, n, extra) = prefix(code);
            dist.put(w, s);
            w.put(extra, n);
        }
    });
}
