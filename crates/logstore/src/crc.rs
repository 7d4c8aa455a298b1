//! CRC32C (Castagnoli), the checksum of every frame.
//!
//! Long inputs go to the `crc32c` crate, which runs three interleaved
//! streams of the SSE 4.2 instruction. For the short frames of small
//! records its set-up costs more than the sum itself (about 170
//! instructions for a 112-byte frame, measured with callgrind, against
//! about 40 for a plain loop of the instruction), and a replay or a read
//! computes one sum per record; so short inputs take the plain loop.

/// Inputs up to this many bytes take the plain loop.
const SHORT: usize = 256;

/// The CRC32C of `data` (the same value as `crc32c::crc32c`).
#[inline]
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if data.len() <= SHORT && std::arch::is_x86_feature_detected!("sse4.2") {
        return sse42::crc32c(data);
    }
    crc32c::crc32c(data)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod sse42 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};

    /// The caller has checked that the CPU has SSE 4.2.
    #[inline]
    pub(super) fn crc32c(data: &[u8]) -> u32 {
        // SAFETY: `super::crc32c` calls this only after
        // `is_x86_feature_detected!("sse4.2")` returned true, which is
        // what `sum` needs (its only requirement is the CPU feature).
        unsafe { sum(data) }
    }

    #[target_feature(enable = "sse4.2")]
    fn sum(data: &[u8]) -> u32 {
        let mut crc = u64::from(u32::MAX);
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            let w: [u8; 8] = w.try_into().expect("8 bytes");
            crc = _mm_crc32_u64(crc, u64::from_le_bytes(w));
        }
        let mut crc = crc as u32;
        for &b in words.remainder() {
            crc = _mm_crc32_u8(crc, b);
        }
        !crc
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn known_value() {
        // The check value of CRC-32C (RFC 3720, B.4).
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c(b""), 0);
    }

    proptest! {
        #[test]
        fn agrees_with_the_crate(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(super::crc32c(&data), crc32c::crc32c(&data));
        }
    }
}
