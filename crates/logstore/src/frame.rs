//! Record framing: bytes in, bytes out, no I/O.
//!
//! A record on disk is a 16-byte header followed by the payload
//! (docs/FORMAT.md, "Record frame"):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | CRC32C of bytes 4..16 of the header followed by the payload |
//! | 4 | 4 | payload length (bits 0..31); bit 31 = more records of this batch follow |
//! | 8 | 8 | the record's position |
//!
//! All integers are little-endian. A header of 16 zero bytes marks the end
//! of the data (a record is never empty, so its length is never zero).

/// Length of a frame header.
pub(crate) const HEADER_LEN: usize = 16;
pub(crate) const CRC_AT: usize = 0;
pub(crate) const LEN_AT: usize = CRC_AT + 4;
pub(crate) const POSITION_AT: usize = LEN_AT + 4;
const _: () = assert!(POSITION_AT + 8 == HEADER_LEN);

/// Bit of the length field saying that the next record belongs to the same
/// batch (so the batch is incomplete without it).
pub(crate) const BATCH_CONTINUES: u32 = 1 << 31;

/// Length field of a sync mark: a length of zero (never a record's) with
/// the batch bit set. A mark is a 16-byte frame with no payload whose
/// position field holds the position it vouches for (docs/FORMAT.md,
/// "Sync marks").
pub(crate) const MARK_TAG: u32 = BATCH_CONTINUES;

/// Length of a sync mark.
pub(crate) const MARK_LEN: u64 = HEADER_LEN as u64;

/// The sync mark written at byte `offset` of a segment, saying that every
/// position below `durable` was durable when it was written. Its checksum
/// covers the offset too, so that a copy of a mark inside a record's
/// payload (at another offset) is not taken for one.
pub(crate) fn encode_mark(offset: u64, durable: u64) -> [u8; HEADER_LEN] {
    let mut h = encode_header_with_crc(durable, 0, true, 0);
    let crc = mark_crc(&h, offset);
    h[CRC_AT..LEN_AT].copy_from_slice(&crc.to_le_bytes());
    h
}

fn mark_crc(h: &[u8; HEADER_LEN], offset: u64) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&h[LEN_AT..]), &offset.to_le_bytes())
}

/// Whether the 16 bytes `h` have a sync mark's length field (the mark may
/// still fail its checksum).
#[inline]
pub(crate) fn is_mark_tagged(h: &[u8; HEADER_LEN]) -> bool {
    h[LEN_AT..POSITION_AT] == MARK_TAG.to_le_bytes()
}

/// The position a valid sync mark found at `offset` vouches for; `None` if
/// `h` is not one.
pub(crate) fn decode_mark(h: &[u8; HEADER_LEN], offset: u64) -> Option<u64> {
    if !is_mark_tagged(h) {
        return None;
    }
    let crc = u32::from_le_bytes(h[CRC_AT..LEN_AT].try_into().expect("4 bytes"));
    (mark_crc(h, offset) == crc)
        .then(|| u64::from_le_bytes(h[POSITION_AT..].try_into().expect("8 bytes")))
}

/// A decoded, checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub crc: u32,
    pub len: u32,
    pub position: u64,
    pub continues: bool,
}

/// What a header's 16 bytes say, before the payload is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    Valid(Header),
    /// All zeros: the end of the written data.
    Zero,
    /// The length is zero or above the limit.
    BadLength(u32),
}

/// Total bytes a record of `len` payload bytes takes.
pub(crate) fn frame_len(len: usize) -> u64 {
    (HEADER_LEN + len) as u64
}

/// Builds the header for `payload` at `position`.
pub(crate) fn encode_header(position: u64, payload: &[u8], continues: bool) -> [u8; HEADER_LEN] {
    debug_assert!(!payload.is_empty() && payload.len() < BATCH_CONTINUES as usize);
    let mut h = encode_header_with_crc(position, payload.len() as u32, continues, 0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[LEN_AT..]), payload);
    h[CRC_AT..LEN_AT].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A header with a given checksum (for a payload summed elsewhere).
