//! Position → byte offset.
//!
//! The active segment keeps its record offsets in memory. A sealed segment
//! has an index file (`<first>.idx`, docs/FORMAT.md) holding the offset of
//! each of its records; it is loaded on demand into a bounded cache, and
//! rebuilt from the segment if missing or damaged. Memory for the index is
//! thus bounded by the cache budget plus the active segment, whatever the
//! size of the log.

use crate::sync::atomic::{AtomicU64, Ordering};
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{self, Error};
use crate::fs::{read_exact_at, Fs, FsFile, OpenMode};
use crate::header::{FileHeader, LogId, HEADER_LEN, INDEX_MAGIC};
use crate::segment;
use crate::sync::Mutex;

mod cache;

pub(crate) use cache::IndexCache;

/// The offset given to a dead position (before the first position) whose
/// frame was not known when the segment's offsets were loaded. No frame is
/// at 0 (the file header is), so reading there fails the frame checks.
pub(crate) const DEAD: u64 = 0;

/// What the index of a sealed segment must describe.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extent {
    /// First position of the segment (its name).
    pub first: u64,
    /// First position whose offset is known.
    pub base: u64,
    /// Position after its last record.
    pub end: u64,
    /// Length of the segment file.
    pub data_end: u64,
}

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

impl IndexHeader {
    /// Whether this header can describe the segment `e`: no offsets
    /// before its base, the same end, and a count that fits its bytes.
    fn matches(&self, e: &Extent) -> bool {
        self.base >= e.base && self.end_position() == e.end && self.fits(e.data_end)
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
    check_len(file, h)?;
    let mut check = BodyCheck::new(h, data_end);
    // A file whose blocks are all allocated really holds what its header
    // counts: then the offsets get their room at once, instead of being
    // copied as they grow.
    let want = HEADER_LEN as u64 + h.body_len();
    if file.allocated_bytes().is_ok_and(|a| a >= want) {
        check.offsets.reserve_exact(h.count as usize);
    }
    for_each_piece(file, h, |piece| check.feed(piece))?;
    check.finish()
}

/// Calls `f` with the body of the index `file` (header `h`) in pieces of
/// at most 1 MiB, in order: a sparse file makes any length free, and
/// nothing is allocated on its word.
fn for_each_piece(
    file: &dyn FsFile,
    h: &IndexHeader,
    mut f: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    const PIECE: u64 = 1 << 20;
    let body_len = h.body_len();
    let mut buf = vec![0u8; body_len.min(PIECE) as usize];
    let mut at = 0;
    while at < body_len {
        let n = (body_len - at).min(PIECE) as usize;
        read_exact_at(file, &mut buf[..n], HEADER_LEN as u64 + at)
            .map_err(|e| format!("cannot read the index: {e}"))?;
        f(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// Checks that the index `file` (header `h`) is as long as its header
/// says.
fn check_len(file: &dyn FsFile, h: &IndexHeader) -> Result<(), String> {
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
    Ok(())
}

/// The segment length an index records, once the whole body is checked
/// (length and checksum; the offsets are not kept): a claim that bytes
/// were synced is believed only from an intact file.
pub(crate) fn checked_end(file: &dyn FsFile, h: &IndexHeader) -> Option<u64> {
    check_len(file, h).ok()?;
    let mut sum = 0u32;
    let mut last = [0u8; 8];
    for_each_piece(file, h, |piece| {
        sum = crc32c::crc32c_append(sum, piece);
        last.copy_from_slice(&piece[piece.len() - 8..]);
        Ok(())
    })
    .ok()?;
    (sum == h.body_crc).then_some(u64::from_le_bytes(last))
}

/// The segment length an index records, from its last word alone (the
/// body is checked when it is loaded).
pub(crate) fn recorded_end(file: &dyn FsFile, h: &IndexHeader) -> Option<u64> {
    let mut end = [0u8; 8];
    read_exact_at(file, &mut end, HEADER_LEN as u64 + h.count * 8).ok()?;
    Some(u64::from_le_bytes(end))
}

/// Opens the index file at `path` and checks its header against the
/// segment `first` of the log `log_id`; `None` if it is missing or does
/// not belong to that segment.
pub(crate) fn open_checked(
    fs: &dyn Fs,
    path: &Path,
    log_id: &LogId,
    first: u64,
) -> Option<(Arc<dyn FsFile>, IndexHeader)> {
    let file = fs.open(path, OpenMode::Read).ok()?;
    let mut h = [0u8; HEADER_LEN];
    read_exact_at(&*file, &mut h, 0).ok()?;
    let header = decode_header(&h, log_id, first).ok()?;
    Some((file, header))
}

/// What a sealed segment holds of its index file: the file, once opened
/// and its header checked, for point lookups when the whole index is not
/// cached, and how often it was looked up.
#[derive(Debug, Default)]
pub(crate) struct SegmentIndex {
    open: Mutex<Option<(Arc<dyn FsFile>, IndexHeader)>>,
    /// Point lookups made since the whole index was last loaded: once a
    /// segment is read often enough, loading its index costs less than
    /// one more read of the index file per record read.
    point_lookups: AtomicU64,
}

/// The index files of a log's sealed segments, and the bounded cache of
/// the offsets loaded from them.
#[derive(Debug)]
pub(crate) struct Indexes {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    log_id: LogId,
    budget: usize,
    cache: Mutex<IndexCache>,
}

impl Indexes {
    pub(crate) fn new(fs: Arc<dyn Fs>, dir: PathBuf, log_id: LogId, budget: usize) -> Self {
        Indexes {
            fs,
            dir,
            log_id,
            budget,
            cache: Mutex::new(IndexCache::new(budget)),
        }
    }

    fn cache(&self) -> crate::sync::MutexGuard<'_, IndexCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index file of the segment `first`.
    pub(crate) fn path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::index_name(first))
    }

    /// The offsets of the segment `first`, if cached.
    pub(crate) fn cached(&self, first: u64) -> Option<Arc<[u64]>> {
        self.cache().get(first)
    }

    pub(crate) fn insert(&self, first: u64, offsets: Arc<[u64]>) {
        self.cache().insert(first, offsets);
    }

    /// Forgets the cached offsets of the segments `firsts`.
    pub(crate) fn forget(&self, firsts: impl IntoIterator<Item = u64>) {
        let mut cache = self.cache();
        for f in firsts {
            cache.remove(f);
        }
    }

    /// Forgets every cached offset (a read-only view was rebuilt).
    pub(crate) fn forget_all(&self) {
        *self.cache() = IndexCache::new(self.budget);
    }

    /// The index file of the segment `e` with its header, if it is there
    /// and its header can describe the segment.
    fn open_matching(&self, e: &Extent) -> Option<(Arc<dyn FsFile>, IndexHeader)> {
        open_checked(&*self.fs, &self.path(e.first), &self.log_id, e.first)
            .filter(|(_, h)| h.matches(e))
    }

    /// The offsets of the segment `e`: from the cache, its index file, or
    /// failing those `rebuild` (a scan of the segment); aligned on its
    /// base.
    pub(crate) fn load(
        &self,
        e: &Extent,
        rebuild: impl FnOnce() -> error::Result<Vec<u64>>,
    ) -> error::Result<Arc<[u64]>> {
        if let Some(v) = self.cached(e.first) {
            return Ok(v);
        }
        let offsets: Arc<[u64]> = match self.read(e) {
            Some(v) => v.into(),
            None => rebuild()?.into(),
        };
        self.insert(e.first, offsets.clone());
        Ok(offsets)
    }

    /// The offsets the index file of `e` holds, whole and checked,
    /// aligned on the segment's base.
    fn read(&self, e: &Extent) -> Option<Vec<u64>> {
        let (file, header) = self.open_matching(e)?;
        let live = read_body(&*file, &header, e.data_end).ok()?;
        let mut offsets = vec![DEAD; (header.base - e.base) as usize];
        offsets.extend_from_slice(&live);
        Some(offsets)
    }

    /// Writes the index file of the segment `e`, whose offsets (aligned
    /// on its base) are `offsets`: to a temporary name, then renamed, so
    /// that a reader never sees half of one. The rename is made while
    /// the guard `still_sealed` returns is held, and only if it returns
    /// one: a `truncate_back` may have reopened the segment for appends
    /// meanwhile, and an index found after that would describe records
    /// that are gone.
    pub(crate) fn write<G>(
        &self,
        e: &Extent,
        offsets: &[u64],
        still_sealed: impl FnOnce() -> Option<G>,
    ) -> error::Result<()> {
        let dead = offsets.iter().take_while(|&&o| o == DEAD).count();
        let bytes = encode(
            &self.log_id,
            e.first,
            e.base + dead as u64,
            &offsets[dead..],
            e.data_end,
        );
        let path = self.path(e.first);
        let tmp = path.with_extension("idx.tmp");
        let _ = self.fs.remove_file(&tmp);
        let file = self
            .fs
            .open(&tmp, OpenMode::CreateNew)
            .map_err(|err| Error::io("create", &tmp, err))?;
        file.write_all_at(&[IoSlice::new(&bytes)], 0)
            .map_err(|err| Error::io("write", &tmp, err))?;
        drop(file);
        let Some(guard) = still_sealed() else {
            let _ = self.fs.remove_file(&tmp);
            return Ok(());
        };
        let r = self
            .fs
            .rename(&tmp, &path)
            .map_err(|err| Error::io("rename", &path, err));
        drop(guard);
        r
    }

    /// The byte range of `pos` in the sealed segment `e` read straight
    /// from its index file: the offset and the next one (or the data end,
    /// which follows the offsets). `None` if the index file is missing,
    /// stale or says something impossible; the caller then loads the
    /// whole index, which is checked against its checksum and rebuilt if
    /// need be. What this returns is checked again by the record's own
    /// checksum and position.
    pub(crate) fn point(&self, ix: &SegmentIndex, e: &Extent, pos: u64) -> Option<(u64, u64)> {
        let mut slot = ix.open.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(self.open_matching(e)?);
        }
        let (file, header) = slot.as_ref()?;
        let i = pos.checked_sub(header.base)?;
        if i >= header.count {
            return None;
        }
        let mut pair = [0u8; 16];
        read_exact_at(&**file, &mut pair, HEADER_LEN as u64 + i * 8).ok()?;
        let offset = u64::from_le_bytes(pair[..8].try_into().ok()?);
        let end = u64::from_le_bytes(pair[8..].try_into().ok()?);
        let sane = offset >= HEADER_LEN as u64
            && end <= e.data_end
            && end.checked_sub(offset)? >= crate::frame::frame_len(1);
        sane.then_some((offset, end))
    }

    /// Whether a sealed segment whose index is not cached is read often
    /// enough that its whole index should be loaded: after point lookups
    /// for a 64th of its records (each costs a read of the index file;
    /// loading costs 8 bytes a record), and only if it fits in half the
    /// cache, so that one segment never evicts all the others.
    pub(crate) fn is_hot(&self, ix: &SegmentIndex, e: &Extent) -> bool {
        let records = e.end - e.base;
        let fits = records.saturating_mul(8) <= self.budget as u64 / 2;
        let lookups = ix.point_lookups.fetch_add(1, Ordering::Relaxed);
        if fits && lookups >= (records / 64).max(64) {
            ix.point_lookups.store(0, Ordering::Relaxed);
            return true;
        }
        false
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
