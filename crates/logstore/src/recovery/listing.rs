//! Opening a log, first steps: the directory, its listing, the meta
//! file, and each segment's header and index header.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{read_exact_at, Fs, FsFile, FsLock, OpenMode};
use crate::header::{new_log_id, FileHeader, HEADER_LEN, SEGMENT_MAGIC};
use crate::meta::{self, Meta, META_NAME};
use crate::options::{Options, Recovery};
use crate::segment;

use super::*;

/// Sorted listing of a log directory.
#[derive(Default)]
pub(crate) struct Listing {
    pub(crate) segments: Vec<u64>,
    pub(super) indexes: Vec<u64>,
    pub(super) temporary: Vec<String>,
    pub(super) unknown: Vec<String>,
    /// The segments a store has indexed (`store::index`), by first position.
    pub(crate) store_indexes: Vec<u64>,
}

pub(super) fn prepare_dir(
    fs: &dyn Fs,
    dir: &Path,
    opts: &Options,
) -> Result<Option<Box<dyn FsLock>>> {
    if !fs.is_dir(dir) {
        if !opts.create || opts.read_only {
            return Err(Error::io_state(
                "no such log directory",
                dir,
                std::io::ErrorKind::NotFound,
            ));
        }
        fs.create_dir_all(dir, opts.dir_mode)
            .map_err(|e| Error::io("create directory", dir, e))?;
        // The new directory's own entry must be durable too, or a power
        // loss could take the whole new log with it.
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs.sync_dir(parent)
            .map_err(|e| Error::io("fsync", parent, e))?;
    }
    if opts.read_only {
        return Ok(None);
    }
    let path = dir.join(LOCK_NAME);
    match fs.try_lock(&path) {
        Ok(Some(lock)) => Ok(Some(lock)),
        Ok(None) => Err(Error::new(
            ErrorKind::Locked,
            "log is locked by another writer (in this or another process)",
        )
        .with_path(dir)),
        Err(e) => Err(Error::io("lock", &path, e)),
    }
}

/// A store's checkpoint (see `store::checkpoint`), kept beside the files of
/// its shared log, and the name it is written under first.
pub(crate) const STORE_CHECKPOINT: &str = "store.checkpoint";
pub(crate) const STORE_CHECKPOINT_TMP: &str = "store.checkpoint.tmp";

pub(crate) fn list(fs: &dyn Fs, dir: &Path) -> Result<Listing> {
    let raw = fs
        .list_dir(dir)
        .map_err(|e| Error::io("list directory", dir, e))?;
    if let Some(link) = raw.symlinks.iter().find(|n| {
        segment::parse_segment_name(n).is_some()
            || segment::parse_index_name(n).is_some()
            || *n == META_NAME
            || *n == cut::CUT_NAME
    }) {
        return Err(Error::corruption(
            &dir.join(link),
            0,
            "refusing a symbolic link in place of a log file",
        ));
    }
    let mut l = Listing::default();
    for name in raw.files {
        if let Some(first) = segment::parse_segment_name(&name) {
            l.segments.push(first);
        } else if let Some(first) = segment::parse_index_name(&name) {
            l.indexes.push(first);
        } else if let Some(first) = segment::parse_store_index_name(&name) {
            l.store_indexes.push(first);
        } else if name.ends_with(".idx.tmp")
            || name.ends_with(".sidx.tmp")
            || name == "logstore.meta.tmp"
            || name == cut::CUT_TMP
            || name == STORE_CHECKPOINT_TMP
        {
            l.temporary.push(name);
        } else if name != META_NAME
            && name != LOCK_NAME
            && name != cut::CUT_NAME
            && name != STORE_CHECKPOINT
        {
            l.unknown.push(name);
        }
    }
    l.unknown.extend(raw.symlinks);
    l.unknown.extend(raw.others);
    l.unknown.sort();
    l.segments.sort_unstable();
    l.store_indexes.sort_unstable();
    Ok(l)
}

pub(super) fn create_meta(fs: &dyn Fs, dir: &Path, opts: &Options, l: &Listing) -> Result<Meta> {
    let path = dir.join(META_NAME);
    if let Some(&first) = l.segments.first() {
        return Err(Error::corruption(
            &path,
            0,
            format!(
                "meta file is missing but segments exist (first: {}); {}",
                segment::segment_name(first),
                meta::REBUILD
            ),
        ));
    }
    if opts.read_only || !opts.create {
        return Err(Error::io_state(
            "no log in this directory",
            &path,
            std::io::ErrorKind::NotFound,
        ));
    }
    let m = Meta {
        log_id: new_log_id(),
        first: 0,
        first_segment: 0,
        first_offset: HEADER_LEN as u64,
    };
    meta::write(crate::file_syncs::LogDir::opening(fs, dir), &m)?;
    Ok(m)
}

