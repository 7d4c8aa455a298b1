//! One segment file: its name, its header, and scanning its records.

pub(crate) mod scan;

use crate::header::{FileHeader, HeaderError, LogId, SEGMENT_MAGIC};

pub(crate) use crate::header::HEADER_LEN as SEGMENT_HEADER_LEN;

const SEGMENT_SUFFIX: &str = ".seg";
const INDEX_SUFFIX: &str = ".idx";
const STORE_INDEX_SUFFIX: &str = ".sidx";
const DIGITS: usize = 20;

/// File name of the segment whose first record is at `first`: zero-padded so
/// that name order is position order.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:0DIGITS$}{SEGMENT_SUFFIX}")
}

/// File name of the index of the segment starting at `first`.
pub(crate) fn index_name(first: u64) -> String {
    format!("{first:0DIGITS$}{INDEX_SUFFIX}")
}

/// File name of a store's index of the segment starting at `first` (see
/// `store::index`).
pub(crate) fn store_index_name(first: u64) -> String {
    format!("{first:0DIGITS$}{STORE_INDEX_SUFFIX}")
}

/// The first position named by a store index's file name.
pub(crate) fn parse_store_index_name(name: &str) -> Option<u64> {
    parse(name, STORE_INDEX_SUFFIX)
}

fn parse(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The first position named by a segment file name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    parse(name, SEGMENT_SUFFIX)
}

/// The first position named by an index file name.
pub(crate) fn parse_index_name(name: &str) -> Option<u64> {
    parse(name, INDEX_SUFFIX)
}

/// The header written at the start of every segment.
pub(crate) fn encode_segment_header(log_id: &LogId, first: u64) -> [u8; SEGMENT_HEADER_LEN] {
    FileHeader {
        magic: SEGMENT_MAGIC,
        log_id: *log_id,
        fields: [first, 0, 0],
        extra: 0,
    }
    .encode()
}

/// Checks a segment header against the log and the file name.
pub(crate) fn check_segment_header(
    bytes: &[u8; SEGMENT_HEADER_LEN],
    log_id: &LogId,
    first: u64,
) -> Result<(), String> {
    let h = FileHeader::decode(bytes, SEGMENT_MAGIC, Some(log_id)).map_err(|e| match e {
        HeaderError::ForeignLog => "segment belongs to another log (identity differs)".to_string(),
        other => format!("bad segment header: {other}"),
    })?;
    if h.fields[0] != first {
        return Err(format!(
            "segment header says first position {}, file name says {first}",
            h.fields[0]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_sort_like_positions() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(index_name(u64::MAX), "18446744073709551615.idx");
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for name in [
            "42.seg",
            "0000000000000000004x.seg",
            "00000000000000000042.seg.tmp",
            "logstore.meta",
            "99999999999999999999.seg",
        ] {
            assert_eq!(parse_segment_name(name), None, "{name}");
        }
    }

    #[test]
    fn header_checks_name_and_identity() {
        let h = encode_segment_header(&[1; 16], 5);
        assert!(check_segment_header(&h, &[1; 16], 5).is_ok());
        assert!(check_segment_header(&h, &[1; 16], 6)
            .unwrap_err()
            .contains("file name says 6"));
        assert!(check_segment_header(&h, &[2; 16], 5)
            .unwrap_err()
            .contains("another log"));
    }

    proptest! {
        #[test]
        fn name_round_trip(first: u64) {
            prop_assert_eq!(parse_segment_name(&segment_name(first)), Some(first));
            prop_assert_eq!(parse_index_name(&index_name(first)), Some(first));
        }
    }
}
