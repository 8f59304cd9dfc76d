//! The seeded random stream behind every reproducible choice.
//!
//! Users share seeds, so a seed must mean the same image on every machine and
//! every future build. `rand`'s convenience methods (`gen_range`, `shuffle`,
//! `seed_from_u64`) reserve the right to change their algorithms between
//! releases, so they are not used: the seed is laid into a ChaCha8 key
//! byte-for-byte (ChaCha8's output is fixed by its specification and
//! `rand_chacha` promises value stability), and the few derived operations
//! (uniform integers, unit floats, shuffles) are defined here, once.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A deterministic random stream for one purpose (the spec, a layer, ...).
#[derive(Debug, Clone)]
pub struct Stream {
    rng: ChaCha8Rng,
}

impl Stream {
    /// A stream for `seed` and a purpose label; different labels give
    /// independent streams from the same seed.
    pub fn new(seed: u64, purpose: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&purpose.to_le_bytes());
        key[16..].copy_from_slice(b"mandala-bot/v1\0\0");
        Self {
            rng: ChaCha8Rng::from_seed(key),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `0..n` (Lemire's multiply-shift with rejection); `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Fisher–Yates shuffle, from the back.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the stream's output: if this changes, every shared seed changes
    /// meaning. Only ever update it together with `RENDER_VERSION`.
    #[test]
    fn output_is_pinned() {
        let mut s = Stream::new(42, 0);
        let got: Vec<u64> = (0..3).map(|_| s.next_u64()).collect();
        let mut again = Stream::new(42, 0);
        assert_eq!(got, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(got, {
            let mut other = Stream::new(42, 1);
            (0..3).map(|_| other.next_u64()).collect::<Vec<_>>()
        });
        assert_eq!(got[0], PINNED_FIRST);
    }

    const PINNED_FIRST: u64 = 2_194_377_985_104_838_129;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut s = Stream::new(7, 0);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = s.below(5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&b| b));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut s = Stream::new(1, 2);
        let mut v: Vec<u32> = (0..20).collect();
        s.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
