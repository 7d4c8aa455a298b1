//! Rebuilding a damaged or missing meta file from the segments
//! ([`crate::Log::repair_meta`]).
//!
//! The meta file holds the log's identity and its durable first position.
//! The identity is in every segment header too. The first position is
//! rebuilt conservatively: the first record still on disk after the
//! punched-out front of a segment, if one was punched (the segments before
//! it were removed first, so whatever is left of them is dead), else the
//! first record of the first segment. Records a `truncate_front` dropped
//! whose bytes were not yet given back (removed or punched out) come back
//! with it; none that was kept is lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{self, HeaderCheck};
use crate::fs::{read_exact_at, Fs, FsFile, OpenMode};
use crate::header::{new_log_id, FileHeader, LogId, HEADER_LEN, SEGMENT_MAGIC};
use crate::meta::{self, Meta, META_NAME};
use crate::options::{Options, MAX_RECORD_SIZE_LIMIT};
use crate::recovery::LOCK_NAME;
use crate::segment::{self, scan};

/// What [`crate::Log::repair_meta`] found wrong with the meta file, and the
/// meta file it writes (or would write) instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaRepair {
    /// The meta file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
    /// The log identity taken from the segment headers, in hex (a new one
    /// if there is no segment).
    pub log_id: String,
    /// The first position of the rebuilt meta file.
    pub first_position: u64,
    /// The segment holding it, if there is one.
    pub first_segment: Option<PathBuf>,
    /// The byte offset of its record in that segment.
    pub first_offset: u64,
    /// Whether the new meta file was written.
    pub written: bool,
}

/// Hole punching gives back whole 4 KiB blocks after the first one (see
/// `crate::truncate`).
const BLOCK: u64 = 4096;

