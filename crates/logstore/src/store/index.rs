//! A store's index of one sealed segment, on disk beside it: where each
//! record of each log is in that segment. A read of a record held in a run
//! ([`super::locs`]) loads its segment's index (a few bytes a record)
//! instead of scanning the segment's entries.
//!
//! An index is only a shortcut: one that is missing, damaged, or not of the
//! segment as it is now, is passed over, and the segment scanned. It names
//! its segment by its first and end positions and by the checksum of its
//! last entry, so an index left from a segment cut back and filled again
//! does not fit. The background pass writes one for each segment sealed,
//! once its entries are durable (`compact::write_indexes`), and removes it
//! with its segment. Format
//! in docs/FORMAT.md, "Store segment index".

use std::collections::HashMap;

use crate::crc::crc32c;
use crate::error::Result;
use crate::log::Log;
use crate::segment::store_index_name;
use crate::store::checkpoint::Reader;
use crate::store::Inner;

const MAGIC: &[u8; 8] = b"LSSINDX\x01";
/// The index format's version.
pub(crate) const VERSION: u32 = 1;
/// Magic, version, flags, first, end, last entry's checksum, number of
/// groups, number of records.
const HEADER: usize = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 4;
/// Log, first position, number of records.
const GROUP: usize = 8 + 8 + 4;

/// Positions `start..start + count` of log `log`, whose records are at
/// the offsets from `index` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    log: u64,
    start: u64,
    count: u32,
    index: u32,
}

/// Where each record of one segment is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SegmentIndex {
    first: u64,
    /// Sorted by log, then position; none overlap.
    groups: Vec<Group>,
    /// Each record's shared position less `first`, group after group.
    offsets: Vec<u32>,
}

impl SegmentIndex {
    /// The index of the segment starting at `first` whose records are at
    /// the shared positions `at` holds, by log and position.
    pub(crate) fn build(first: u64, at: &HashMap<(u64, u64), u64>) -> SegmentIndex {
        let mut keys: Vec<(u64, u64)> = at.keys().copied().collect();
        keys.sort_unstable();
        let mut groups: Vec<Group> = Vec::new();
        let mut offsets = Vec::with_capacity(keys.len());
        for (log, position) in keys {
            let index = offsets.len() as u32;
            offsets.push((at[&(log, position)] - first) as u32);
            match groups.last_mut() {
                Some(g) if g.log == log && g.start + g.count as u64 == position => g.count += 1,
                _ => groups.push(Group {
                    log,
                    start: position,
                    count: 1,
                    index,
                }),
            }
        }
        SegmentIndex {
            first,
            groups,
            offsets,
        }
    }

    /// The shared position of log `log`'s record at `position` in the
    /// segment; `None` if it has none.
    pub(crate) fn find(&self, log: u64, position: u64) -> Option<u64> {
        let i = self
            .groups
            .partition_point(|g| (g.log, g.start) <= (log, position))
            .checked_sub(1)?;
        let g = self.groups[i];
        if g.log != log {
            return None;
        }
        let k = position - g.start;
        (k < g.count as u64)
            .then(|| self.first + self.offsets[(g.index as u64 + k) as usize] as u64)
    }

    /// Bytes of memory it takes, roughly.
    pub(crate) fn bytes(&self) -> u64 {
        (self.groups.capacity() * std::mem::size_of::<Group>() + self.offsets.capacity() * 4) as u64
    }

