//! The three fixed 64-byte headers of logstore's files (segment, index and
//! meta file) share one layout, described in docs/FORMAT.md:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic, different for each kind of file |
//! | 8 | 4 | format version |
//! | 12 | 4 | header length (64) |
//! | 16 | 16 | log identity |
//! | 32 | 24 | three u64 fields, meaning depends on the kind |
//! | 56 | 4 | a u32 field, meaning depends on the kind |
//! | 60 | 4 | CRC32C of bytes 0..60 |

/// Length of every file header.
pub(crate) const HEADER_LEN: usize = 64;
/// The format version written. Version 2 added sync marks to segments
/// (docs/FORMAT.md, "Sync marks"); version 1 files are still read.
pub(crate) const VERSION: u32 = 2;
/// The oldest format version read.
pub(crate) const OLDEST_VERSION: u32 = 1;
const VERSION_AT: usize = 8;
const LEN_AT: usize = 12;
const LOG_ID_AT: usize = 16;
const FIELDS_AT: usize = 32;
const EXTRA_AT: usize = FIELDS_AT + 24;
const CRC_AT: usize = EXTRA_AT + 4;
const _: () = assert!(CRC_AT + 4 == HEADER_LEN);

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"LOGSTSEG";
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"LOGSTIDX";
pub(crate) const META_MAGIC: [u8; 8] = *b"LOGSTMET";
pub(crate) const CUT_MAGIC: [u8; 8] = *b"LOGSTCUT";

/// A log's identity: random at creation, stamped in every file.
pub(crate) type LogId = [u8; 16];

/// The decoded content of a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub magic: [u8; 8],
    pub log_id: LogId,
    pub fields: [u64; 3],
    pub extra: u32,
}

/// Why a header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    WrongMagic,
    Checksum,
    Version(u32),
    Length(u32),
    ForeignLog,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::WrongMagic => f.write_str("not a logstore file of this kind (bad magic)"),
            HeaderError::Checksum => f.write_str("file header checksum mismatch"),
            HeaderError::Version(v) => write!(f, "unsupported format version {v}"),
            HeaderError::Length(l) => write!(f, "unexpected header length {l}"),
            HeaderError::ForeignLog => {
                f.write_str("file belongs to another log (identity differs)")
            }
        }
    }
}

impl FileHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..VERSION_AT].copy_from_slice(&self.magic);
        b[VERSION_AT..LEN_AT].copy_from_slice(&VERSION.to_le_bytes());
        b[LEN_AT..LOG_ID_AT].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[LOG_ID_AT..FIELDS_AT].copy_from_slice(&self.log_id);
        for (i, v) in self.fields.iter().enumerate() {
            let at = FIELDS_AT + 8 * i;
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[EXTRA_AT..CRC_AT].copy_from_slice(&self.extra.to_le_bytes());
        let crc = crc32c::crc32c(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header of the kind `magic`; with `log_id`, also
    /// checks that it belongs to that log.
    pub(crate) fn decode(
        b: &[u8; HEADER_LEN],
        magic: [u8; 8],
        log_id: Option<&LogId>,
    ) -> Result<FileHeader, HeaderError> {
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        if b[..VERSION_AT] != magic {
            return Err(HeaderError::WrongMagic);
        }
        if crc32c::crc32c(&b[..CRC_AT]) != u32_at(CRC_AT) {
            return Err(HeaderError::Checksum);
        }
        let version = u32_at(VERSION_AT);
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        let len = u32_at(LEN_AT);
        if len as usize != HEADER_LEN {
            return Err(HeaderError::Length(len));
        }
        let id: LogId = b[LOG_ID_AT..FIELDS_AT].try_into().expect("16 bytes");
        if log_id.is_some_and(|want| *want != id) {
            return Err(HeaderError::ForeignLog);
        }
        Ok(FileHeader {
            magic,
            log_id: id,
            fields: [
                u64_at(FIELDS_AT),
                u64_at(FIELDS_AT + 8),
                u64_at(FIELDS_AT + 16),
            ],
            extra: u32_at(EXTRA_AT),
        })
    }
}

/// The format version a header that decodes was written with.
pub(crate) fn version_of(b: &[u8; HEADER_LEN]) -> u32 {
    u32::from_le_bytes(b[VERSION_AT..LEN_AT].try_into().expect("4 bytes"))
}

/// A fresh log identity. Uniqueness, not secrecy, is what matters: mix the
/// clock, the process id and a counter.
pub(crate) fn new_log_id() -> LogId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = u64::from(std::process::id());
    let a = mix(nanos ^ pid.rotate_left(32));
    let b = mix(a ^ n ^ (&COUNTER as *const _ as u64));
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&a.to_le_bytes());
    id[8..].copy_from_slice(&b.to_le_bytes());
    id
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileHeader {
        FileHeader {
            magic: SEGMENT_MAGIC,
            log_id: [7; 16],
            fields: [1, 2, 3],
            extra: 4,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let b = sample().encode();
        assert_eq!(&b[..8], b"LOGSTSEG");
        assert_eq!(&b[8..12], &VERSION.to_le_bytes());
        assert_eq!(&b[12..16], &64u32.to_le_bytes());
        assert_eq!(&b[32..40], &1u64.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&b, SEGMENT_MAGIC, Some(&[7; 16])),
            Ok(sample())
        );
    }

    #[test]
    fn refusals() {
        let b = sample().encode();
        assert_eq!(
            FileHeader::decode(&b, INDEX_MAGIC, None),
            Err(HeaderError::WrongMagic)
        );
        assert_eq!(
            FileHeader::decode(&b, SEGMENT_MAGIC, Some(&[8; 16])),
            Err(HeaderError::ForeignLog)
        );
        for i in 8..HEADER_LEN {
            let mut c = b;
            c[i] ^= 0x10;
            assert_eq!(
                FileHeader::decode(&c, SEGMENT_MAGIC, None),
                Err(HeaderError::Checksum)
            );
        }
    }

    #[test]
    fn ids_differ() {
        assert_ne!(new_log_id(), new_log_id());
    }
}
