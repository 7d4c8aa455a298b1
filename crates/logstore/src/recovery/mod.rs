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
use crate::error::{Error, Result};
use crate::file_syncs::LogDir;
use crate::fs::{Fs, FsFile, OpenMode};
use crate::header::HEADER_LEN;
use crate::index;
use crate::meta::{self, Meta};
use crate::options::{Options, Recovery};
use crate::segment::{self, scan};
mod listing;
pub(crate) use listing::STORE_CHECKPOINT;
mod tail;

use listing::{create_meta, prepare_dir};
pub(crate) use listing::{list, Listing};

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

impl Opener<'_> {
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
            // A writer dropped the cached pages when it opened the file
            // (`Listing::open_segments`): the scan reads what the disk
            // holds, and what it finds, the first sync counts durable.
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
        meta::write(LogDir::opening(&**self.fs, self.dir), &self.meta)?;
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
                    meta::write(LogDir::opening(&**self.fs, self.dir), &self.meta)?;
                }
                Ok(())
            }
        }
    }
}
