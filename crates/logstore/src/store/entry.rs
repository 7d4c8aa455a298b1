//! The records a [`crate::Store`] writes into its one shared log: each
//! names the store log it belongs to. docs/FORMAT.md, "Store entries".

use crate::error::{Error, ErrorKind, Result};

/// The first byte of every entry.
const PUT: u8 = 1;
const MOVED: u8 = 2;
const META: u8 = 3;
const DROP: u8 = 4;

/// Bytes before a record's own bytes in a `Put` or `Moved` entry: the
/// kind, the log id and the position.
pub(crate) const RECORD_HEADER: usize = 17;
/// Bytes of a `Meta` entry before its state value.
pub(crate) const META_HEADER: usize = 26;

/// One entry, as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// A record appended to `log` at `position`.
    Put {
        log: u64,
        position: u64,
        record: &'a [u8],
    },
    /// A record that compaction copied to the tail of the shared log; the
    /// copy replaces the one before it, nothing else changes.
    Moved {
        log: u64,
        position: u64,
        record: &'a [u8],
    },
    /// A log's whole description: it holds `first..next`, and its state
    /// value. Written at its creation, by each truncation and state change,
    /// and by compaction for a log whose last `Meta` it reclaims.
    Meta {
        log: u64,
        first: u64,
        next: u64,
        state: Option<&'a [u8]>,
    },
    /// The log was dropped.
    Drop { log: u64 },
}

pub(crate) fn record(kind_moved: bool, log: u64, position: u64, record: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(RECORD_HEADER + record.len());
    v.push(if kind_moved { MOVED } else { PUT });
    v.extend_from_slice(&log.to_le_bytes());
    v.extend_from_slice(&position.to_le_bytes());
    v.extend_from_slice(record);
    v
}

/// Turns a `Put` entry's bytes into those of its `Moved` copy.
pub(crate) fn mark_moved(entry: &mut [u8]) {
    entry[0] = MOVED;
}

pub(crate) fn meta(log: u64, first: u64, next: u64, state: Option<&[u8]>) -> Vec<u8> {
    let mut v = Vec::with_capacity(META_HEADER + state.map_or(0, <[u8]>::len));
    v.push(META);
    v.extend_from_slice(&log.to_le_bytes());
    v.extend_from_slice(&first.to_le_bytes());
    v.extend_from_slice(&next.to_le_bytes());
    v.push(u8::from(state.is_some()));
    v.extend_from_slice(state.unwrap_or_default());
    v
}

pub(crate) fn drop_log(log: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    v.push(DROP);
    v.extend_from_slice(&log.to_le_bytes());
    v
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes the entry at shared position `at`.
///
/// # Errors
/// [`ErrorKind::Corruption`] naming `at` for anything but a well-formed
/// entry (the shared log's checksum passed: a bug or a forged file).
pub(crate) fn decode(at: u64, b: &[u8]) -> Result<Entry<'_>> {
    let bad = |what: &str| {
        Error::new(
            ErrorKind::Corruption,
            format!("store entry at shared position {at}: {what}"),
        )
        .at_position(at)
    };
    let (&kind, _) = b.split_first().ok_or_else(|| bad("empty"))?;
    let need = match kind {
        PUT | MOVED => RECORD_HEADER + 1,
        META => META_HEADER,
        DROP => 9,
        k => return Err(bad(&format!("unknown kind {k}"))),
    };
    if b.len() < need {
        return Err(bad(&format!("{} bytes, at least {need} needed", b.len())));
    }
    let log = u64_at(b, 1);
    Ok(match kind {
        PUT | MOVED => {
            let position = u64_at(b, 9);
            let record = &b[RECORD_HEADER..];
            if kind == PUT {
                Entry::Put {
                    log,
                    position,
                    record,
                }
            } else {
                Entry::Moved {
                    log,
                    position,
                    record,
                }
            }
        }
        META => {
            let (first, next) = (u64_at(b, 9), u64_at(b, 17));
            if first > next {
                return Err(bad(&format!("log {log} holds {first}..{next}")));
            }
            let state = match b[25] {
                0 if b.len() == META_HEADER => None,
                1 => Some(&b[META_HEADER..]),
                f => return Err(bad(&format!("state flag {f} with {} bytes", b.len()))),
            };
            Entry::Meta {
                log,
                first,
                next,
                state,
            }
        }
        _ if b.len() == 9 => Entry::Drop { log },
        _ => return Err(bad("a drop entry with trailing bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes docs/FORMAT.md shows, pinned.
    #[test]
    fn entries_have_the_documented_bytes() {
        assert_eq!(
            record(false, 7, 300, b"hi"),
            [1, 7, 0, 0, 0, 0, 0, 0, 0, 44, 1, 0, 0, 0, 0, 0, 0, b'h', b'i']
        );
        assert_eq!(record(true, 7, 300, b"hi")[0], 2);
        let m = meta(7, 5, 9, Some(b"v"));
        assert_eq!(m.len(), 27);
        assert_eq!((m[0], m[9], m[17], m[25], m[26]), (3, 5, 9, 1, b'v'));
        assert_eq!(meta(7, 5, 9, None).len(), 26);
        assert_eq!(drop_log(7), [4, 7, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn every_entry_decodes_to_what_was_encoded() {
        let put = record(false, 1, 2, b"abc");
        assert_eq!(
            decode(0, &put).unwrap(),
            Entry::Put {
                log: 1,
                position: 2,
                record: b"abc"
            }
        );
        let m = meta(3, 4, 4, None);
        assert_eq!(
            decode(0, &m).unwrap(),
            Entry::Meta {
                log: 3,
                first: 4,
                next: 4,
                state: None
            }
        );
        assert_eq!(decode(0, &drop_log(9)).unwrap(), Entry::Drop { log: 9 });
    }

    #[test]
    fn a_malformed_entry_is_corruption_naming_its_position() {
        let mut bad_meta = meta(3, 9, 4, None);
        let mut bad_flag = meta(3, 1, 4, None);
        bad_flag[25] = 7;
        let mut long_drop = drop_log(1);
        long_drop.push(0);
        for b in [
            vec![],
            vec![9, 0, 0],
            record(false, 1, 2, b"")[..RECORD_HEADER].to_vec(),
            std::mem::take(&mut bad_meta),
            bad_flag,
            long_drop,
        ] {
            let e = decode(41, &b).unwrap_err();
            assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(41)));
        }
    }
}
