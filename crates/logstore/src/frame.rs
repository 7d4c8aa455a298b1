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
#[cfg(test)]
pub(crate) fn checksum_ok(raw_header: &[u8; HEADER_LEN], header: &Header, payload: &[u8]) -> bool {
    header.check_sum(payload_sum(raw_header, payload)).is_ok()
}

/// Whether a whole frame (`header` decoded from its first bytes, followed
/// by the payload) matches its checksum: one pass over the contiguous
/// bytes, the same sum as [`checksum_ok`].
#[cfg(test)]
pub(crate) fn frame_checksum_ok(frame: &[u8], header: &Header) -> bool {
    frame.len() >= HEADER_LEN && header.check_sum(frame_sum(frame)).is_ok()
}

/// Why bytes are not the frame expected there. Every check of a record
/// or sync mark read from a file goes through the functions below and
/// reports one of these; its `Display` is the reason given in errors and
/// reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer bytes than a header are left before the end of the data.
    ShortHeader { left: u64 },
    /// The file ends before the frame does (or before what the index
    /// says the frame takes).
    Short,
    /// All zeros where a header should be: the end of the written data.
    Zero,
    /// A length of zero, or above the limit `max`.
    BadLength { len: u32, max: usize },
    /// An intact record longer than the limit in use (the log was written
    /// with a larger `max_record_size`): not damage, and reported as an
    /// invalid argument, never cut.
    Oversize { position: u64, len: u32, max: usize },
    /// The `found` bytes from a record's offset to the next one's are
    /// more than a record of at most `max` bytes takes, with sync marks,
    /// and hold no intact record.
    TooLong { found: u64, max: usize },
    /// The frame runs past the end of the data.
    PastEnd { len: u32 },
    /// The header's length disagrees with the bytes the index gives the
    /// record (`found` payload bytes, sync marks after it allowed for).
    LengthMismatch { header: u32, found: u64 },
    /// The record's checksum does not match its bytes.
    Checksum,
    /// An intact record of another position.
    Position { found: u64, expected: u64 },
    /// A record at the last position the format can name: it leaves no
    /// position for the next one, so only a forged file holds it.
    LastPosition { position: u64 },
    /// A sync mark's checksum does not match.
    MarkChecksum,
    /// A sync mark runs past the end of the data.
    MarkPastEnd,
    /// A sync mark between two records of a batch (never written there).
    MarkInBatch,
    /// The last record read says its batch goes on, and the data ends.
    BatchIncomplete,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FrameError::ShortHeader { left } => {
                write!(f, "incomplete record header ({left} bytes left)")
            }
            FrameError::Short => f.write_str("record frame is cut short (the file ends first)"),
            FrameError::Zero => f.write_str("zero bytes where a record header should be"),
            FrameError::BadLength { len, max } => {
                write!(f, "bad record length {len} (limit {max})")
            }
            FrameError::Oversize { position, len, max } => write!(
                f,
                "record {position} is {len} bytes, more than the max_record_size of {max} given; \
                 open the log with a max_record_size of at least {len}"
            ),
            FrameError::TooLong { found, max } => write!(
                f,
                "record longer than the limit ({found} bytes up to the next record, \
                 for records of at most {max} bytes)"
            ),
            FrameError::PastEnd { len } => {
                write!(f, "record of {len} bytes runs past the end of the data")
            }
            FrameError::LengthMismatch { header, found } => write!(
                f,
                "record length {header} does not match the index ({found} bytes)"
            ),
            FrameError::Checksum => f.write_str("record checksum mismatch"),
            FrameError::Position { found, expected } => {
                write!(f, "record has position {found}, expected {expected}")
            }
            FrameError::LastPosition { position } => write!(
                f,
                "record has position {position}, past the last one possible"
            ),
            FrameError::MarkChecksum => f.write_str("sync mark checksum mismatch"),
            FrameError::MarkPastEnd => f.write_str("sync mark runs past the end of the data"),
            FrameError::MarkInBatch => f.write_str("sync mark inside a batch"),
            FrameError::BatchIncomplete => {
                f.write_str("batch is incomplete (its last record is missing)")
            }
        }
    }
}

/// Most sync marks between two records: one written before the second,
/// after one left at the end of the data by a clean close or before a cut
/// (docs/FORMAT.md, "Sync marks"); more are allowed for.
pub(crate) const MAX_GAP: u64 = 4 * MARK_LEN;

/// The bytes a frame may take from its offset on, as the caller knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// Up to this many bytes (the end of the data): a longer frame runs
    /// past it.
    UpTo(u64),
    /// Exactly this many, from the record's offset to the next one's (or
    /// the data's end), as an index gives them: the frame, then perhaps
    /// sync marks.
    Exactly(u64),
}

impl Header {
    /// Bytes the whole frame takes.
    #[inline]
    pub(crate) fn frame_len(&self) -> u64 {
        frame_len(self.len as usize)
    }

