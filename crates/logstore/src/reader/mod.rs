//! Reading records: one by position, or a run of them in order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{self, FrameError, Room, HEADER_LEN};
use crate::fs::{read_exact_at, FsFile};
use crate::segment::scan;
use crate::state::Shared;

mod iter;

pub use iter::Iter;

/// Where a record's frame is.
pub(crate) enum Location {
    /// In a file: `[offset, offset + len)`, with the file's readable end.
    File {
        file: Arc<dyn FsFile>,
        /// The segment (its first position), to name it in errors.
        segment: u64,
        offset: u64,
        len: u64,
        /// Positions below this can be read sequentially from this file.
        run_end: u64,
        /// Byte offset where those positions end.
        run_end_offset: u64,
        /// [`Shared::rewrites`] when this was looked up: the run holds
        /// these records only as long as it has not moved.
        rewrites: u64,
    },
    /// Still in the write buffer: the copied record.
    Buffered(Vec<u8>),
}

pub(crate) fn truncated(pos: u64, first: u64) -> Error {
    Error::new(
        ErrorKind::Truncated,
        format!("position {pos} was truncated away (first position is {first})"),
    )
    .at_position(pos)
}

pub(crate) fn out_of_range(pos: u64, first: u64, next: u64) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!("position {pos} is not in the log (it holds {first}..{next})"),
    )
    .at_position(pos)
}

/// How [`locate`] finds a record in a sealed segment whose offsets are
/// not cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// One small read of the index file, for one record.
    Point,
    /// The whole index loaded (for a run of records, or a retry).
    Whole,
}

/// With [`Lookup::Point`], a sealed segment whose offsets are not cached
/// is looked up with one small read of its index file instead of loading
/// the whole index (what a read needs; a run or a retry loads it all).
pub(crate) fn locate(sh: &Shared, pos: u64, lookup: Lookup) -> Result<Location> {
    let (sealed, meta, rewrites) = {
        let st = sh.lock_state();
        // Read under the lock that its writers hold.
        let rewrites = sh.rewrites.load(Ordering::Acquire);
        let (first, next) = (st.first(), st.next());
        if st.is_closed() {
            return Err(sh.closed_error());
        }
        if pos < first {
            return Err(truncated(pos, first));
        }
        if pos >= next {
            return Err(out_of_range(pos, first, next));
        }
        let a = st.segs.active();
        if pos >= a.base {
            let (offsets, written) = (a.offsets(), a.written());
            let i = (pos - a.base) as usize;
            let offset = offsets[i];
            let end = offsets.get(i + 1).copied().unwrap_or(st.segs.data_end());
            // A record in the file is whole there; a sync mark in the
            // buffer may follow it.
            let end = if offset < written {
                end.min(written)
            } else {
                end
            };
            if offset >= written {
                let from = (offset - written) as usize;
                let to = (end - written) as usize;
                return Ok(Location::Buffered(st.segs.buf()[from..to].to_vec()));
            }
            let in_file = offsets.partition_point(|&o| o < written);
            let run_end = a.base + in_file as u64;
            return Ok(Location::File {
                file: a.file.clone(),
                segment: a.first,
                offset,
                len: end - offset,
                run_end,
                run_end_offset: written,
                rewrites,
            });
        }
        match st.segs.sealed_holding(pos) {
            Some(s) => (s.clone(), st.meta(), rewrites),
            None => return Err(truncated(pos, first)),
        }
    };
    let cached = sh.indexes.cached(sealed.first);
    let extent = sealed.extent();
    let point = match (&cached, lookup) {
        (None, Lookup::Point) if !sh.indexes.is_hot(&sealed.index, &extent) => {
            sh.indexes.point(&sealed.index, &extent, pos)
        }
        _ => None,
    };
    let (offset, end) = match point {
        Some(found) => found,
        None => {
            let offsets = match cached {
                Some(v) => v,
                None => sh.load_index(&sealed, &meta)?,
            };
            let i = (pos - sealed.base) as usize;
            let offset = *offsets.get(i).ok_or_else(|| {
                Error::corruption(&sealed.path, 0, "index has fewer records than the segment")
            })?;
            (
                offset,
                offsets.get(i + 1).copied().unwrap_or(sealed.data_end),
            )
        }
    };
    Ok(Location::File {
        file: sealed.file.clone(),
        segment: sealed.first,
        offset,
        len: end - offset,
        run_end: sealed.end,
        run_end_offset: sealed.data_end,
        rewrites,
    })
}

