//! Opening a log: find its files, check them, cut a torn tail, and build
//! the in-memory state. The cost is proportional to the unsealed tail (the
//! segments without a valid index), plus one small read per sealed segment.
//!
//! Steps, each a function below:
//! 1. `prepare_dir`: create the directory if asked, take the writer lock.
//! 2. `list`: sort the directory's files into ours and unknown ones.
//! 3. `meta::read` (or create a new log).
//! 4. `drop_dead_segments`: remove segments wholly before the first position.
//! 5. `open_segments`: check each segment header and index header.
//! 6. `check_sealed` / `scan_tail`: trust indexed segments, scan the rest,
//!    cut a torn tail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cut;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{read_exact_at, Fs, FsFile, FsLock, OpenMode};
use crate::header::{new_log_id, FileHeader, HEADER_LEN, SEGMENT_MAGIC};
use crate::index;
use crate::meta::{self, Meta, META_NAME};
use crate::options::{Options, Recovery};
use crate::segment::{self, scan};
use crate::state::{Active, GroupCommit, Job, SealSync, Sealed, Segments, Shared, State};

/// Name of the writer's lock file.
pub(crate) const LOCK_NAME: &str = "logstore.lock";

/// What opening a log found and did. See [`crate::Log::recovery_report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// An incomplete tail that was cut off (the expected result of a crash
    /// during appends that were not yet durable).
    pub torn_tail: Option<Cut>,
    /// In [`Recovery::Tolerant`] mode: damage that was cut away with
    /// everything after it.
    pub dropped: Option<Cut>,
    /// Files in the directory that are not logstore's; left untouched.
    pub unknown_files: Vec<PathBuf>,
    /// Segments removed because they held only truncated records.
    pub removed_segments: Vec<PathBuf>,
    /// Segment indexes that were missing or damaged and were rebuilt.
    pub rebuilt_indexes: Vec<PathBuf>,
}

/// Where a log was cut at open, and what was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cut {
    /// The segment file where the cut was made.
    pub segment: PathBuf,
    /// Byte offset of the cut in that file.
    pub offset: u64,
    /// The first position no longer in the log (the new next position).
    pub from_position: u64,
    /// Bytes removed, in that segment and any later ones.
    pub bytes: u64,
    /// Later segment files removed whole.
    pub removed_segments: Vec<PathBuf>,
    /// What was wrong at the cut.
    pub reason: String,
}

/// Which entry of the [`RecoveryReport`] a cut made at open goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CutKind {
    /// An incomplete tail, expected after a crash.
    TornTail,
    /// Damage cut away in tolerant mode.
    Dropped,
}

/// Sorted listing of a log directory.
#[derive(Default)]
pub(crate) struct Listing {
    pub(crate) segments: Vec<u64>,
    indexes: Vec<u64>,
    temporary: Vec<String>,
    unknown: Vec<String>,
}

/// One segment file, opened and its header checked.
struct SegFile {
    first: u64,
    path: PathBuf,
    file: Arc<dyn FsFile>,
    len: u64,
    /// The index header, if there is a usable one.
    index: Option<index::IndexHeader>,
    /// A valid index exists, or one that records a longer segment: the
    /// segment was durable when it was sealed (indexes are written only
    /// after their segment is synced), so damage in it is corruption, never
    /// a torn tail.
    sealed: bool,
    /// The data end an index file records for the segment, even a stale
    /// one (left by a clean close, before later appends): every byte
    /// before it was synced, so damage there is never a torn tail.
    indexed_end: Option<u64>,
    /// For the last segment: its index header and offsets, read once,
    /// when the index describes the file as it is (left by a clean close,
    /// and nothing written since).
    closed_index: Option<(index::IndexHeader, Vec<u64>)>,
}

struct Opener<'a> {
    dir: &'a Path,
    fs: &'a Arc<dyn Fs>,
    opts: &'a Options,
    meta: Meta,
    writable: bool,
    report: RecoveryReport,
    /// A file was removed: the directory is synced before the log is used,
    /// so that no removed file (a dropped, damaged segment above all)
    /// comes back after a crash.
    removed: std::cell::Cell<bool>,
    /// The highest position the sync marks of the active segment vouch
    /// for.
    vouched: u64,
}

/// The segments [`Opener::build`] made of the files found.
struct Built {
    sealed: Vec<Arc<Sealed>>,
    active: Active,
    /// The sealed segments that may not be durable yet: synced and
    /// indexed again in the background.
    reseal: Vec<Arc<Sealed>>,
}