pub(crate) fn encode_header_with_crc(
    position: u64,
    len: u32,
    continues: bool,
    crc: u32,
) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let len = len | if continues { BATCH_CONTINUES } else { 0 };
    h[CRC_AT..LEN_AT].copy_from_slice(&crc.to_le_bytes());
    h[LEN_AT..POSITION_AT].copy_from_slice(&len.to_le_bytes());
    h[POSITION_AT..].copy_from_slice(&position.to_le_bytes());
    h
}

/// Appends a whole frame (header and payload) to `out`. Same bytes as
/// `encode_header` + payload, with one checksum pass over the contiguous
/// bytes (cheaper for the small records this is used for).
pub(crate) fn encode_into(out: &mut Vec<u8>, position: u64, payload: &[u8], continues: bool) {
    debug_assert!(!payload.is_empty() && payload.len() < BATCH_CONTINUES as usize);
    let start = out.len();
    let len = payload.len() as u32 | if continues { BATCH_CONTINUES } else { 0 };
    out.extend_from_slice(&[0; LEN_AT]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crate::crc::crc32c(&out[start + LEN_AT..]);
    out[start..start + LEN_AT].copy_from_slice(&crc.to_le_bytes());
}

/// Reads a header; `max_len` is the largest payload length believed.
pub(crate) fn decode_header(h: &[u8; HEADER_LEN], max_len: usize) -> HeaderCheck {
    if h.iter().all(|&b| b == 0) {
        return HeaderCheck::Zero;
    }
    let crc = u32::from_le_bytes(h[CRC_AT..LEN_AT].try_into().expect("4 bytes"));
    let raw = u32::from_le_bytes(h[LEN_AT..POSITION_AT].try_into().expect("4 bytes"));
    let position = u64::from_le_bytes(h[POSITION_AT..].try_into().expect("8 bytes"));
    let len = raw & !BATCH_CONTINUES;
    if len == 0 || len as usize > max_len {
        return HeaderCheck::BadLength(len);
    }
    HeaderCheck::Valid(Header {
        crc,
        len,
        position,
        continues: raw & BATCH_CONTINUES != 0,
    })
}

/// Decodes a header whatever its length, as long as the format allows it
/// (1 to 2^30 bytes): to recognise a record written under a larger
/// `max_record_size` than the one in use.
pub(crate) fn decode_any_length(h: &[u8; HEADER_LEN]) -> Option<Header> {
    match decode_header(h, crate::options::MAX_RECORD_SIZE_LIMIT) {
        HeaderCheck::Valid(h) => Some(h),
        _ => None,
    }
}

/// Whether the checksum in `header` matches its own bytes and `payload`.
pub(crate) fn checksum_ok(raw_header: &[u8; HEADER_LEN], header: &Header, payload: &[u8]) -> bool {
    crc32c::crc32c_append(crc32c::crc32c(&raw_header[LEN_AT..]), payload) == header.crc
}

/// Whether a whole frame (`header` decoded from its first bytes, followed
/// by the payload) matches its checksum: one pass over the contiguous
/// bytes, the same sum as [`checksum_ok`].
#[inline]
pub(crate) fn frame_checksum_ok(frame: &[u8], header: &Header) -> bool {
    frame.len() >= HEADER_LEN && crate::crc::crc32c(&frame[LEN_AT..]) == header.crc
}

#[cfg(test)]
mod tests {

    #[test]
    fn marks_check_their_offset() {
        let m = encode_mark(200, 42);
        assert!(is_mark_tagged(&m));
        assert_eq!(decode_mark(&m, 200), Some(42));
        // The same bytes elsewhere (say, copied into a payload) are no mark.
        assert_eq!(decode_mark(&m, 216), None);
        for i in 0..HEADER_LEN {
            let mut c = m;
            c[i] ^= 0x04;
            assert_eq!(decode_mark(&c, 200), None, "byte {i} flipped");
        }
        // No record header is ever taken for a mark: a record is 1 byte
        // or more.
        assert!(matches!(
            decode_header(&m, 1 << 20),
            HeaderCheck::BadLength(0)
        ));
    }
    use super::*;
    use proptest::prelude::*;

    fn decode_frame(bytes: &[u8], max: usize) -> Option<(Header, &[u8])> {
        let raw: [u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        match decode_header(&raw, max) {
            HeaderCheck::Valid(h) => {
                let payload = bytes.get(HEADER_LEN..HEADER_LEN + h.len as usize)?;
                checksum_ok(&raw, &h, payload).then_some((h, payload))
            }
            _ => None,
        }
    }

    #[test]
    fn zero_header_is_end_of_data() {
        assert_eq!(decode_header(&[0; HEADER_LEN], 100), HeaderCheck::Zero);
    }

    #[test]
    fn zero_and_oversize_lengths_are_rejected() {
        let mut h = encode_header(7, b"abc", false);
        h[LEN_AT..POSITION_AT].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_header(&h, 100), HeaderCheck::BadLength(0));
        let h = encode_header(7, &[1; 101], false);
        assert_eq!(decode_header(&h, 100), HeaderCheck::BadLength(101));
    }

    #[test]
    fn batch_flag_round_trips() {
        let mut out = Vec::new();
        encode_into(&mut out, 3, b"x", true);
        let (h, p) = decode_frame(&out, 10).unwrap();
        assert!(h.continues);
        assert_eq!((h.position, h.len, p), (3, 1, &b"x"[..]));
    }

    #[test]
    fn known_bytes_fixture() {
        // Guards the documented layout (docs/FORMAT.md): if this changes,
        // the format version must change too.
        let mut out = Vec::new();
        encode_into(&mut out, 0x0102, b"hi", false);
        assert_eq!(&out[4..8], &[2, 0, 0, 0]);
        assert_eq!(&out[8..16], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&out[16..], b"hi");
        let crc = crc32c::crc32c(&out[4..]);
        assert_eq!(&out[0..4], &crc.to_le_bytes());
    }

    proptest! {
        #[test]
        fn round_trip(pos: u64, payload in proptest::collection::vec(any::<u8>(), 1..2000), cont: bool) {
            let mut out = Vec::new();
            encode_into(&mut out, pos, &payload, cont);
            let (h, p) = decode_frame(&out, 4096).unwrap();
            prop_assert_eq!(h.position, pos);
            prop_assert_eq!(h.continues, cont);
            prop_assert_eq!(p, &payload[..]);
        }

        #[test]
        fn one_pass_and_two_pass_checksums_agree(pos: u64, payload in proptest::collection::vec(any::<u8>(), 1..500), flip in any::<Option<(usize, u8)>>()) {
            let mut out = Vec::new();
            encode_into(&mut out, pos, &payload, false);
            if let Some((at, bits)) = flip {
                let at = at % out.len();
                out[at] ^= bits;
            }
            let raw: [u8; HEADER_LEN] = out[..HEADER_LEN].try_into().unwrap();
            if let HeaderCheck::Valid(h) = decode_header(&raw, 4096) {
                let payload = &out[HEADER_LEN..];
                prop_assert_eq!(
                    frame_checksum_ok(&out, &h),
                    checksum_ok(&raw, &h, payload)
                );
            }
        }

        #[test]
        fn both_encoders_agree(pos: u64, payload in proptest::collection::vec(any::<u8>(), 1..500), cont: bool) {
            let mut a = Vec::new();
            encode_into(&mut a, pos, &payload, cont);
            let mut b = encode_header(pos, &payload, cont).to_vec();
            b.extend_from_slice(&payload);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn any_flipped_bit_is_detected(payload in proptest::collection::vec(any::<u8>(), 1..300), bit in 0usize..(316 * 8)) {
            let mut out = Vec::new();
            encode_into(&mut out, 42, &payload, false);
            let bit = bit % (out.len() * 8);
            out[bit / 8] ^= 1 << (bit % 8);
            if let Some((h, p)) = decode_frame(&out, 4096) {
                // Only a flip of the batch bit with a matching CRC could pass;
                // CRC32C catches every single-bit error.
                prop_assert!(false, "flip accepted: {:?} {:?}", h, p.len());
            }
        }
    }
}
