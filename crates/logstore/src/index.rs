//! Position → byte offset.
//!
//! The active segment keeps its record offsets in memory. A sealed segment
//! has an index file (`<first>.idx`, docs/FORMAT.md) holding the offset of
//! each of its records; it is loaded on demand into a bounded cache, and
//! rebuilt from the segment if missing or damaged. Memory for the index is
//! thus bounded by the cache budget plus the active segment, whatever the
//! size of the log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::fs::{read_exact_at, FsFile};
use crate::header::{FileHeader, LogId, HEADER_LEN, INDEX_MAGIC};

/// The header fields of an index file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexHeader {
    /// First position of the segment (as in its name).
    pub first: u64,
    /// Position of the first offset listed (`first`, unless the segment's
    /// front was truncated before the index was rebuilt).
    pub base: u64,
    /// Number of offsets listed.
    pub count: u64,
    pub(crate) body_crc: u32,
}

impl IndexHeader {
    /// Position after the segment's last record.
    pub(crate) fn end_position(&self) -> u64 {
        self.base + self.count
    }

    /// Bytes of the body that follows the header.
    pub(crate) fn body_len(&self) -> u64 {
        self.count * 8 + 8
    }

    /// Whether `count` records can fit in a segment of `data_end` bytes
    /// (each takes at least a frame header and one byte). Checked before
    /// the body is read, so that a forged count never sizes an allocation.
    pub(crate) fn fits(&self, data_end: u64) -> bool {
        self.count <= data_end.saturating_sub(HEADER_LEN as u64) / crate::frame::frame_len(1)
    }
}

/// Serializes an index file: header, one u64 offset per record, then the
/// segment's data end.
pub(crate) fn encode(
    log_id: &LogId,
    first: u64,
    base: u64,
    offsets: &[u64],
    data_end: u64,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(offsets.len() * 8 + 8);
    for o in offsets {
        body.extend_from_slice(&o.to_le_bytes());
    }
    body.extend_from_slice(&data_end.to_le_bytes());
    let header = FileHeader {
        magic: INDEX_MAGIC,
        log_id: *log_id,
        fields: [first, base, offsets.len() as u64],
        extra: crc32c::crc32c(&body),
    };
    let mut out = header.encode().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Checks an index file's header against its segment.
pub(crate) fn decode_header(
    bytes: &[u8; HEADER_LEN],
    log_id: &LogId,
    first: u64,
) -> Result<IndexHeader, String> {
    let h = FileHeader::decode(bytes, INDEX_MAGIC, Some(log_id)).map_err(|e| e.to_string())?;
    let [f, base, count] = h.fields;
    if f != first {
        return Err(format!("index is for segment {f}, not {first}"));
    }
    if base < first || count > (1 << 40) || base.checked_add(count).is_none() {
        return Err(format!(
            "index header is inconsistent (base {base}, count {count})"
        ));
    }
    Ok(IndexHeader {
        first,
        base,
        count,
        body_crc: h.extra,
    })
}

/// Checks an index body word by word, so that it can be read in pieces:
/// each offset is checked as it comes, and a forged count fails at its
/// first impossible offset instead of sizing an allocation.
struct BodyCheck<'a> {
    h: &'a IndexHeader,
    data_end: u64,
    offsets: Vec<u64>,
    end: Option<u64>,
    at_least: u64,
    crc: u32,
}

impl<'a> BodyCheck<'a> {
    fn new(h: &'a IndexHeader, data_end: u64) -> Self {
        BodyCheck {
            h,
            data_end,
            offsets: Vec::new(),
            end: None,
            at_least: HEADER_LEN as u64,
            crc: 0,
        }
    }