/// Opens (or creates) the log in `dir`.
pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<Shared>> {
    opts.validate()?;
    let fs = opts.fs.clone();
    fs.set_file_mode(opts.file_mode);
    let writable = !opts.read_only;
    let lock = prepare_dir(&*fs, dir, &opts)?;
    let listing = list(&*fs, dir)?;
    let meta = match meta::read(&*fs, dir)? {
        Some(m) => m,
        None => create_meta(&*fs, dir, &opts, &listing)?,
    };
    if writable {
        // Segments written from now on may hold sync marks, which a build
        // of format version 1 would take for damage: the meta file says
        // version 2 first, and such a build refuses the log.
        meta::upgrade(&*fs, dir, &meta)?;
        cut::finish(&*fs, dir, meta.log_id, &listing.segments)?;
    }
    let mut o = Opener {
        dir,
        fs: &fs,
        opts: &opts,
        meta,
        writable,
        report: RecoveryReport::default(),
        removed: std::cell::Cell::new(false),
        vouched: 0,
    };
    o.report.unknown_files = listing.unknown.iter().map(|n| dir.join(n)).collect();
    o.remove_leftovers(&listing)?;
    let firsts = o.drop_dead_segments(listing.segments)?;
    let files = o.open_segments(&firsts)?;
    let Built {
        sealed,
        active,
        reseal,
    } = o.build(files)?;
    if o.removed.get() {
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    let first = o
        .meta
        .first
        .max(sealed.first().map_or(active.base, |s| s.base));
    let next = active.end_position();
    // What the active segment holds may have reached only the OS before a
    // crash of the process (under `SyncPolicy::Never`, say): it is not known
    // to be durable, so the next `sync` must sync it. Sealed segments are
    // durable or listed in `unsynced` (and then not counted as synced).
    let synced = reseal
        .first()
        .map_or(active.base, |s| s.base)
        .clamp(first, next);
    // What is durable at open needs no mark of this handle's: the next
    // one vouches for what its syncs add.
    let vouched = o.vouched.max(synced).min(next);
    let segs = Segments::new(first, sealed, active);
    let group = GroupCommit::open(synced, vouched, reseal.clone());
    let state = State::new(o.meta, segs, group);
    let (log_id, report) = (o.meta.log_id, o.report);
    let shared = Arc::new(Shared::new(
        dir.to_path_buf(),
        opts,
        log_id,
        state,
        report,
        lock,
    ));
    if writable {
        crate::background::start(&shared)
            .map_err(|e| Error::io("start the background thread for", dir, e))?;
        for seg in reseal {
            shared.submit(Job::Seal(seg, SealSync::Needed));
        }
    }
    Ok(shared)
}

fn prepare_dir(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<Option<Box<dyn FsLock>>> {
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
        } else if name.ends_with(".idx.tmp") || name == "logstore.meta.tmp" || name == cut::CUT_TMP
        {
            l.temporary.push(name);
        } else if name != META_NAME && name != LOCK_NAME && name != cut::CUT_NAME {
            l.unknown.push(name);
        }
    }
    l.unknown.extend(raw.symlinks);
    l.unknown.extend(raw.others);
    l.unknown.sort();
    l.segments.sort_unstable();
    Ok(l)
}

fn create_meta(fs: &dyn Fs, dir: &Path, opts: &Options, l: &Listing) -> Result<Meta> {
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
    meta::write(fs, dir, &m)?;
    Ok(m)
}