    /// The index as bytes, for a segment ending at `end` whose last entry's
    /// checksum is `last_crc`.
    pub(crate) fn encode(&self, end: u64, last_crc: u32) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER + self.groups.len() * GROUP + self.offsets.len() * 4 + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.first.to_le_bytes());
        out.extend_from_slice(&end.to_le_bytes());
        out.extend_from_slice(&last_crc.to_le_bytes());
        out.extend_from_slice(&(self.groups.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        for g in &self.groups {
            out.extend_from_slice(&g.log.to_le_bytes());
            out.extend_from_slice(&g.start.to_le_bytes());
            out.extend_from_slice(&g.count.to_le_bytes());
        }
        for o in &self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The index the bytes hold, if they are a whole, well-formed index of
    /// the segment `first..end` whose last entry's checksum is `last_crc`.
    pub(crate) fn decode(b: &[u8], first: u64, end: u64, last_crc: u32) -> Option<SegmentIndex> {
        let (body, crc) = b.split_at_checked(b.len().checked_sub(4)?)?;
        if crc32c(body).to_le_bytes() != crc || !body.starts_with(MAGIC) {
            return None;
        }
        let mut r = Reader::new(body, MAGIC.len());
        if r.u32()? != VERSION || r.u32()? != 0 {
            return None;
        }
        if (r.u64()?, r.u64()?, r.u32()?) != (first, end, last_crc) {
            return None;
        }
        let (groups, records) = (r.u32()? as usize, r.u32()? as usize);
        // The counts must account for the bytes exactly before anything is
        // allocated from them.
        let size = HEADER as u64 + groups as u64 * GROUP as u64 + records as u64 * 4;
        if size != body.len() as u64 || groups > records || records as u64 > end - first {
            return None;
        }
        let mut index = SegmentIndex {
            first,
            groups: Vec::with_capacity(groups),
            offsets: Vec::with_capacity(records),
        };
        let mut total = 0u64;
        for _ in 0..groups {
            let g = Group {
                log: r.u64()?,
                start: r.u64()?,
                count: r.u32()?,
                index: total as u32,
            };
            let follows = match index.groups.last() {
                None => true,
                Some(p) if p.log == g.log => p.start + p.count as u64 <= g.start,
                Some(p) => p.log < g.log,
            };
            if g.count == 0 || !follows || g.start.checked_add(g.count as u64).is_none() {
                return None;
            }
            total += g.count as u64;
            index.groups.push(g);
        }
        if total != records as u64 {
            return None;
        }
        for _ in 0..records {
            let o = r.u32()?;
            if o as u64 >= end - first {
                return None;
            }
            index.offsets.push(o);
        }
        Some(index)
    }
}

/// The checksum of the last entry of the segment ending at `end`, which
/// an index of it names; `None` if that entry cannot be read.
pub(crate) fn last_crc(shared: &Log, end: u64) -> Option<u32> {
    let last = end.checked_sub(1)?;
    shared.read(last).ok().map(|b| crc32c(&b))
}

/// The index of the sealed segment `first..end`, if it has one that fits.
///
/// # Errors
/// [`crate::ErrorKind::Io`] if the file is there but cannot be read.
pub(crate) fn load(shared: &Log, first: u64, end: u64) -> Result<Option<SegmentIndex>> {
    let entries = end.saturating_sub(first);
    let limit = (HEADER as u64 + 4).saturating_add(entries.saturating_mul(GROUP as u64 + 4));
    let Some(bytes) = shared.read_side_file(&store_index_name(first), limit)? else {
        return Ok(None);
    };
    let Some(crc) = last_crc(shared, end) else {
        return Ok(None);
    };
    Ok(SegmentIndex::decode(&bytes, first, end, crc))
}

/// Removes the indexes of segments the shared log no longer has.
///
/// # Errors
/// [`crate::ErrorKind::Io`] if one cannot be removed.
pub(crate) fn remove_dropped(inner: &Inner) -> Result<()> {
    let front = inner.shared.segment_firsts()[0];
    let dropped: Vec<u64> = inner.indexed().range(..front).copied().collect();
    for first in dropped {
        inner.shared.remove_side_file(&store_index_name(first))?;
        inner.indexed().remove(&first);
    }
    Ok(())
}

/// At open: removes the indexes not of a sealed segment of `segs`, and
/// returns the segments that have one.
///
/// # Errors
/// [`crate::ErrorKind::Io`] if the directory cannot be listed or an index
/// removed.
pub(crate) fn tidy(shared: &Log, segs: &[u64]) -> Result<Vec<u64>> {
    let sealed = &segs[..segs.len() - 1];
    let mut kept = Vec::new();
    for first in shared.store_indexes()? {
        if sealed.binary_search(&first).is_ok() {
            kept.push(first);
        } else {
            shared.remove_side_file(&store_index_name(first))?;
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentIndex {
        let mut at = HashMap::new();
        // Log 1: 5..8; log 2: 0..2 and 9; log 7: 3.
        for (i, key) in [(1, 5), (2, 0), (1, 6), (7, 3), (2, 1), (1, 7), (2, 9)]
            .into_iter()
            .enumerate()
        {
            at.insert(key, 100 + i as u64);
        }
        SegmentIndex::build(100, &at)
    }

    #[test]
    fn an_index_finds_each_record_and_nothing_else() {
        let idx = sample();
        assert_eq!(idx.groups.len(), 4);
        for (log, position, at) in [
            (1, 5, 100),
            (1, 6, 102),
            (1, 7, 105),
            (2, 0, 101),
            (2, 1, 104),
            (2, 9, 106),
            (7, 3, 103),
        ] {
            assert_eq!(idx.find(log, position), Some(at), "{log} {position}");
        }
        for (log, position) in [
            (1, 4),
            (1, 8),
            (2, 2),
            (2, 8),
            (3, 0),
            (7, 2),
            (0, 0),
            (9, 9),
        ] {
            assert_eq!(idx.find(log, position), None, "{log} {position}");
        }
    }

    #[test]
    fn an_index_reads_back_and_refuses_any_damage_or_another_segment() {
        let idx = sample();
        let b = idx.encode(110, 0xabcd);
        assert_eq!(SegmentIndex::decode(&b, 100, 110, 0xabcd), Some(sample()));
        // Another segment, or this one cut back and filled again.
        assert_eq!(SegmentIndex::decode(&b, 100, 111, 0xabcd), None);
        assert_eq!(SegmentIndex::decode(&b, 99, 110, 0xabcd), None);
        assert_eq!(SegmentIndex::decode(&b, 100, 110, 0xabce), None);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert_eq!(SegmentIndex::decode(&d, 100, 110, 0xabcd), None, "byte {i}");
            assert_eq!(
                SegmentIndex::decode(&b[..i], 100, 110, 0xabcd),
                None,
                "cut at {i}"
            );
        }
    }

    #[test]
    fn a_forged_index_with_a_right_checksum_is_refused() {
        let forge = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = sample().encode(110, 7);
            b.truncate(b.len() - 4);
            f(&mut b);
            let crc = crc32c(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            SegmentIndex::decode(&b, 100, 110, 7)
        };
        assert!(forge(&|_| {}).is_some());
        // A huge record count: refused without allocating it.
        assert_eq!(
            forge(&|b| b[40..44].copy_from_slice(&u32::MAX.to_le_bytes())),
            None
        );
        // Groups out of order (log 2 before log 1).
        assert_eq!(
            forge(&|b| b[HEADER..HEADER + 8].copy_from_slice(&9u64.to_le_bytes())),
            None
        );
        // An offset past the segment's end.
        assert_eq!(
            forge(&|b| {
                let n = b.len();
                b[n - 4..].copy_from_slice(&10u32.to_le_bytes())
            }),
            None
        );
        // A group of no records.
        assert_eq!(
            forge(&|b| b[HEADER + 16..HEADER + 20].copy_from_slice(&0u32.to_le_bytes())),
            None
        );
    }
}
