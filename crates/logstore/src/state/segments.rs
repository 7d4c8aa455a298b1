//! The segments of a log: the sealed ones, in order, and the active one
//! that receives appends, with the write buffer that follows its data.
//!
//! Invariants, kept by the methods below (the fields are private):
//! - `first <= next()`; positions `first..next()` are readable, and
//!   `next()` is where the active segment's records end.
//! - `sealed` is sorted; each sealed segment ends (`end`) where the next
//!   one (or the active one) starts.
//! - The active segment's file holds `written` bytes; `buf` holds framed
//!   records that follow them and are not yet written to the OS;
//!   `offsets` has one entry per record of the segment from `base` on.

use std::io::IoSlice;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::frame;
use crate::fs::FsFile;
use crate::header::HEADER_LEN as FILE_HEADER_LEN;
use crate::index::{Extent, SegmentIndex, DEAD};
use crate::meta::Meta;
use crate::segment::scan;

use super::zeros::Zeros;

/// Records at least this long are written from the caller's buffer with a
/// vectored write instead of being copied into the write buffer.
pub(crate) const LARGE_RECORD: usize = 64 << 10;

/// A segment that no longer receives records. Immutable once made.
#[derive(Debug)]
pub(crate) struct Sealed {
    /// First position of the segment (its name).
    pub first: u64,
    /// First position whose offset is known (see `index::IndexHeader`).
    pub base: u64,
    /// Position after the segment's last record.
    pub end: u64,
    /// Length of the segment file: the end of its data.
    pub data_end: u64,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// Its index file, for point lookups.
    pub index: SegmentIndex,
}

impl Sealed {
    pub(crate) fn new(
        first: u64,
        base: u64,
        end: u64,
        data_end: u64,
        path: PathBuf,
        file: Arc<dyn FsFile>,
    ) -> Arc<Self> {
        Arc::new(Sealed {
            first,
            base,
            end,
            data_end,
            path,
            file,
            index: SegmentIndex::default(),
        })
    }

    /// Scans the segment for its offsets, aligned on `base`. When the
    /// front was truncated into the segment after `base`, the scan starts
    /// at the first kept record and the dead positions before it get the
    /// offset [`DEAD`]: their bytes may be punched out, and they are never
    /// read (positions before the first one are refused first).
    pub(crate) fn rebuild_offsets(&self, meta: &Meta, max_record_size: usize) -> Result<Vec<u64>> {
        let (offset, position) = meta.scan_start(self.first);
        let Some(dead) = position.checked_sub(self.base) else {
            return Err(Error::corruption(
                &self.path,
                offset,
                format!(
                    "the meta file's first position {position} is before the segment's {}",
                    self.base
                ),
            ));
        };
        // The dead records lay before `offset`, each a frame of at least a
        // byte: a forged first position must not size the padding below.
        if dead > offset.saturating_sub(FILE_HEADER_LEN as u64) / frame::frame_len(1) {
            return Err(Error::corruption(
                &self.path,
                offset,
                format!(
                    "the meta file puts position {position} at byte {offset}, \
                     past more records than fit before it"
                ),
            ));
        }
        let s = scan::scan(&self.file, offset, position, self.data_end, max_record_size)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if let Some(d) = s.damage {
            return Err(Error::corruption(&self.path, d.offset, d.reason));
        }
        if s.next_position != self.end {
            return Err(Error::corruption(
                &self.path,
                self.data_end,
                format!(
                    "segment ends at position {}, the next segment starts at {}",
                    s.next_position, self.end
                ),
            ));
        }
        let mut offsets = vec![DEAD; dead as usize];
        offsets.extend_from_slice(&s.offsets);
        Ok(offsets)
    }

    /// What an index of this segment must describe.
    pub(crate) fn extent(&self) -> Extent {
        Extent {
            first: self.first,
            base: self.base,
            end: self.end,
            data_end: self.data_end,
        }
    }
}

/// The segment receiving appends.
#[derive(Debug)]
pub(crate) struct Active {
    pub first: u64,
    /// Position of `offsets[0]`.
    pub base: u64,
    offsets: Vec<u64>,
    /// Bytes of the file written to the OS; the write buffer follows them.
    written: u64,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// The zeros written ahead of its data.
    zeros: Zeros,
}

