//! Where the operation model takes its choices from.

use logstore_testkit::Xorshift;

/// A stream of choices: a pseudo-random generator in the stable fuzz test,
/// the input bytes in the coverage-guided target.
pub trait Source {
    /// Any 64-bit value.
    fn next(&mut self) -> u64;

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True once the source has nothing more to say (an input is used
    /// up); a generator never runs dry.
    fn exhausted(&self) -> bool {
        false
    }
}

/// Choices read from fuzz input: each takes as few bytes as its range
/// needs, so that a byte of input maps to one decision; a spent input
/// yields zeros.
pub struct ByteSource<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteSource<'a> {
    /// Choices from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteSource { bytes }
    }

    fn take(&mut self, n: usize) -> u64 {
        let n = n.min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
    }
}

impl Source for ByteSource<'_> {
    fn next(&mut self) -> u64 {
        self.take(8)
    }

    fn below(&mut self, n: u64) -> u64 {
        let width = match n {
            0..=1 => return 0,
            2..=0x100 => 1,
            0x101..=0x1_0000 => 2,
            0x1_0001..=0xFFFF_FFFF => 4,
            _ => 8,
        };
        self.take(width) % n
    }

    fn exhausted(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// `len` bytes determined by `tag`, so that a record read back from the
/// wrong place or with stale bytes is noticed.
pub fn payload(tag: u64, len: usize) -> Vec<u8> {
    Xorshift::new(tag | 1).bytes(len)
}