impl Opener<'_> {
    fn path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::segment_name(first))
    }

    fn index_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::index_name(first))
    }

    fn remove(&self, path: &Path) -> Result<()> {
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
    fn remove_leftovers(&self, l: &Listing) -> Result<()> {
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
    fn drop_dead_segments(&mut self, mut firsts: Vec<u64>) -> Result<Vec<u64>> {
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

    fn open_segments(&mut self, firsts: &[u64]) -> Result<Vec<SegFile>> {
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
    fn check_header(
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
    fn is_torn_roll(&self, firsts: &[u64]) -> bool {
        let (_, before_last) = firsts.split_last().expect("at least this segment");
        before_last
            .iter()
            .all(|&first| self.index_header_and_end(first).is_none())
    }

    /// The highest position that a sync mark anywhere in the segments
    /// `firsts` vouches for (0 if none does). Used where a torn tail is
    /// suspected: those segments are read whole, at any byte offset, since
    /// their frames may not be followable.
    fn vouched_in_segments(&self, firsts: &[u64]) -> Result<u64> {
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
    fn cut_from_segment(&mut self, position: u64, firsts: &[u64], why: String) -> Result<()> {
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

    /// Whether a last segment whose header fails its check holds nothing
    /// but (part of) a header: a crash while a segment was being created,
    /// before anything could be written in it, whatever it left in those
    /// bytes.
    fn is_unwritten_header(len: u64) -> bool {
        len <= HEADER_LEN as u64
    }

    /// Reads and checks an index header; `None` if it is missing or does
    /// not match the segment.
    fn read_index_header(&self, first: u64, seg_len: u64) -> Option<index::IndexHeader> {
        self.index_header_and_end(first)
            .and_then(|(header, end)| (end == seg_len).then_some(header))
    }

    /// An index header that checks, and the segment length its index
    /// recorded.
    fn index_header_and_end(&self, first: u64) -> Option<(index::IndexHeader, u64)> {
        let (file, header) = self.open_index(first)?;
        // Only 8 bytes are read here, at an offset the header gives; the
        // body is checked (against the segment's size) when it is loaded.
        let end = index::recorded_end(&*file, &header)?;
        Some((header, end))
    }

    /// The index file of the segment `first`, if its header checks.
    fn open_index(&self, first: u64) -> Option<(Arc<dyn FsFile>, index::IndexHeader)> {
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
    fn check_closed_length(&mut self, f: &SegFile, at: u64, next: u64) -> Result<()> {
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
    fn closed_index(&self, first: u64, len: u64) -> Option<(index::IndexHeader, Vec<u64>)> {
        let (ix, header) = self.open_index(first)?;
        let offsets = index::read_body(&*ix, &header, len).ok()?;
        Some((header, offsets))
    }

    /// The active segment as a clean close left it, from its index; `None`
    /// if the index does not describe the file as it is (then it is
    /// scanned).
    fn closed_active(&mut self, f: &mut SegFile) -> Option<Active> {
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
    fn checked_index_end(&self, first: u64) -> Option<u64> {
        let (file, header) = self.open_index(first)?;
        index::checked_end(&*file, &header)
    }

    /// Whether the segment `first` (of `seg_len` bytes) is shorter than its
    /// index says: it lost bytes after it was sealed. (A segment longer
    /// than its index says was reopened for appends after the index was
    /// written, by `truncate_back` or recovery: that index is stale.)
    fn shorter_than_indexed(&self, first: u64, seg_len: u64) -> bool {
        self.index_header_and_end(first)
            .is_some_and(|(_, end)| end > seg_len)
    }

    /// Turns the checked files into sealed segments and the active one.
    /// Returns also the sealed segments that may not be durable yet.
    fn build(&mut self, files: Vec<SegFile>) -> Result<Built> {
        // The unsealed tail: the longest run of segments at the end
        // without a usable index (the last segment always belongs to it).
        let tail_from = files
            .iter()
            .rposition(|f| f.sealed)
            .map_or(0, |i| i + 1)
            .min(files.len().saturating_sub(1));
        let tolerant = self.opts.recovery == Recovery::Tolerant;
        let mut sealed = Vec::new();
        let mut reseal = Vec::new();
        let mut active = None;
        let mut expected: Option<u64> = None;
        let mut files = files.into_iter().enumerate().peekable();
        while let Some((i, mut f)) = files.next() {
            if let Some(exp) = expected.filter(|&e| e != f.first) {
                let rest: Vec<u64> = std::iter::once(f.first)
                    .chain(files.by_ref().map(|(_, n)| n.first))
                    .collect();
                if i > tail_from && self.vouched_in_segments(&rest)? <= exp.max(self.meta.first) {
                    self.torn_gap(exp, &rest)?;
                } else {
                    self.gap(exp, &rest)?;
                }
                break;
            }
            let is_last = files.peek().is_none();
            if i < tail_from && f.index.is_some() && !tolerant {
                let seg = self.check_sealed(f);
                expected = Some(seg.end);
                sealed.push(seg);
                continue;
            }
            if is_last && !tolerant && f.indexed_end == Some(f.len) {
                // Closed cleanly and not written since: the index the close
                // left gives the offsets, without reading the records
                // (they are checked when read, and by `verify`). It is
                // kept: once appends make the segment longer it still says
                // truly that every byte before its end was synced (see
                // `indexed_end`), and every change that shortens the
                // segment removes it first, durably (`truncate_back`, a
                // cut here). A roll replaces it with the sealed index.
                if let Some(a) = self.closed_active(&mut f) {
                    active = Some(a);
                    break;
                }
            }
            let (off, pos) = self.meta.scan_start(f.first);
            let s = scan::scan(&f.file, off, pos, f.len, self.opts.max_record_size)
                .map_err(|e| Error::io("read", &f.path, e))?;
            if is_last {
                let at = s.damage.as_ref().map_or(s.end, |d| d.offset);
                self.check_closed_length(&f, at, s.next_position)?;
            }
            let mut prealloc_end = 0;
            if let Some(d) = &s.damage {
                // An intact record the limit in use refuses is not damage:
                // cutting it would lose it (in tolerant mode too).
                if d.is_oversize() {
                    return Err(Error::invalid(d.reason.to_string())
                        .with_path(&f.path)
                        .at_offset(d.offset));
                }
                let rest: Vec<u64> = files.by_ref().map(|(_, n)| n.first).collect();
                // Damage in the unsealed tail is a torn write, unless a
                // sync mark after it vouches for the records it hides:
                // then they were acknowledged, and it is corruption, as
                // anywhere else.
                // (A zero tail holds no mark of its own, but later segments
                // and an index still vouch for what it hides.)
                let vouched = match (i >= tail_from, d.zero_tail) {
                    (false, _) => 0,
                    (true, true) => self.vouched_in_segments(&rest)?,
                    (true, false) => scan::vouched_in(&f.file, d.offset, f.len)
                        .map_err(|e| Error::io("read", &f.path, e))?
                        .max(self.vouched_in_segments(&rest)?),
                };
                // (Positions before the first one are gone anyway.)
                let hidden = s.next_position.max(self.meta.first);
                // An index (even a stale one) says the bytes before its end
                // were synced.
                let indexed = f.indexed_end.is_some_and(|e| d.offset < e.min(f.len));
                let vouched = match indexed {
                    true => vouched.max(hidden + 1),
                    false => vouched,
                };
                let torn = i >= tail_from && vouched <= hidden;
                if !torn && !tolerant {
                    let why = match vouched > hidden {
                        true => format!(
                            "{}, in acknowledged records (a sync mark vouches for \
                             positions below {vouched}, and the damage hides position {})",
                            d.reason, s.next_position
                        ),
                        false => d.reason.to_string(),
                    };
                    return Err(
                        Error::corruption(&f.path, d.offset, why).at_position(s.next_position)
                    );
                }
                // Zeros after the last record of the last segment are the
                // space written ahead of the data for appends to overwrite
                // (see `crate::prezero`): kept for them, not cut.
                if d.zero_tail && torn && rest.is_empty() {
                    prealloc_end = f.len;
                } else {
                    let kind = match torn {
                        true => CutKind::TornTail,
                        false => CutKind::Dropped,
                    };
                    let why = d.reason.to_string();
                    self.cut(&f, s.end, s.next_position, &rest, why, kind)?;
                }
            }
            if s.damage.is_some() || is_last {
                self.vouched = s.vouched;
                // The active segment is always scanned. An index a clean
                // close left for it is kept (see `indexed_end`) until a
                // change shortens the segment; any other would be stale.
                if self.writable {
                    self.remove(&self.index_path(f.first))?;
                }
                let a = Active::new(f.first, pos, s.offsets, s.end, f.path, f.file);
                active = Some(a.with_zeros_to(prealloc_end));
                break;
            }
            if f.index.is_none() {
                self.report.rebuilt_indexes.push(self.index_path(f.first));
            }
            let seg = Sealed::new(f.first, pos, s.next_position, f.len, f.path, f.file);
            expected = Some(seg.end);
            reseal.push(seg.clone());
            sealed.push(seg);
        }
        let active = match active {
            Some(a) => a,
            None => self.last_sealed_becomes_active(&mut sealed)?,
        };
        let active = self.ensure_live_active(active, &mut sealed)?;
        self.check_front(&sealed, &active)?;
        Ok(Built {
            sealed,
            active,
            reseal,
        })
    }

    /// A sealed segment with an index: trusted without reading its records
    /// (they are checked when read, and by `verify`).
    fn check_sealed(&mut self, f: SegFile) -> Arc<Sealed> {
        let h = f.index.expect("sealed segments have an index");
        Sealed::new(f.first, h.base, h.end_position(), f.len, f.path, f.file)
    }

    /// Positions are missing between segments.
    fn gap(&mut self, expected: u64, rest: &[u64]) -> Result<()> {
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
    fn remove_segments(&self, firsts: &[u64]) -> Result<(Vec<PathBuf>, u64)> {
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
    fn torn_gap(&mut self, position: u64, later: &[u64]) -> Result<()> {
        let why =
            format!("the previous segment ends at position {position}, before this one starts");
        self.cut_from_segment(position, later, why)
    }

    /// Records the tolerant-mode cut and removes what follows it.
    fn drop_from(
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
    fn cut(
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

    /// Every tail segment was removed (a torn roll): the last sealed one
    /// takes the appends again, or a new segment starts the log.
    fn last_sealed_becomes_active(&mut self, sealed: &mut Vec<Arc<Sealed>>) -> Result<Active> {
        if let Some(seg) = sealed.pop() {
            let (off, pos) = self.meta.scan_start(seg.first);
            let s = scan::scan(&seg.file, off, pos, seg.data_end, self.opts.max_record_size)
                .map_err(|e| Error::io("read", &seg.path, e))?;
            if let Some(d) = s.damage {
                return Err(Error::corruption(&seg.path, d.offset, d.reason));
            }
            if self.writable {
                self.remove(&self.index_path(seg.first))?;
            }
            return Ok(Active::new(
                seg.first,
                pos,
                s.offsets,
                s.end,
                seg.path.clone(),
                seg.file.clone(),
            ));
        }
        self.new_active(self.meta.first)
    }

    fn new_active(&mut self, first: u64) -> Result<Active> {
        if !self.writable {
            return Err(Error::io_state(
                "log has no segment yet",
                self.dir,
                std::io::ErrorKind::NotFound,
            ));
        }
        let path = self.path(first);
        // A leftover (torn) file of that name was removed above.
        let file = self
            .fs
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io("create", &path, e))?;
        let header = segment::encode_segment_header(&self.meta.log_id, first);
        file.write_all_at(&[std::io::IoSlice::new(&header)], 0)
            .map_err(|e| Error::io("write", &path, e))?;
        file.sync_data()
            .map_err(|e| Error::io("fdatasync", &path, e))?;
        self.fs
            .sync_dir(self.dir)
            .map_err(|e| Error::io("fsync", self.dir, e))?;
        Ok(Active::new(
            first,
            first,
            Vec::new(),
            HEADER_LEN as u64,
            path,
            file,
        ))
    }

    /// If every record of the active segment is before the first position
    /// (a crash inside `truncate_front` past the end), start afresh there.
    fn ensure_live_active(
        &mut self,
        active: Active,
        sealed: &mut Vec<Arc<Sealed>>,
    ) -> Result<Active> {
        if active.end_position() >= self.meta.first {
            return Ok(active);
        }
        if !self.writable {
            // Only a writer finishes the truncation: a view taken later
            // succeeds.
            return Err(Error::io_state(
                "log is being truncated; try again",
                self.dir,
                std::io::ErrorKind::WouldBlock,
            ));
        }
        for seg in sealed.drain(..) {
            self.remove(&seg.path)?;
            self.remove(&self.index_path(seg.first))?;
            self.report.removed_segments.push(seg.path.clone());
        }
        self.remove(&active.path)?;
        self.report.removed_segments.push(active.path.clone());
        self.fs
            .sync_dir(self.dir)
            .map_err(|e| Error::io("fsync", self.dir, e))?;
        let first = self.meta.first;
        self.meta.first_segment = first;
        self.meta.first_offset = HEADER_LEN as u64;
        meta::write(&**self.fs, self.dir, &self.meta)?;
        self.new_active(first)
    }

    /// The first segment must hold the first position.
    fn check_front(&mut self, sealed: &[Arc<Sealed>], active: &Active) -> Result<()> {
        let (start, path) = sealed
            .first()
            .map_or((active.base, &active.path), |s| (s.base, &s.path));
        if start <= self.meta.first {
            return Ok(());
        }
        let why = format!(
            "segment missing: positions {}..{start} are in no file",
            self.meta.first
        );
        match self.opts.recovery {
            Recovery::Strict => Err(Error::corruption(path, 0, why)),
            Recovery::Tolerant => {
                self.report.dropped = Some(Cut {
                    segment: path.clone(),
                    offset: 0,
                    from_position: self.meta.first,
                    bytes: 0,
                    removed_segments: Vec::new(),
                    reason: why,
                });
                self.meta.first = start;
                self.meta.first_segment = sealed.first().map_or(active.first, |s| s.first);
                self.meta.first_offset = HEADER_LEN as u64;
                if self.writable {
                    meta::write(&**self.fs, self.dir, &self.meta)?;
                }
                Ok(())
            }
        }
    }
}
