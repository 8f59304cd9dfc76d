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
    // Subtract green (red and blue become differences to green) and note
    // whether any pixel is less than opaque, in one pass of word
    // arithmetic the compiler vectorises.
    let mut all_alpha = 0xff00_0000u32;
    for p in &mut px {
        all_alpha &= *p;
        let g = (*p >> 8) & 0xff;
        let r = ((*p >> 16).wrapping_sub(g)) & 0xff;
        let b = p.wrapping_sub(g) & 0xff;
        *p = (*p & 0xff00_ff00) | (r << 16) | b;
    }
    let alpha = all_alpha != 0xff00_0000;
    let tokens = lz77::tokens(&px, width as usize, cache_bits);
    let histograms = histograms(&tokens, cache_bits);

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
    emit(&mut w, &tokens, &codes);
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

fn histograms(tokens: &[Token], cache_bits: u32) -> Histograms {
    let cache_size = if cache_bits > 0 { 1 << cache_bits } else { 0 };
    let mut green = vec![0u32; 256 + NUM_LENGTH_CODES + cache_size];
    let mut red = vec![0u32; 256];
    let mut blue = vec![0u32; 256];
    let mut alpha = vec![0u32; 256];
    let mut dist = vec![0u32; NUM_DISTANCE_CODES];
    for &t in tokens {
        match t {
            Token::Cached(i) => green[256 + NUM_LENGTH_CODES + usize::from(i)] += 1,
            Token::Literal(p) => {
                let [a, r, g, b] = p.to_be_bytes();
                green[g as usize] += 1;
                red[r as usize] += 1;
                blue[b as usize] += 1;
                alpha[a as usize] += 1;
            }
            Token::Copy { len, code } => {
                green[256 + prefix(u32::from(len)).0] += 1;
                dist[prefix(code).0] += 1;
            }
        }
    }
    Histograms([green, red, blue, alpha, dist])
}

