//! Opening a log, the tail: what the sync marks and indexes vouch for,
//! the clean close's index, and cutting a torn tail or tolerated damage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{read_exact_at, FsFile, OpenMode};
use crate::index;
use crate::options::Recovery;
use crate::segment::scan;
use crate::state::Active;

use super::*;

impl Opener<'_> {
    /// The highest position that a sync mark anywhere in the segments
    /// `firsts` vouches for (0 if none does). Used where a torn tail is
    /// suspected: those segments are read whole, at any byte offset, since
    /// their frames may not be followable.
    pub(super) fn vouched_in_segments(&self, firsts: &[u64]) -> Result<u64> {
        let mut best = 0;
        for &first in firsts {
            let path = self.path(first);
            let file = match self.fs.open(&path, OpenMode::Read) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("open", &path, e)),
            };
            let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
            let v = scan::vouched_in(&file, 0, len).map_err(|e| Error::io("read", &path, e))?;
            best = best.max(v);
        }
        Ok(best)
    }

    /// Cuts the log at `position`, before the segment `firsts[0]`: removes
    /// it and every later one, as a torn tail.
    pub(super) fn cut_from_segment(
        &mut self,
        position: u64,
        firsts: &[u64],
        why: String,
    ) -> Result<()> {
        let (removed, bytes) = self.remove_segments(firsts)?;
        if self.writable {
            self.fs
                .sync_dir(self.dir)
                .map_err(|e| Error::io("fsync", self.dir, e))?;
        }
        self.report.torn_tail = Some(Cut {
            segment: removed[0].clone(),
            offset: 0,
            from_position: position,
            bytes,
            removed_segments: removed,
            reason: why,
        });
        Ok(())
    }

    /// Reads and checks an index header; `None` if it is missing or does
    /// not match the segment.
    pub(super) fn read_index_header(&self, first: u64, seg_len: u64) -> Option<index::IndexHeader> {
        self.index_header_and_end(first)
            .and_then(|(header, end)| (end == seg_len).then_some(header))
    }

    /// An index header that checks, and the segment length its index
    /// recorded.
    pub(super) fn index_header_and_end(&self, first: u64) -> Option<(index::IndexHeader, u64)> {
        let (file, header) = self.open_index(first)?;
        // Only 8 bytes are read here, at an offset the header gives; the
        // body is checked (against the segment's size) when it is loaded.
        let end = index::recorded_end(&*file, &header)?;
        Some((header, end))
    }

    /// The index file of the segment `first`, if its header checks.
    pub(super) fn open_index(&self, first: u64) -> Option<(Arc<dyn FsFile>, index::IndexHeader)> {
        index::open_checked(
            &**self.fs,
            &self.index_path(first),
            &self.meta.log_id,
            first,
        )
    }

    /// The last segment must not be shorter than the index its clean close
    /// left says: bytes synced then are gone (the file was shortened).
    /// `at` is where the records the scan found end, `next` the first
    /// position missing.
    pub(super) fn check_closed_length(&mut self, f: &SegFile, at: u64, next: u64) -> Result<()> {
        let Some(end) = f.indexed_end.filter(|&e| e > f.len) else {
            return Ok(());
        };
        let why = format!(
            "segment is {} bytes, shorter than the {end} it had when it was closed: \
             acknowledged records are missing from its end",
            f.len
        );
        match self.opts.recovery {
            Recovery::Strict => Err(Error::corruption(&f.path, at, why).at_position(next)),
            Recovery::Tolerant => {
                if self.writable {
                    self.remove(&self.index_path(f.first))?;
                }
                self.report.dropped = Some(Cut {
                    segment: f.path.clone(),
                    offset: at,
                    from_position: next,
                    bytes: end - f.len,
                    removed_segments: Vec::new(),
                    reason: why,
                });
                Ok(())
            }
        }
    }

    /// The index of the last segment `first` (of `len` bytes), read and
    /// checked whole, if it describes the segment as it is: a clean close
    /// left it and nothing was written since.
    pub(super) fn closed_index(
        &self,
        first: u64,
        len: u64,
    ) -> Option<(index::IndexHeader, Vec<u64>)> {
        let (ix, header) = self.open_index(first)?;
        // A count the segment's bytes cannot hold is a forgery: refused
        // before it sizes anything.
        if !header.fits(len) {
            return None;
        }
        let offsets = index::read_body(&*ix, &header, len).ok()?;
        Some((header, offsets))
    }

    /// The active segment as a clean close left it, from its index; `None`
    /// if the index does not describe the file as it is (then it is
    /// scanned).
    pub(super) fn closed_active(&mut self, f: &mut SegFile) -> Option<Active> {
        let (header, mut offsets) = f.closed_index.take()?;
        let (off, pos) = self.meta.scan_start(f.first);
        if header.base > pos || header.base + header.count < pos {
            return None;
        }
        // A record longer than this open's limit must be reported as a
        // scan does (the log was written with a larger one).
        let limit = crate::frame::frame_len(self.opts.max_record_size) + crate::frame::MAX_GAP;
        let ends = offsets.iter().skip(1).copied().chain([f.len]);
        if offsets.iter().zip(ends).any(|(&a, b)| b - a > limit) {
            return None;
        }
        // The close's mark ends the data and vouches for every record.
        let end = header.base + header.count;
        let mut mark = [0u8; crate::frame::HEADER_LEN];
        let mark_at = f.len.checked_sub(crate::frame::MARK_LEN)?;
        read_exact_at(&*f.file, &mut mark, mark_at).ok()?;
        if crate::frame::decode_mark(&mark, mark_at) != Some(end) {
            return None;
        }
        // Skip what the front truncation dropped, as a scan would.
        let skip = (pos - header.base) as usize;
        if offsets.get(skip).is_some_and(|&o| o != off) {
            return None;
        }
        self.vouched = end;
        offsets.drain(..skip);
        Some(Active::new(
            f.first,
            pos,
            offsets,
            f.len,
            f.path.clone(),
            f.file.clone(),
        ))
    }

    /// The data end recorded by the index of the segment `first`, once the
    /// whole index is checked (header, length, body checksum): a claim
    /// that bytes were synced is believed only from an intact file.
    pub(super) fn checked_index_end(&self, first: u64) -> Option<u64> {
        let (file, header) = self.open_index(first)?;
        index::checked_end(&*file, &header)
    }

    /// Whether the segment `first` (of `seg_len` bytes) is shorter than its
    /// index says: it lost bytes after it was sealed. (A segment longer
    /// than its index says was reopened for appends after the index was
    /// written, by `truncate_back` or recovery: that index is stale.)
    pub(super) fn shorter_than_indexed(&self, first: u64, seg_len: u64) -> bool {
        self.index_header_and_end(first)
            .is_some_and(|(_, end)| end > seg_len)
    }

    /// Positions are missing between segments.
    pub(super) fn gap(&mut self, expected: u64, rest: &[u64]) -> Result<()> {
        let path = self.path(rest[0]);
        let why = format!(
            "segment missing: positions {expected}..{} are in no file",
            rest[0]
        );
        match self.opts.recovery {
            Recovery::Strict => Err(Error::corruption(&path, 0, why)),
            Recovery::Tolerant => {
                let len = self
                    .fs
                    .open(&path, OpenMode::Read)
                    .and_then(|f| f.len())
                    .unwrap_or(0);
                self.drop_from(&path, expected, 0, len, &rest[1..], why)?;
                if self.writable {
                    self.remove(&path)?;
                }
                Ok(())
            }
        }
    }

    /// Removes the segments starting at `firsts` and their indexes (when
    /// writable; a read-only view only counts them). Returns their paths and
    /// how many bytes they held.
    pub(super) fn remove_segments(&self, firsts: &[u64]) -> Result<(Vec<PathBuf>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for &first in firsts {
            let p = self.path(first);
            bytes += self
                .fs
                .open(&p, OpenMode::Read)
                .and_then(|f| f.len())
                .unwrap_or(0);
            if self.writable {
                self.remove(&p)?;
                self.remove(&self.index_path(first))?;
            }
            removed.push(p);
        }
        Ok((removed, bytes))
    }

    /// A segment of the unsealed tail ends before the next segment starts:
    /// its last records had reached only the OS when the machine stopped,
    /// while the next segment's file had been created durably. Nothing
    /// after the lost records was synced either (a sync covers every
    /// earlier segment first), so this is a torn tail: the later segments
    /// are removed.
    pub(super) fn torn_gap(&mut self, position: u64, later: &[u64]) -> Result<()> {
        let why =
            format!("the previous segment ends at position {position}, before this one starts");
        self.cut_from_segment(position, later, why)
    }

    /// Records the tolerant-mode cut and removes what follows it.
    pub(super) fn drop_from(
        &mut self,
        path: &Path,
        position: u64,
        offset: u64,
        len: u64,
        later: &[u64],
        why: String,
    ) -> Result<()> {
        let (removed, later_bytes) = self.remove_segments(later)?;
        let bytes = len.saturating_sub(offset) + later_bytes;
        self.report.dropped = Some(Cut {
            segment: path.to_path_buf(),
            offset,
            // Positions before the first one were gone already.
            from_position: position.max(self.meta.first),
            bytes,
            removed_segments: removed,
            reason: why,
        });
        Ok(())
    }

    /// Cuts the log at byte `end` of `f` (position `position`): shortens
    /// the file and removes later segments. `kind` says whether this is a
    /// torn tail (expected after a crash) or tolerated damage.
    pub(super) fn cut(
        &mut self,
        f: &SegFile,
        end: u64,
        position: u64,
        later: &[u64],
        why: String,
        kind: CutKind,
    ) -> Result<()> {
        let (removed, later_bytes) = self.remove_segments(later)?;
        let bytes = f.len - end + later_bytes;
        if self.writable {
            self.remove(&self.index_path(f.first))?;
            // The removals (this segment's index, later segments) must be
            // durable before the cut: an index that outlived it would mark
            // the shorter segment as damaged, and a later segment that a
            // crash brought back would read as a missing segment.
            self.fs
                .sync_dir(self.dir)
                .map_err(|e| Error::io("fsync", self.dir, e))?;
            f.file
                .set_len(end)
                .map_err(|e| Error::io("truncate", &f.path, e))?;
            f.file
                .sync_all()
                .map_err(|e| Error::io("fsync", &f.path, e))?;
        }
        let cut = Cut {
            segment: f.path.clone(),
            offset: end,
            from_position: position,
            bytes,
            removed_segments: removed,
            reason: why,
        };
        match kind {
            CutKind::TornTail => self.report.torn_tail = Some(cut),
            CutKind::Dropped => self.report.dropped = Some(cut),
        }
        Ok(())
    }
}