impl Active {
    /// A segment whose data ends at byte `written`, with no preallocated
    /// space after it.
    pub(crate) fn new(
        first: u64,
        base: u64,
        offsets: Vec<u64>,
        written: u64,
        path: PathBuf,
        file: Arc<dyn FsFile>,
    ) -> Self {
        Active {
            first,
            base,
            offsets,
            written,
            path,
            file,
            zeros: Zeros::none(written),
        }
    }

    /// The same segment, found with zeros written ahead of its data up
    /// to byte `end` (recovery keeps them for the next appends).
    pub(crate) fn with_zeros_to(mut self, end: u64) -> Self {
        self.zeros.cut_to(end.max(self.written));
        self
    }

    pub(crate) fn end_position(&self) -> u64 {
        self.base + self.offsets.len() as u64
    }

    pub(crate) fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Bytes of the file written to the OS.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn zeros(&self) -> &Zeros {
        &self.zeros
    }
}

/// Where [`Segments::undo`] goes back to.
pub(crate) struct Mark {
    offsets: usize,
    buf: usize,
}

/// The sealed segments, the active one and the write buffer.
#[derive(Debug)]
pub(crate) struct Segments {
    first: u64,
    sealed: Vec<Arc<Sealed>>,
    active: Active,
    buf: Vec<u8>,
}

impl Segments {
    pub(crate) fn new(first: u64, sealed: Vec<Arc<Sealed>>, active: Active) -> Self {
        debug_assert!(first <= active.end_position());
        Segments {
            first,
            sealed,
            active,
            buf: Vec::new(),
        }
    }

    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    pub(crate) fn next(&self) -> u64 {
        self.active.end_position()
    }

    pub(crate) fn sealed(&self) -> &[Arc<Sealed>] {
        &self.sealed
    }

    pub(crate) fn active(&self) -> &Active {
        &self.active
    }

    /// The framed bytes not yet written to the OS.
    pub(crate) fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// Where the next record's bytes go in the active segment file.
    pub(crate) fn data_end(&self) -> u64 {
        self.active.written + self.buf.len() as u64
    }

    /// The sealed segment holding `pos`, if `pos` is below the active one.
    pub(crate) fn sealed_holding(&self, pos: u64) -> Option<&Arc<Sealed>> {
        let i = self.sealed.partition_point(|s| s.end <= pos);
        self.sealed.get(i).filter(|s| s.base <= pos)
    }

    pub(crate) fn zeros_mut(&mut self) -> &mut Zeros {
        &mut self.active.zeros
    }

    /// Cuts the zeros written ahead off the active segment.
    pub(crate) fn trim_zeros(&mut self) -> crate::error::Result<()> {
        let a = &mut self.active;
        a.zeros.trim(&a.file, &a.path, a.written)
    }

