//! One raft entry as one log record: a format version byte, then the entry
//! in bincode's variable-length integer encoding.
//!
//! bincode with varints is compact (an entry header of small term, node id
//! and index costs a few bytes) and follows openraft's own serde
//! definitions, so membership changes and application data need no
//! hand-written framing. The record's checksum and length are logstore's.

use bincode::Options as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first byte of every entry record.
pub const ENTRY_FORMAT_VERSION: u8 = 1;

/// The record standing at an index no entry was appended to. openraft
/// itself appends contiguous indexes, but its storage contract (and test
/// suite) allows gaps; padding them keeps position = index. Readers skip
/// holes.
pub(crate) const HOLE: &[u8] = &[0];

fn options() -> impl bincode::Options {
    bincode::DefaultOptions::new()
}

/// Encodes a value as a versioned record.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::Error> {
    let mut out = vec![ENTRY_FORMAT_VERSION];
    options().serialize_into(&mut out, value)?;
    Ok(out)
}

/// Decodes a versioned record. The bincode size limit is the record's
/// length, so a damaged length prefix cannot cause a huge allocation.
pub(crate) fn decode<T: DeserializeOwned>(record: &[u8]) -> Result<T, String> {
    match record.split_first() {
        Some((&ENTRY_FORMAT_VERSION, body)) => options()
            .with_limit(record.len() as u64)
            .deserialize(body)
            .map_err(|e| format!("undecodable record: {e}")),
        Some((v, _)) => Err(format!("unknown record format version {v}")),
        None => Err("empty record".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_bad_version() {
        let rec = encode(&(7u64, "x".to_string())).unwrap();
        assert_eq!(rec[0], ENTRY_FORMAT_VERSION);
        assert_eq!(decode::<(u64, String)>(&rec).unwrap(), (7, "x".to_string()));
        let mut bad = rec.clone();
        bad[0] = 9;
        assert!(decode::<(u64, String)>(&bad)
            .unwrap_err()
            .contains("version 9"));
        assert!(decode::<(u64, String)>(&rec[..2]).is_err());
    }
}