pub(crate) fn repair(dir: &Path, opts: &Options, write: bool) -> Result<Option<MetaRepair>> {
    opts.validate()?;
    let fs = opts.fs.clone();
    fs.set_file_mode(opts.file_mode);
    if !fs.is_dir(dir) {
        return Err(Error::io(
            "open log directory",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    // Held until the new file is in place: no writer may open the log
    // (with the damaged file) meanwhile.
    let _lock = if write {
        let path = dir.join(LOCK_NAME);
        match fs.try_lock(&path) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                return Err(Error::new(
                    ErrorKind::Locked,
                    "log is locked by another writer (in this or another process)",
                )
                .with_path(dir))
            }
            Err(e) => return Err(Error::io("lock", &path, e)),
        }
    } else {
        None
    };
    let path = dir.join(META_NAME);
    let listing = fs
        .list_dir(dir)
        .map_err(|e| Error::io("list directory", dir, e))?;
    if listing.symlinks.iter().any(|n| n == META_NAME) {
        return Err(Error::corruption(
            &path,
            0,
            "refusing a symbolic link in place of a log file",
        ));
    }
    let mut segments: Vec<u64> = listing
        .files
        .iter()
        .filter_map(|n| segment::parse_segment_name(n))
        .collect();
    segments.sort_unstable();
    let problem = match meta::read(&*fs, dir) {
        Ok(Some(_)) => return Ok(None),
        Ok(None) if segments.is_empty() => return Ok(None),
        Ok(None) => "meta file is missing but segments exist".to_string(),
        Err(e) if e.kind() == ErrorKind::Corruption => e.message().to_string(),
        Err(e) => return Err(e),
    };
    let (meta, first_segment) = match segments.first() {
        None => (
            Meta {
                log_id: new_log_id(),
                first: 0,
                first_segment: 0,
                first_offset: HEADER_LEN as u64,
            },
            None,
        ),
        Some(&oldest) => {
            let log_id = log_id_of(&*fs, dir, &segments)?;
            // The last segment with a punched front holds the first
            // position; else the first segment, from its first record.
            let mut start = (oldest, HEADER_LEN as u64, oldest);
            for (i, &first) in segments.iter().enumerate().rev() {
                let path = dir.join(segment::segment_name(first));
                let before = segments.get(i + 1).copied().unwrap_or(u64::MAX);
                if let Some((offset, position)) = after_punched_front(&*fs, &path, first, before)? {
                    start = (first, offset, position);
                    break;
                }
            }
            let (first_segment, first_offset, first) = start;
            (
                Meta {
                    log_id,
                    first,
                    first_segment,
                    first_offset,
                },
                Some(dir.join(segment::segment_name(first_segment))),
            )
        }
    };
    if write {
        meta::write(crate::file_syncs::LogDir::opening(&*fs, dir), &meta)?;
    }
    Ok(Some(MetaRepair {
        path,
        problem,
        log_id: meta.log_id.iter().map(|b| format!("{b:02x}")).collect(),
        first_position: meta.first,
        first_segment,
        first_offset: meta.first_offset,
        written: write,
    }))
}

fn open(fs: &dyn Fs, path: &Path) -> Result<Arc<dyn FsFile>> {
    fs.open(path, OpenMode::Read)
        .map_err(|e| Error::io("open", path, e))
}

/// The identity in the segment headers: the first segment's header must
/// be intact, and no intact header may name another log.
fn log_id_of(fs: &dyn Fs, dir: &Path, segments: &[u64]) -> Result<LogId> {
    let mut id: Option<LogId> = None;
    for (i, &first) in segments.iter().enumerate() {
        let path = dir.join(segment::segment_name(first));
        let file = open(fs, &path)?;
        let mut b = [0u8; HEADER_LEN];
        let header = match read_exact_at(&*file, &mut b, 0) {
            Ok(()) => FileHeader::decode(&b, SEGMENT_MAGIC, None).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        match (header, id) {
            (Some(h), _) if i == 0 && h.fields[0] != first => {
                return Err(Error::corruption(
                    &path,
                    0,
                    format!(
                        "cannot rebuild the meta file: the first segment's header says \
                         position {}, its name {first}",
                        h.fields[0]
                    ),
                ))
            }
            (Some(h), None) => id = Some(h.log_id),
            (Some(h), Some(want)) if h.log_id != want => {
                return Err(Error::corruption(
                    &path,
                    0,
                    "cannot rebuild the meta file: the segments belong to different logs",
                ))
            }
            (Some(_), Some(_)) => {}
            (None, _) if i == 0 => {
                return Err(Error::corruption(
                    &path,
                    0,
                    "cannot rebuild the meta file: the first segment's header is damaged too",
                ))
            }
            // A later segment's damage is the segment checks' business.
            (None, _) => {}
        }
    }
    Ok(id.expect("the first segment's header was read"))
}

/// Where the first record after the punched-out front of the segment
/// `first` (at `path`) is, if its front was punched: its offset and
/// position.
///
/// `truncate_front` punches the dead front of the segment holding the new
/// first position (after the earlier segments are removed), in whole
/// blocks from the second one on: the segment then holds the dead records
/// of its first block, zero blocks, then the live records from within the
/// block after the zeros. So a segment whose second block reads as zeros,
/// whose records from the first one stop there, and in which an intact
/// frame of a later position follows the zeros, was punched; the first
/// such frame is the first record on disk. `before` is the next segment's
/// first position. Anything else is no punch (damage is left for the
/// segment checks to find).
fn after_punched_front(
    fs: &dyn Fs,
    path: &Path,
    first: u64,
    before: u64,
) -> Result<Option<(u64, u64)>> {
    let file = open(fs, path)?;
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    let io = |e| Error::io("read", path, e);
    if len <= 2 * BLOCK {
        return Ok(None);
    }
    // One block read per segment decides for almost all of them.
    let mut r = scan::ChunkReader::new(file.clone(), 1 << 20);
    match r.get(BLOCK, BLOCK as usize).map_err(io)? {
        Some(b) if b.iter().all(|&x| x == 0) => {}
        _ => return Ok(None),
    }
    let s = scan::scan(&file, HEADER_LEN as u64, first, len, MAX_RECORD_SIZE_LIMIT).map_err(io)?;
    let Some(damage) = s.damage else {
        return Ok(None);
    };
    if damage.zero_tail || damage.offset > BLOCK {
        return Ok(None);
    }
    // Zero blocks from the second one on, as a punch leaves them.
    let mut from = BLOCK;
    while from + BLOCK <= len {
        // Holes are zeros: skipped, not read.
        match file.next_data(from).map_err(io)? {
            Some(data) => from = from.max(data / BLOCK * BLOCK),
            None => return Ok(None),
        }
        if from + BLOCK > len {
            break;
        }
        match r.get(from, BLOCK as usize).map_err(io)? {
            Some(b) if b.iter().all(|&x| x == 0) => from += BLOCK,
            _ => break,
        }
    }
    if from == BLOCK {
        return Ok(None);
    }
    // The live records are positions after those scanned before the hole,
    // and before the next segment's.
    let after = s.next_position;
    let mut at = from;
    while at + frame::HEADER_LEN as u64 <= len {
        let Some(raw) = r.get(at, frame::HEADER_LEN).map_err(io)? else {
            break;
        };
        let raw: [u8; frame::HEADER_LEN] = raw.try_into().expect("header length");
        if let HeaderCheck::Valid(h) = frame::decode_header(&raw, MAX_RECORD_SIZE_LIMIT) {
            if (after..before).contains(&h.position)
                && scan::intact_frame(&file, at, len, h.position)
                    .map_err(io)?
                    .is_some()
            {
                return Ok(Some((at, h.position)));
            }
        }
        at += 1;
    }
    Ok(None)
}