fn emit(w: &mut BitWriter, tokens: &[Token], c: &[huffman::Code]) {
    let (green, red, blue, alpha, dist) = (&c[0], &c[1], &c[2], &c[3], &c[4]);
    for &t in tokens {
        match t {
            Token::Cached(i) => green.put(w, 256 + NUM_LENGTH_CODES + usize::from(i)),
            Token::Literal(p) => {
                let [a, r, g, b] = p.to_be_bytes();
                green.put(w, g as usize);
                red.put(w, r as usize);
                blue.put(w, b as usize);
                alpha.put(w, a as usize);
            }
            Token::Copy { len, code } => {
                let (s, n, extra) = prefix(u32::from(len));
                green.put(w, 256 + s);
                w.put(extra, n);
                let (s, n, extra) = prefix(code);
                dist.put(w, s);
                w.put(extra, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandala_model::stream::Stream;

    /// The simple file format around a VP8L bitstream.
    fn file(vp8l: &[u8]) -> Vec<u8> {
        let padded = vp8l.len() + vp8l.len() % 2;
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&((4 + 8 + padded) as u32).to_le_bytes());
        out.extend_from_slice(b"WEBPVP8L");
        out.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
        out.extend_from_slice(vp8l);
        out.resize(8 + 4 + 8 + padded, 0);
        out
    }

    /// Encodes and decodes with libwebp (the reference decoder, what
    /// browsers and Discord use) and image-webp; both must give back
    /// exactly the input.
    fn round_trip(data: &[u8], channels: usize, w: u32, h: u32, cache: u32) {
        let argb = data
            .chunks_exact(channels)
            .map(|p| u32::from_be_bytes([if channels == 4 { p[3] } else { 255 }, p[0], p[1], p[2]]))
            .collect();
        let webp = file(&encode_with(argb, w, h, cache));
        let with_alpha = channels == 4 && data.chunks(4).any(|p| p[3] != 255);
        let want: Vec<u8> = if channels == 4 && !with_alpha {
            data.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
        } else {
            data.to_vec()
        };
        let reference = webp::Decoder::new(&webp)
            .decode()
            .unwrap_or_else(|| panic!("libwebp refused a {w}x{h} image (cache {cache})"));
        assert_eq!(reference.is_alpha(), with_alpha);
        assert!(reference[..] == want[..], "libwebp: {w}x{h} cache {cache}");
        let rust = image::load_from_memory_with_format(&webp, image::ImageFormat::WebP)
            .unwrap_or_else(|e| panic!("image-webp: {w}x{h}: {e}"));
        let rust = if with_alpha {
            rust.to_rgba8().into_raw()
        } else {
            rust.to_rgb8().into_raw()
        };
        assert!(rust == want, "image-webp: {w}x{h} cache {cache}");
    }

    /// Images of every kind the encoder treats differently: noise (all
    /// literals), few colours in runs (copies and the cache), repeated
    /// tiles (far copies), gradients, transparency, and runs mirrored
    /// top to bottom (copies whose source moves up as they move down).
    fn image(kind: u64, w: usize, h: usize, channels: usize, s: &mut Stream) -> Vec<u8> {
        if kind == 5 {
            let mut out = image(1, w, h, channels, s);
            let row = w * channels;
            for y in h.div_ceil(2)..h {
                let (top, bottom) = out.split_at_mut(y * row);
                let src = (h - 1 - y) * row;
                bottom[..row].copy_from_slice(&top[src..src + row]);
            }
            return out;
        }
        let palette: Vec<[u8; 4]> = (0..5)
            .map(|_| {
                let v = s.next_u64().to_le_bytes();
                [v[0], v[1], v[2], if channels == 4 { v[3] } else { 255 }]
            })
            .collect();
        let mut out = Vec::with_capacity(w * h * channels);
        let mut run = palette[0];
        for y in 0..h {
            for x in 0..w {
                let px: [u8; 4] = match kind {
                    0 => {
                        let v = s.next_u64().to_le_bytes();
                        [v[0], v[1], v[2], v[3]]
                    }
                    1 => {
                        if s.below(7) == 0 {
                            run = palette[s.below(5) as usize];
                        }
                        run
                    }
                    2 => palette[((x / 3 + y / 2) ^ (x % 2)) % 5],
                    3 => [x as u8, y as u8, (x + y) as u8, (x * 3) as u8],
                    _ => {
                        let a = [0, 0, 128, 255][s.below(4) as usize];
                        if a == 0 {
                            [0, 0, 0, 0]
                        } else {
                            [x as u8, 7, y as u8, a]
                        }
                    }
                };
                out.extend_from_slice(&px[..channels]);
            }
        }
        out
    }

    #[test]
    fn libwebp_and_image_webp_decode_every_kind_exactly() {
        let mut s = Stream::new(7, 0x77eb);
        for case in 0..72u64 {
            let kind = case % 6;
            let channels = if case % 2 == 0 { 3 } else { 4 };
            let (w, h) = (1 + s.below(200) as usize, 1 + s.below(40) as usize);
            let data = image(kind, w, h, channels, &mut s);
            // No cache, the smallest, a middle one and the encoder's.
            let cache = [0, 1, 6, CACHE_BITS][(case / 6 % 4) as usize];
            round_trip(&data, channels, w as u32, h as u32, cache);
        }
    }

    #[test]
    fn long_runs_and_single_pixels_decode() {
        // Longer than one copy can be (4095), and the smallest images.
        round_trip(&vec![9; 5000 * 2 * 3], 3, 5000, 2, CACHE_BITS);
        round_trip(&[1, 2, 3], 3, 1, 1, CACHE_BITS);
        round_trip(&[1, 2, 3, 0], 4, 1, 1, CACHE_BITS);
        round_trip(&[0; 4 * 3 * 2], 4, 3, 2, CACHE_BITS);
    }

    #[test]
    fn copies_reach_past_a_megapixel() {
        // A random tile repeated with a period just under VP8L's window:
        // the second copy is a far backward reference.
        let mut s = Stream::new(3, 1);
        let w = 1024;
        let period = (1 << 20) - 200;
        let tile: Vec<u8> = (0..period * 3).map(|_| s.next_u64() as u8).collect();
        let mut data = tile.clone();
        data.extend_from_slice(&tile[..(1100 * w - period) * 3]);
        round_trip(&data, 3, w as u32, 1100, 0);
    }

    #[test]
    fn prefix_codes_match_the_decoder() {
        // The decoder: symbol < 4 → symbol + 1; else extra = (s - 2) >> 1,
        // offset = (2 + (s & 1)) << extra, value = offset + bits + 1.
        for v in 1..5000u32 {
            let (s, n, extra) = prefix(v);
            let decoded = if s < 4 {
                s as u32 + 1
            } else {
                let e = (s as u32 - 2) >> 1;
                assert_eq!(e, n);
                ((2 + (s as u32 & 1)) << e) + extra + 1
            };
            assert_eq!(decoded, v);
        }
        assert!(prefix(4095).0 < NUM_LENGTH_CODES);
        assert!(prefix((1 << 20) - 1).0 < NUM_DISTANCE_CODES);
    }
}