/// Reads one record, checking its frame.
pub(crate) fn read_record(sh: &Shared, pos: u64) -> Result<Vec<u8>> {
    let mut retried = false;
    loop {
        let lookup = match retried {
            false => Lookup::Point,
            true => Lookup::Whole,
        };
        let location = match locate(sh, pos, lookup) {
            Err(e) if e.kind() == ErrorKind::Corruption && !retried => {
                retried = true;
                recheck_after_damage(sh, pos)?;
                continue;
            }
            other => other?,
        };
        let (checked, path, offset) = match location {
            Location::Buffered(frame) => {
                let checked = whole_payload(frame, pos, sh.opts.max_record_size);
                (checked, None, 0)
            }
            Location::File {
                file,
                segment,
                offset,
                len,
                ..
            } => {
                let max = sh.opts.max_record_size;
                if len > frame::frame_len(max) + frame::MAX_GAP {
                    // Written under a larger limit, or damage?
                    let path = sh.segment_path(segment);
                    return Err(match scan::intact_frame(&file, offset, offset + len, pos) {
                        Ok(Some(n)) if frame::fits_gap(frame::frame_len(n as usize), len) => {
                            oversize(&path, offset, pos, n, max)
                        }
                        Ok(_) => Error::corruption(
                            &path,
                            offset,
                            FrameError::TooLong { found: len, max },
                        )
                        .at_position(pos),
                        Err(e) => Error::io("read", &path, e),
                    });
                }
                let room = Room::Exactly(len);
                let checked = match read_split(&*file, offset, len) {
                    Ok(Split::Whole(frame)) => whole_payload(frame, pos, max),
                    Ok(Split::Parts(h, mut payload)) => {
                        frame::check_parts(&h, &payload, pos, max, room).map(|h| {
                            payload.truncate(h.len as usize);
                            payload
                        })
                    }
                    Ok(Split::Short) => Err(FrameError::Short),
                    Err(e) => return Err(Error::io("read", &sh.segment_path(segment), e)),
                };
                (checked, Some(segment), offset)
            }
        };
        match checked {
            Ok(payload) => return Ok(payload),
            Err(why) => {
                // A concurrent truncation may have punched or cut the
                // bytes under us: that is not corruption.
                let first = sh.first_hint.load(Ordering::Acquire);
                if pos < first {
                    return Err(truncated(pos, first));
                }
                if !retried {
                    retried = true;
                    if sh.opts.read_only {
                        crate::follower::reload(sh)?;
                    }
                    continue;
                }
                let path = path.map_or_else(|| sh.dir.clone(), |s| sh.segment_path(s));
                return Err(Error::corruption(&path, offset, why).at_position(pos));
            }
        }
    }
}

/// After the offsets of the segment holding `pos` could not be loaded
/// (its index rebuilt from bytes that failed the checks): the segment
/// may have been cut by a `truncate_back` or punched by a
/// `truncate_front` since it was looked up, so that is not corruption
/// yet. Returns `Truncated` if the front passed `pos`, else brings a
/// read-only view up to date so that the caller can look again.
pub(super) fn recheck_after_damage(sh: &Shared, pos: u64) -> Result<()> {
    let first = sh.first_hint.load(Ordering::Acquire);
    if pos < first {
        return Err(truncated(pos, first));
    }
    if sh.opts.read_only {
        crate::follower::reload(sh)?;
    }
    Ok(())
}

/// Waits until position `pos` exists (or the timeout passes).
pub(crate) fn wait_for(sh: &Shared, pos: u64, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    if sh.opts.read_only {
        return poll_for(sh, pos, deadline);
    }
    let mut st = sh.lock_state();
    sh.tail_waiters.fetch_add(1, Ordering::SeqCst);
    let result = loop {
        if st.next() > pos {
            break Ok(true);
        }
        if st.is_closed() {
            break Err(sh.closed_error());
        }
        match deadline {
            None => st = sh.appended_cv.wait(st).unwrap_or_else(|p| p.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break Ok(false);
                }
                st = sh
                    .appended_cv
                    .wait_timeout(st, d - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    };
    sh.tail_waiters.fetch_sub(1, Ordering::SeqCst);
    result
}

fn poll_for(sh: &Shared, pos: u64, deadline: Option<Instant>) -> Result<bool> {
    loop {
        if sh.lock_state().next() > pos {
            return Ok(true);
        }
        crate::follower::refresh(sh)?;
        if sh.lock_state().next() > pos {
            return Ok(true);
        }
        let nap = Duration::from_millis(10);
        match deadline {
            Some(d) if Instant::now() + nap > d => {
                return Ok(sh.lock_state().next() > pos);
            }
            _ => std::thread::sleep(nap),
        }
    }
}

/// A frame read from a file.
enum Split {
    /// A small frame, read with one call.
    Whole(Vec<u8>),
    /// A large frame: its header, and its payload read straight into the
    /// buffer returned to the caller.
    Parts([u8; HEADER_LEN], Vec<u8>),
    /// The file ends first (a racing truncation).
    Short,
}

/// Reads the frame `[offset, offset + len)`: small frames with one read,
/// large ones with two so the payload needs no copy afterwards.
fn read_split(file: &dyn FsFile, offset: u64, len: u64) -> std::io::Result<Split> {
    let eof_ok = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    };
    if len <= 4096 {
        let mut buf = vec![0u8; len as usize];
        if !eof_ok(file.read_point(&mut buf, offset))? {
            return Ok(Split::Short);
        }
        return Ok(Split::Whole(buf));
    }
    let mut header = [0u8; HEADER_LEN];
    let mut payload = vec![0u8; len as usize - HEADER_LEN];
    if !eof_ok(read_exact_at(file, &mut header, offset))?
        || !eof_ok(read_exact_at(
            file,
            &mut payload,
            offset + HEADER_LEN as u64,
        ))?
    {
        return Ok(Split::Short);
    }
    Ok(Split::Parts(header, payload))
}

/// Checks the whole frame of the record at `pos` (which takes all of
/// `frame`, perhaps with sync marks after it) and turns it into the
/// payload (moved down over the header, without a new allocation).
fn whole_payload(
    mut frame: Vec<u8>,
    pos: u64,
    max_len: usize,
) -> std::result::Result<Vec<u8>, FrameError> {
    let room = Room::Exactly(frame.len() as u64);
    let h = frame::check_frame(&frame, pos, max_len, room)?;
    frame.truncate(h.frame_len() as usize);
    frame.drain(..HEADER_LEN);
    Ok(frame)
}

/// The error for record `pos`, intact but `len` bytes long, more than this
/// open's `max` (the log was written with a larger limit): not damage.
pub(super) fn oversize(
    path: &std::path::Path,
    offset: u64,
    pos: u64,
    len: u32,
    max: usize,
) -> Error {
    let why = FrameError::Oversize {
        position: pos,
        len,
        max,
    };
    Error::invalid(why.to_string())
        .with_path(path)
        .at_offset(offset)
        .at_position(pos)
}
