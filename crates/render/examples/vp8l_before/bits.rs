//! The VP8L bit writer: values are packed least significant bit first.

/// Accumulates bits LSB first and flushes whole bytes.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    used: u32,
}

impl BitWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            out: Vec::with_capacity(bytes),
            acc: 0,
            used: 0,
        }
    }

    /// Writes the low `n` bits of `value` (`n` ≤ 32).
    pub fn put(&mut self, value: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || value >> n == 0));
        self.acc |= u64::from(value) << self.used;
        self.used += n;
        while self.used >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.used -= 8;
        }
    }

    /// The bytes written, the last one zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}