    /// Takes the next piece of the body (a whole number of words).
    fn feed(&mut self, piece: &[u8]) -> Result<(), String> {
        self.crc = crc32c::crc32c_append(self.crc, piece);
        let min_gap = crate::frame::frame_len(1);
        for c in piece.chunks_exact(8) {
            let o = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            if self.offsets.len() as u64 == self.h.count {
                if self.end.replace(o).is_some() {
                    return Err("index body is longer than its header says".into());
                }
                continue;
            }
            if o < self.at_least || o.checked_add(min_gap).is_none_or(|e| e > self.data_end) {
                return Err(format!("index offset {o} out of order or past the data"));
            }
            // The first record follows the header, and maybe sync marks
            // (16 bytes each, a few at most: docs/FORMAT.md).
            let gap = o.saturating_sub(HEADER_LEN as u64);
            let first_ok =
                gap.is_multiple_of(crate::frame::MARK_LEN) && gap <= 4 * crate::frame::MARK_LEN;
            if self.h.base == self.h.first && self.offsets.is_empty() && !first_ok {
                return Err("index does not start at the first record".into());
            }
            self.at_least = o + min_gap;
            self.offsets.push(o);
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u64>, String> {
        if self.crc != self.h.body_crc {
            return Err("index checksum mismatch".into());
        }
        let end = self
            .end
            .ok_or("index body is shorter than its header says")?;
        if end != self.data_end {
            return Err(format!(
                "index says the segment ends at byte {end}, the file has {} bytes",
                self.data_end
            ));
        }
        Ok(self.offsets)
    }
}

/// Decodes and checks the body; `data_end` is the segment file's length.
#[cfg(test)]
pub(crate) fn decode_body(h: &IndexHeader, body: &[u8], data_end: u64) -> Result<Vec<u64>, String> {
    if body.len() as u64 != h.body_len() {
        return Err(format!(
            "index body is {} bytes, header says {} records",
            body.len(),
            h.count
        ));
    }
    let mut check = BodyCheck::new(h, data_end);
    check.feed(body)?;
    check.finish()
}

/// Reads and checks the body of the index file `file`, whose header is
/// `h`, for a segment of `data_end` bytes.
///
/// The count in a header is easy to forge, and a sparse file makes any
/// length free, so nothing is allocated on the header's word: the file's
/// length must match the count first, then the body is read in pieces of
/// at most 1 MiB and every offset checked as it is read. The offsets held
/// are thus never more than the file really holds, increasing and within
/// the segment (zeros, what a sparse file reads as, fail at once), and the
/// checksum decides before any of them is used.
pub(crate) fn read_body(
    file: &dyn FsFile,
    h: &IndexHeader,
    data_end: u64,
) -> Result<Vec<u64>, String> {
    let file_len = file
        .len()
        .map_err(|e| format!("cannot stat the index: {e}"))?;
    let want = HEADER_LEN as u64 + h.body_len();
    if file_len != want {
        return Err(format!(
            "index file is {file_len} bytes, its header says {} records ({want} bytes)",
            h.count
        ));
    }
    const PIECE: u64 = 1 << 20;
    let mut buf = vec![0u8; h.body_len().min(PIECE) as usize];
    let mut check = BodyCheck::new(h, data_end);
    // A file whose blocks are all allocated really holds what its header
    // counts: then the offsets get their room at once, instead of being
    // copied as they grow.
    if file.allocated_bytes().is_ok_and(|a| a >= want) {
        check.offsets.reserve_exact(h.count as usize);
    }
    let mut at = 0;
    while at < h.body_len() {
        let n = (h.body_len() - at).min(PIECE) as usize;
        read_exact_at(file, &mut buf[..n], HEADER_LEN as u64 + at)
            .map_err(|e| format!("cannot read the index: {e}"))?;
        check.feed(&buf[..n])?;
        at += n as u64;
    }
    check.finish()
}

/// A bounded cache of loaded sealed-segment indexes, keyed by the segment's
/// first position, evicting the least recently loaded.
#[derive(Debug)]
pub(crate) struct IndexCache {
    // A B-tree: a few hundred entries at most, and looked up on every
    // read, where hashing a key with SipHash costs more than a search.
    map: BTreeMap<u64, Arc<[u64]>>,
    order: VecDeque<u64>,
    bytes: usize,
    budget: usize,
}

impl IndexCache {
    pub(crate) fn new(budget: usize) -> Self {
        IndexCache {
            map: BTreeMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    pub(crate) fn get(&self, first: u64) -> Option<Arc<[u64]>> {
        self.map.get(&first).cloned()
    }

    pub(crate) fn insert(&mut self, first: u64, offsets: Arc<[u64]>) {
        let size = offsets.len() * 8;
        // A segment's offsets can be replaced by others of another length
        // (a segment sealed again after `truncate_back` reopened it, with a
        // reader's load racing in between): count what is held now.
        match self.map.insert(first, offsets) {
            None => self.order.push_back(first),
            Some(old) => self.bytes -= old.len() * 8,
        }
        self.bytes += size;
        while self.bytes > self.budget && self.order.len() > 1 {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len() * 8;
            }
        }
    }

    pub(crate) fn remove(&mut self, first: u64) {
        if let Some(v) = self.map.remove(&first) {
            self.bytes -= v.len() * 8;
            self.order.retain(|&f| f != first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let offsets = [64, 100, 200];
        let bytes = encode(&[3; 16], 10, 10, &offsets, 300);
        let h = decode_header(bytes[..64].try_into().unwrap(), &[3; 16], 10).unwrap();
        assert_eq!((h.base, h.count, h.end_position()), (10, 3, 13));
        assert_eq!(decode_body(&h, &bytes[64..], 300).unwrap(), offsets);
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&[3; 16], 10, 10, &[64, 100, 200], 300);
        let h = decode_header(bytes[..64].try_into().unwrap(), &[3; 16], 10).unwrap();
        let mut body = bytes[64..].to_vec();
        body[9] ^= 1;
        assert!(decode_body(&h, &body, 300).is_err());
        assert!(decode_body(&h, &bytes[64..80], 300).is_err());
        assert!(decode_body(&h, &bytes[64..], 301).is_err());
        assert!(decode_header(bytes[..64].try_into().unwrap(), &[3; 16], 11).is_err());
        let disorder = encode(&[3; 16], 10, 10, &[64, 200, 100], 300);
        let h = decode_header(disorder[..64].try_into().unwrap(), &[3; 16], 10).unwrap();
        assert!(decode_body(&h, &disorder[64..], 300).is_err());
    }

    #[test]
    fn offset_near_the_end_of_the_u64_range_is_refused() {
        // A forged index (its checksums are easy to recompute) must give
        // an error, not overflow while checking the offsets.
        let bytes = encode(&[3; 16], 10, 11, &[u64::MAX - 5], 300);
        let h = decode_header(bytes[..64].try_into().unwrap(), &[3; 16], 10).unwrap();
        assert!(decode_body(&h, &bytes[64..], 300)
            .unwrap_err()
            .contains("past the data"));
    }

    #[test]
    fn count_must_fit_in_the_segment() {
        let bytes = encode(&[3; 16], 10, 10, &[64, 100], 64 + 2 * 17);
        let h = decode_header(bytes[..64].try_into().unwrap(), &[3; 16], 10).unwrap();
        assert!(h.fits(64 + 2 * 17));
        assert!(!h.fits(64 + 2 * 17 - 1));
        assert!(!h.fits(0));
    }

    #[test]
    fn cache_counts_replaced_offsets() {
        let mut c = IndexCache::new(1 << 20);
        c.insert(1, vec![64u64; 4].into());
        c.insert(1, vec![64u64; 100].into());
        assert_eq!(c.bytes, 800);
        c.insert(2, vec![64u64; 10].into());
        c.remove(1);
        c.remove(2);
        assert_eq!(c.bytes, 0);
        assert!(c.order.is_empty());
    }

    #[test]
    fn cache_stays_within_budget() {
        let mut c = IndexCache::new(64);
        for i in 0..10u64 {
            c.insert(i, vec![0u64; 4].into());
        }
        assert!(c.bytes <= 64);
        assert!(c.get(9).is_some());
        assert!(c.get(0).is_none());
        c.remove(9);
        assert!(c.get(9).is_none());
    }
}