impl Opener<'_> {
    pub(super) fn path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::segment_name(first))
    }

    pub(super) fn index_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::index_name(first))
    }

    pub(super) fn remove(&self, path: &Path) -> Result<()> {
        match self.fs.remove_file(path) {
            Ok(()) => {
                self.removed.set(true);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Removes our temporary files and indexes without a segment.
    pub(super) fn remove_leftovers(&self, l: &Listing) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        for name in &l.temporary {
            self.remove(&self.dir.join(name))?;
        }
        for &first in &l.indexes {
            if l.segments.binary_search(&first).is_err() {
                self.remove(&self.index_path(first))?;
            }
        }
        Ok(())
    }

    /// Removes segments whose every record is before the first position
    /// (left by a crash before a truncation's background removal).
    pub(super) fn drop_dead_segments(&mut self, mut firsts: Vec<u64>) -> Result<Vec<u64>> {
        let mut dead = Vec::new();
        while firsts.len() >= 2 && firsts[1] <= self.meta.first {
            dead.push(firsts.remove(0));
        }
        for first in dead {
            let path = self.path(first);
            if self.writable {
                self.remove(&path)?;
                self.remove(&self.index_path(first))?;
            }
            self.report.removed_segments.push(path);
        }
        Ok(firsts)
    }

    pub(super) fn open_segments(&mut self, firsts: &[u64]) -> Result<Vec<SegFile>> {
        let mode = if self.writable {
            OpenMode::ReadWrite
        } else {
            OpenMode::Read
        };
        let mut files = Vec::with_capacity(firsts.len());
        for (i, &first) in firsts.iter().enumerate() {
            let path = self.path(first);
            let file = self
                .fs
                .open(&path, mode)
                .map_err(|e| Error::io("open", &path, e))?;
            // A writer reads what the disk holds, header included, not
            // pages a failed write-back left in the cache (see
            // `FsFile::uncache`): a later append would write a header
            // only the cache had back as the disk's.
            if self.writable {
                file.uncache()
                    .map_err(|e| Error::io("drop the cached pages of", &path, e))?;
            }
            let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
            if self.writable && self.opts.mmap_reads {
                file.map_reads(self.opts.segment_size.max(len));
            }
            let is_last = i + 1 == firsts.len();
            if let Err(why) = self.check_header(&*file, &path, first, len)? {
                // Only a segment after the one the meta file names can be
                // a roll's: a log's first segment is created durably, and
                // `truncate_front` makes rolled segments durable before it
                // names one. The one it names may be gone when the first
                // position was the very end of it (it was dead): then the
                // roll after it starts exactly at the first position, and
                // may be torn. (A segment starting later means the named
                // one held live records and is missing: corruption.)
                let unwritten = is_last && Self::is_unwritten_header(len);
                let after_named =
                    i > 0 || (first > self.meta.first_segment && first == self.meta.first);
                // A sync mark in it or after it vouching for its first
                // position would mean it held acknowledged records.
                // So would an index of it: only a synced segment (sealed, or
                // closed cleanly) has one.
                let acknowledged = self.index_header_and_end(first).is_some()
                    || self.vouched_in_segments(&firsts[i..])? > first.max(self.meta.first);
                if !acknowledged && (unwritten || (after_named && self.is_torn_roll(&firsts[i..])))
                {
                    // Created by a roll that no sync covered yet: a crash
                    // tore its header. Nothing in it, or after it, was
                    // acknowledged.
                    drop(file);
                    self.cut_from_segment(first, &firsts[i..], why)?;
                    break;
                }
                match self.opts.recovery {
                    Recovery::Strict => return Err(Error::corruption(&path, 0, why)),
                    Recovery::Tolerant => {
                        self.drop_from(&path, first, 0, len, &firsts[i + 1..], why)?;
                        if self.writable {
                            self.remove(&path)?;
                        }
                        break;
                    }
                }
            }
            let index = if is_last {
                None
            } else {
                self.read_index_header(first, len)
            };
            let sealed = index.is_some() || (!is_last && self.shorter_than_indexed(first, len));
            let closed_index = match is_last {
                true => self.closed_index(first, len),
                false => None,
            };
            let indexed_end = match (sealed && !is_last, &closed_index) {
                (true, _) => None,
                (false, Some(_)) => Some(len),
                (false, None) => self.checked_index_end(first),
            };
            files.push(SegFile {
                first,
                path,
                file,
                len,
                index,
                sealed,
                indexed_end,
                closed_index,
            });
        }
        Ok(files)
    }

    /// Checks a segment's header: the outer error is a failure to read it
    /// (an I/O error, never taken for damage), the inner one what is wrong
    /// with the bytes.
    pub(super) fn check_header(
        &self,
        file: &dyn FsFile,
        path: &Path,
        first: u64,
        len: u64,
    ) -> Result<std::result::Result<(), String>> {
        if len < HEADER_LEN as u64 {
            return Ok(Err(format!(
                "segment is {len} bytes, shorter than its header"
            )));
        }
        let mut h = [0u8; HEADER_LEN];
        read_exact_at(file, &mut h, 0).map_err(|e| Error::io("read", path, e))?;
        let checked = segment::check_segment_header(&h, &self.meta.log_id, first);
        if let Err(why) = &checked {
            // A well-formed segment of another log was put here: it is
            // not damage to cut away (and delete) but a foreign file.
            let foreign = FileHeader::decode(&h, SEGMENT_MAGIC, None)
                .is_ok_and(|other| other.log_id != self.meta.log_id);
            if foreign {
                return Err(Error::corruption(path, 0, why.clone()));
            }
        }
        Ok(checked)
    }

    /// Whether a segment whose header fails its check (the first of
    /// `firsts`, which runs to the last segment) is a torn roll. A roll
    /// writes the new segment's header without syncing it; the next sync
    /// makes it durable before any record in that segment or a later one
    /// is acknowledged, and only a segment so synced is ever indexed. So
    /// when neither this segment nor any later one (but the last, whose
    /// index is never trusted) has an index, the damage is in the unsealed
    /// tail: whatever a crash left in the header (zeros, part of it, or
    /// garbage), nothing from there on was acknowledged.
    pub(super) fn is_torn_roll(&self, firsts: &[u64]) -> bool {
        let (_, before_last) = firsts.split_last().expect("at least this segment");
        before_last
            .iter()
            .all(|&first| self.index_header_and_end(first).is_none())
    }

    /// Whether a last segment whose header fails its check holds nothing
    /// but (part of) a header: a crash while a segment was being created,
    /// before anything could be written in it, whatever it left in those
    /// bytes.
    pub(super) fn is_unwritten_header(len: u64) -> bool {
        len <= HEADER_LEN as u64
    }
}
