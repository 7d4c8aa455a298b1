//! Deterministic record contents shared by logstore's tests, benchmarks
//! and checkers: one generator, Marsaglia's xorshift64, so that every
//! crate makes the same bytes from the same seed and a record read back
//! from the wrong position, or with stale or shifted bytes, is noticed.
//!
//! [`record`] is the record of a seed and a length; [`Xorshift`] is the
//! stream behind it, for callers that seed it themselves or want numbers
//! (random positions) or wider chunks (incompressible buffers).
//!
//! The bytes made from a seed must not change: the fuzz corpus was found
//! with the records `logstore-check` makes from them, and benchmark runs
//! of different builds are compared on the same record bodies. The test
//! below pins them.
//!
//! This crate depends on nothing, logstore included, so that logstore's
//! own tests can use it without a dependency cycle.

/// 2^64 divided by the golden ratio: spreads small seeds over the state.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64 with the shifts 13, 7 and 17: a stream of numbers fixed by
/// its seed. (A zero state stays zero: seed it with a non-zero number.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The stream that starts from `seed`.
    pub const fn new(seed: u64) -> Xorshift {
        Xorshift(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `len` bytes, one per number: its low byte.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Fills `buf` with the numbers' little-endian bytes, eight per number
    /// (the first bytes of the last one if `buf.len()` is not a multiple
    /// of eight).
    pub fn fill_words(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
}

/// A record of `len` bytes whose contents depend on `seed` (and on `len`,
/// so that records of the same seed and different lengths differ too).
pub fn record(seed: u64, len: usize) -> Vec<u8> {
    Xorshift::new(seed.wrapping_mul(GOLDEN) ^ len as u64).bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator as it was written out in each crate before this one:
    /// the bytes must stay the same.
    fn reference(mut x: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn bytes_are_stable() {
        assert_eq!(record(0, 0), Vec::<u8>::new());
        assert_eq!(record(1, 8), [165, 122, 126, 124, 102, 246, 129, 64]);
        for (seed, len) in [(0, 5), (1, 10), (17, 300), (1029, 25), (u64::MAX, 64)] {
            let want = reference(seed.wrapping_mul(GOLDEN) ^ len as u64, len);
            assert_eq!(record(seed, len), want, "seed {seed}, length {len}");
            assert_eq!(Xorshift::new(seed | 1).bytes(len), reference(seed | 1, len));
        }
    }

    #[test]
    fn records_differ_by_seed_and_by_length() {
        assert_ne!(record(1, 100), record(2, 100));
        assert_ne!(record(1, 100)[..50], record(1, 50)[..]);
    }

    #[test]
    fn words_are_the_little_endian_numbers() {
        let mut buf = [0u8; 20];
        Xorshift::new(GOLDEN).fill_words(&mut buf);
        let mut x = Xorshift::new(GOLDEN);
        let (a, b, c) = (x.next_u64(), x.next_u64(), x.next_u64());
        assert_eq!(buf[..8], a.to_le_bytes());
        assert_eq!(buf[8..16], b.to_le_bytes());
        assert_eq!(buf[16..], c.to_le_bytes()[..4]);
    }
}