    /// Checks the frame's checksum: `sum` is the CRC32C of its bytes
    /// after the CRC field ([`payload_sum`], [`frame_sum`], or summed in
    /// pieces from [`header_sum`]).
    #[inline]
    pub(crate) fn check_sum(&self, sum: u32) -> Result<(), FrameError> {
        match sum == self.crc {
            true => Ok(()),
            false => Err(FrameError::Checksum),
        }
    }

    /// Checks that this is the record at `expected`; returns the position
    /// of the next record.
    #[inline]
    pub(crate) fn check_position(&self, expected: u64) -> Result<u64, FrameError> {
        if self.position != expected {
            return Err(FrameError::Position {
                found: self.position,
                expected,
            });
        }
        expected
            .checked_add(1)
            .ok_or(FrameError::LastPosition { position: expected })
    }

    /// The checks after the header's: checksum, then position. Returns
    /// the position of the next record.
    #[inline]
    pub(crate) fn check(&self, sum: u32, expected: u64) -> Result<u64, FrameError> {
        self.check_sum(sum)?;
        self.check_position(expected)
    }
}

/// Checks a frame header: not zero, a length from 1 to `max_len`, and a
/// frame that fits `room`.
#[inline]
pub(crate) fn check_header(
    raw: &[u8; HEADER_LEN],
    max_len: usize,
    room: Room,
) -> Result<Header, FrameError> {
    let h = match decode_header(raw, max_len) {
        HeaderCheck::Valid(h) => h,
        HeaderCheck::Zero => return Err(FrameError::Zero),
        HeaderCheck::BadLength(len) => return Err(FrameError::BadLength { len, max: max_len }),
    };
    let fits = match room {
        Room::UpTo(n) => h.frame_len() <= n,
        Room::Exactly(n) => fits_gap(h.frame_len(), n),
    };
    match (fits, room) {
        (true, _) => Ok(h),
        (false, Room::UpTo(_)) => Err(FrameError::PastEnd { len: h.len }),
        (false, Room::Exactly(n)) => Err(FrameError::LengthMismatch {
            header: h.len,
            found: n.saturating_sub(HEADER_LEN as u64),
        }),
    }
}

/// Whether a frame of `frame_len` bytes fits the `room` bytes between its
/// offset and the next record's (or the data's end): exactly, or followed
/// by sync marks.
#[inline]
pub(crate) fn fits_gap(frame_len: u64, room: u64) -> bool {
    room >= frame_len && room - frame_len <= MAX_GAP && (room - frame_len).is_multiple_of(MARK_LEN)
}

/// Checks the whole frame of the record at `position` at the start of
/// `bytes` (which may go on with sync marks or more records), all in
/// memory; returns its header (the payload is
/// `bytes[HEADER_LEN..][..len]`).
#[inline]
pub(crate) fn check_frame(
    bytes: &[u8],
    position: u64,
    max_len: usize,
    room: Room,
) -> Result<Header, FrameError> {
    let raw: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(FrameError::Short)?;
    let h = check_header(raw, max_len, room)?;
    let frame = bytes
        .get(..h.frame_len() as usize)
        .ok_or(FrameError::Short)?;
    h.check(frame_sum(frame), position)?;
    Ok(h)
}

/// [`check_frame`] for a frame read in two pieces: its header `raw` and
/// the bytes after it (the payload, which may go on with sync marks).
pub(crate) fn check_parts(
    raw: &[u8; HEADER_LEN],
    rest: &[u8],
    position: u64,
    max_len: usize,
    room: Room,
) -> Result<Header, FrameError> {
    let h = check_header(raw, max_len, room)?;
    let payload = rest.get(..h.len as usize).ok_or(FrameError::Short)?;
    h.check(payload_sum(raw, payload), position)?;
    Ok(h)
}

/// Checks the sync mark `raw` found at `offset` (tagged as one); the
/// position it vouches for.
pub(crate) fn check_mark(raw: &[u8; HEADER_LEN], offset: u64) -> Result<u64, FrameError> {
    decode_mark(raw, offset).ok_or(FrameError::MarkChecksum)
}

/// The checksum of a header's bytes after its CRC field: the start of a
/// frame's sum, which its payload is appended to.
#[inline]
pub(crate) fn header_sum(raw: &[u8; HEADER_LEN]) -> u32 {
    crc32c::crc32c(&raw[LEN_AT..])
}

/// The checksum of a frame whose header and payload are apart.
#[inline]
pub(crate) fn payload_sum(raw: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(header_sum(raw), payload)
}

/// The checksum of a whole frame in contiguous bytes: one pass, the same
/// sum as [`payload_sum`].
#[inline]
pub(crate) fn frame_sum(frame: &[u8]) -> u32 {
    crate::crc::crc32c(&frame[LEN_AT..])
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