    /// Where the log stands before a batch, to undo it if it fails.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            offsets: self.active.offsets.len(),
            buf: self.buf.len(),
        }
    }

    /// Forgets the records framed since `m` (none of them reached the
    /// file: a large record's failed write is the batch's last step).
    pub(crate) fn undo(&mut self, m: Mark) {
        self.active.offsets.truncate(m.offsets);
        self.buf.truncate(m.buf);
    }

    /// Frames `records` as one batch at the end of the active segment:
    /// small ones into the buffer, large ones written at once with what
    /// the buffer holds, from the caller's memory.
    pub(crate) fn frame_all(&mut self, records: &[&[u8]]) -> std::io::Result<()> {
        for (i, r) in records.iter().enumerate() {
            let continues = i + 1 < records.len();
            let pos = self.next();
            let offset = self.data_end();
            if r.len() >= LARGE_RECORD {
                let header = frame::encode_header(pos, r, continues);
                let bufs = [
                    IoSlice::new(&self.buf),
                    IoSlice::new(&header),
                    IoSlice::new(r),
                ];
                self.active.file.write_all_at(&bufs, self.active.written)?;
                self.active.written += self.buf.len() as u64 + frame::frame_len(r.len());
                self.buf.clear();
            } else {
                frame::encode_into(&mut self.buf, pos, r, continues);
            }
            self.active.offsets.push(offset);
        }
        Ok(())
    }

    /// Adds framed bytes that are not a record (a sync mark) to the buffer.
    pub(crate) fn push_framed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes `bytes` (not a record) at the data's end, straight to the
    /// file; the buffer must be empty.
    pub(crate) fn write_direct(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        debug_assert!(self.buf.is_empty());
        let a = &mut self.active;
        a.file.write_all_at(&[IoSlice::new(bytes)], a.written)?;
        a.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the buffer to the active segment file.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let a = &mut self.active;
        a.file.write_all_at(&[IoSlice::new(&self.buf)], a.written)?;
        a.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Makes `next` the active segment, the old one sealed (its buffer
    /// written and zeros cut off by the caller); returns the sealed one
    /// and its offsets.
    pub(crate) fn roll(&mut self, next: Active) -> (Arc<Sealed>, Vec<u64>) {
        debug_assert!(self.buf.is_empty() && next.base == self.next());
        let end = next.base;
        let old = std::mem::replace(&mut self.active, next);
        let sealed = Sealed::new(old.first, old.base, end, old.written, old.path, old.file);
        self.sealed.push(sealed.clone());
        (sealed, old.offsets)
    }

    /// Drops every record: the log is empty from `pos` on, in the new
    /// active segment `fresh`. Returns the segments dropped.
    pub(crate) fn restart(&mut self, pos: u64, fresh: Active) -> (Vec<Arc<Sealed>>, Active) {
        debug_assert!(fresh.base == pos && fresh.offsets.is_empty());
        self.buf.clear();
        self.first = pos;
        let old = std::mem::replace(&mut self.active, fresh);
        (std::mem::take(&mut self.sealed), old)
    }

    /// Drops the positions before `pos` (not past `next`); returns the
    /// sealed segments that hold none of the rest.
    pub(crate) fn drop_front(&mut self, pos: u64) -> Vec<Arc<Sealed>> {
        debug_assert!(pos <= self.next());
        self.first = self.first.max(pos);
        let dead = self.sealed.partition_point(|s| s.end <= pos);
        self.sealed.drain(..dead).collect()
    }

    /// Cuts the active segment at its record `i`, at byte `off` (the
    /// file was cut there by the caller; the buffer is empty).
    pub(crate) fn cut_active(&mut self, i: usize, off: u64) {
        debug_assert!(self.buf.is_empty());
        let a = &mut self.active;
        a.offsets.truncate(i);
        a.written = off;
        a.zeros.cut_to(off);
    }

    /// Makes the sealed segment `k` active again, holding `offsets`
    /// (its records before the cut, whose file now ends at `off`), and
    /// drops every later segment; returns the segments dropped.
    pub(crate) fn reopen_sealed(
        &mut self,
        k: usize,
        offsets: Vec<u64>,
        off: u64,
    ) -> Vec<Arc<Sealed>> {
        debug_assert!(self.buf.is_empty());
        let seg = self.sealed[k].clone();
        let dropped = self.sealed.drain(k..).collect();
        self.active = Active::new(
            seg.first,
            seg.base,
            offsets,
            off,
            seg.path.clone(),
            seg.file.clone(),
        );
        dropped
    }

    /// Index of the sealed segment holding `pos`.
    pub(crate) fn sealed_index(&self, pos: u64) -> usize {
        self.sealed.partition_point(|s| s.end <= pos)
    }

    /// A read-only view's active segment grew: `offsets` follow, and the
    /// data now ends at `end`.
    pub(crate) fn extend_active(&mut self, offsets: &[u64], end: u64) {
        self.active.offsets.extend_from_slice(offsets);
        self.active.written = end;
    }
}

/// What a log holds in one segment file, as its state says: for
/// [`crate::Log::stats`] and [`verify`].
pub(crate) struct SegmentSummary {
    /// The position its file is named after.
    pub first: u64,
    /// The positions of its records: from its first one (dead ones
    /// included) to the one after its last.
    pub positions: Range<u64>,
    /// Where its data ends (for the active segment, with what is still
    /// buffered).
    pub data_end: u64,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// The segment, if it is sealed (it has an index).
    pub sealed: Option<Arc<Sealed>>,
}

impl SegmentSummary {
    /// Every segment of `segs`, oldest first; the active one last.
    pub(crate) fn all(segs: &Segments) -> Vec<SegmentSummary> {
        let sealed = segs.sealed.iter().map(|s| SegmentSummary {
            first: s.first,
            positions: s.base..s.end,
            data_end: s.data_end,
            path: s.path.clone(),
            file: s.file.clone(),
            sealed: Some(s.clone()),
        });
        let active = SegmentSummary {
            first: segs.active.first,
            positions: segs.active.base..segs.next(),
            data_end: segs.data_end(),
            path: segs.active.path.clone(),
            file: segs.active.file.clone(),
            sealed: None,
        };
        sealed.chain(std::iter::once(active)).collect()
    }
}
