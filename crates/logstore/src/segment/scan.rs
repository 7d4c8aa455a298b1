//! Walking a segment's records from a known offset and position, checking
//! each one. Used by recovery, index rebuilding and verification.

use std::io;
use std::sync::Arc;

use crate::frame::{self, FrameError, Room, HEADER_LEN};
use crate::fs::FsFile;

/// Reads a file through a buffer, in large chunks.
///
/// The buffer is zeroed once, when it grows, and then reused: a replay
/// of gigabytes costs one copy from the page cache per byte, not a
/// memset and a copy.
pub(crate) struct ChunkReader {
    file: Arc<dyn FsFile>,
    /// `buf[..filled]` holds the file's bytes from `start` on; the rest
    /// is scratch space.
    buf: Vec<u8>,
    filled: usize,
    /// File offset of `buf[0]`.
    start: u64,
    chunk: usize,
}

impl ChunkReader {
    pub(crate) fn new(file: Arc<dyn FsFile>, chunk: usize) -> Self {
        Self::with_buffer(file, chunk, Vec::new())
    }

    /// A reader that reuses `buf` (from [`ChunkReader::into_buffer`]):
    /// fresh memory is slow to touch, and large records need large
    /// buffers.
    pub(crate) fn with_buffer(file: Arc<dyn FsFile>, chunk: usize, buf: Vec<u8>) -> Self {
        ChunkReader {
            file,
            buf,
            filled: 0,
            start: 0,
            chunk,
        }
    }

    /// The file read.
    pub(crate) fn file(&self) -> &Arc<dyn FsFile> {
        &self.file
    }

    /// The buffer, for the next reader.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The `n` bytes at `offset`, or `None` if the file ends first. Reading
    /// is forward-only in practice; going back re-reads.
    #[inline]
    pub(crate) fn get(&mut self, offset: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let have = offset >= self.start && offset + n as u64 <= self.start + self.filled as u64;
        if !have && !self.fill(offset, n)? {
            return Ok(None);
        }
        let at = (offset - self.start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }

    /// Makes `buf` start at `offset` and hold at least `n` bytes (or all
    /// the file has); whether it does.
    #[cold]
    fn fill(&mut self, offset: u64, n: usize) -> io::Result<bool> {
        if offset < self.start || offset > self.start + self.filled as u64 {
            self.filled = 0;
        } else {
            let skip = (offset - self.start) as usize;
            if skip > 0 {
                self.buf.copy_within(skip..self.filled, 0);
                self.filled -= skip;
            }
        }
        self.start = offset;
        let want = n.max(self.chunk);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.filled < want {
            let got = self.file.read_at(
                &mut self.buf[self.filled..want],
                self.start + self.filled as u64,
            )?;
            if got == 0 {
                break;
            }
            self.filled += got;
        }
        Ok(self.filled >= n)
    }
}

/// Where and why a scan stopped before the end of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Byte offset of the first bad or incomplete frame.
    pub offset: u64,
    pub reason: FrameError,
    /// Everything from `offset` to the end of the file is zero.
    pub zero_tail: bool,
}

impl Damage {
    /// The scan stopped at an intact record longer than the limit it was
    /// given (the log was written with a larger `max_record_size`): not
    /// damage, and nothing to cut.
    pub(crate) fn is_oversize(&self) -> bool {
        matches!(self.reason, FrameError::Oversize { .. })
    }
}

/// The result of scanning a segment.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Offsets of the records found, in order (complete batches only).
    pub offsets: Vec<u64>,
    /// Offset just past the last complete batch.
    pub end: u64,
    /// Position the next record would have.
    pub next_position: u64,
    /// Why the scan stopped short of `limit`; `None` if it reached it.
    pub damage: Option<Damage>,
    /// The highest position a sync mark read by the scan vouches for:
    /// every position below it was durable when the mark was written
    /// (0 if no mark was read).
    pub vouched: u64,
}

/// Frames longer than this are checksummed in pieces by [`scan`].
const SUM_IN_PIECES: u64 = 1 << 20;

/// Scans frames from `offset` (holding `position`) up to `limit` bytes.
pub(crate) fn scan(
    file: &Arc<dyn FsFile>,
    offset: u64,
    position: u64,
    limit: u64,
    max_len: usize,
) -> io::Result<Scan> {
    let mut r = ChunkReader::new(file.clone(), scan_chunk(offset, limit));
    let mut scan = Scan {
        end: offset,
        next_position: position,
        ..Scan::default()
    };
    let mut at = offset;
    let mut pos = position;
    // Records of a batch not yet known to be complete.
    let mut pending: Vec<u64> = Vec::new();
    let stop = loop {
        if at >= limit {
            break None;
        }
        let Some(raw) = r.get(at, HEADER_LEN)? else {
            break Some(FrameError::ShortHeader { left: limit - at });
        };
        let raw: [u8; HEADER_LEN] = raw.try_into().expect("header length");
        if frame::is_mark_tagged(&raw) {
            // A sync mark (docs/FORMAT.md): not a record, but part of the
            // data; it is never written inside a batch.
            let vouched = match at + frame::MARK_LEN > limit {
                true => Err(FrameError::MarkPastEnd),
                false => frame::check_mark(&raw, at),
            };
            match vouched {
                Ok(p) if pending.is_empty() => {
                    scan.vouched = scan.vouched.max(p);
                    at += frame::MARK_LEN;
                    scan.end = at;
                    continue;
                }
                Ok(_) => break Some(FrameError::MarkInBatch),
                Err(e) => break Some(e),
            }
        }
        let h = match frame::check_header(&raw, max_len, Room::UpTo(limit - at)) {
            Ok(h) => h,
            Err(FrameError::BadLength { len, max }) => {
                if intact_oversize(&mut r, &raw, at, limit, pos)? {
                    break Some(FrameError::Oversize {
                        position: pos,
                        len,
                        max,
                    });
                }
                break Some(FrameError::BadLength { len, max });
            }
            Err(e) => break Some(e),
        };
        let next = match check_rest(&mut r, &raw, &h, at, pos)? {
            Ok(next) => next,
            Err(e) => break Some(e),
        };
        pending.push(at);
        at += h.frame_len();
        pos = next;
        if !h.continues {
            scan.offsets.append(&mut pending);
            scan.end = at;
            scan.next_position = pos;
        }
    };
    let reason = match (stop, pending.is_empty()) {
        (Some(reason), _) => reason,
        (None, true) => return Ok(scan),
        (None, false) => FrameError::BatchIncomplete,
    };
    let zero_tail = is_zero_from(file, scan.end, limit)?;
    let offset = match reason {
        FrameError::Oversize { .. } => at,
        _ => scan.end,
    };
    scan.damage = Some(Damage {
        offset,
        reason,
        zero_tail,
    });
    Ok(scan)
}

/// The checks of the frame at `at`, past its header `h` (read from `raw`):
/// its checksum, then its position (`pos` expected); the next position.
/// Only the checksum needs the payload: a large record is summed in
/// pieces, so that a length read from disk (in a sparse file, say) never
/// sizes a buffer.
fn check_rest(
    r: &mut ChunkReader,
    raw: &[u8; HEADER_LEN],
    h: &frame::Header,
    at: u64,
    pos: u64,
) -> io::Result<Result<u64, FrameError>> {
    let total = h.frame_len();
    let sum = if total > SUM_IN_PIECES {
        frame_sum(r, raw, at + HEADER_LEN as u64, at + total)?
    } else {
        r.get(at, total as usize)?.map(frame::frame_sum)
    };
    Ok(match sum {
        None => Err(FrameError::Short),
        Some(sum) => h.check(sum, pos),
    })
}

/// The highest position vouched for by a valid sync mark anywhere in
/// `[from, limit)` of `file`, at any byte offset (0 if there is none):
/// used past damage, where frames can no longer be followed. Read in
/// pieces of 1 MiB, whatever the file's length.
pub(crate) fn vouched_in(file: &Arc<dyn FsFile>, from: u64, limit: u64) -> io::Result<u64> {
    const PIECE: usize = 1 << 20;
    let mut r = ChunkReader::new(file.clone(), PIECE + HEADER_LEN);
    let mut best = 0;
    let mut at = from;
    while at + frame::MARK_LEN <= limit {
        let want = ((limit - at) as usize).min(PIECE + HEADER_LEN - 1);
        let Some(bytes) = r.get(at, want)? else {
            // The file is shorter than `limit`: search what it has.
            let len = file.len()?;
            if len >= limit || len <= at {
                break;
            }
            return Ok(best.max(vouched_in(file, at, len)?));
        };
        for (i, w) in bytes.windows(HEADER_LEN).enumerate() {
            // The tag's last byte, 0x80, is rare in zeros and text.
            if w[frame::LEN_AT + 3] != 0x80 {
                continue;
            }
            let raw: &[u8; HEADER_LEN] = w.try_into().expect("window length");
            if let Some(p) = frame::decode_mark(raw, at + i as u64) {
                best = best.max(p);
            }
        }
        // The next piece starts where the last whole window could not.
        at += (bytes.len() + 1).saturating_sub(HEADER_LEN).max(1) as u64;
    }
    Ok(best)
}

/// Whether the frame at `at` of `file` is an intact record at `position`
/// ending by `limit`, of any length the format allows; its length if so.
/// Read in pieces: a forged length never makes this allocate more than
/// 1 MiB.
pub(crate) fn intact_frame(
    file: &Arc<dyn FsFile>,
    at: u64,
    limit: u64,
    position: u64,
) -> io::Result<Option<u32>> {
    let mut r = ChunkReader::new(file.clone(), scan_chunk(at, limit));
    let Some(raw) = r.get(at, HEADER_LEN)? else {
        return Ok(None);
    };
    let raw: [u8; HEADER_LEN] = raw.try_into().expect("header length");
    let len = frame::decode_any_length(&raw).map(|h| h.len);
    Ok(
        match len.is_some() && intact_oversize(&mut r, &raw, at, limit, position)? {
            true => len,
            false => None,
        },
    )
}

/// Whether the frame at `at`, whose header `raw` gives a length above the
/// scan's limit, is nevertheless an intact record at `position`: its length
/// is possible for the format, its bytes are all there, and its checksum
/// and position match. The payload is summed in pieces, so a forged length
/// never makes this allocate more than one chunk.
fn intact_oversize(
    r: &mut ChunkReader,
    raw: &[u8; HEADER_LEN],
    at: u64,
    limit: u64,
    position: u64,
) -> io::Result<bool> {
    let room = Room::UpTo(limit.saturating_sub(at));
    let Ok(h) = frame::check_header(raw, crate::options::MAX_RECORD_SIZE_LIMIT, room) else {
        return Ok(false);
    };
    // The position first: a forged length is not summed for nothing.
    if h.check_position(position).is_err() {
        return Ok(false);
    }
    Ok(check_rest(r, raw, &h, at, position)?.is_ok())
}

/// The CRC32C of a frame whose header is `header` (its CRC field is not
/// summed) and whose payload is `[from, end)` of the file, read in pieces
/// of at most 1 MiB, so that a payload of any length never needs a buffer
/// of its size. `None` if the file ends first.
pub(crate) fn frame_sum(
    r: &mut ChunkReader,
    header: &[u8; HEADER_LEN],
    mut from: u64,
    end: u64,
) -> io::Result<Option<u32>> {
    let mut sum = frame::header_sum(header);
    while from < end {
        let n = (end - from).min(1 << 20) as usize;
        let Some(bytes) = r.get(from, n)? else {
            return Ok(None);
        };
        sum = crc32c::crc32c_append(sum, bytes);
        from += n as u64;
    }
    Ok(Some(sum))
}

/// The chunk for reading `[from, limit)`: 1 MiB, or less for less (the
/// buffer is zeroed once, and opening a log scans its small tail files).
fn scan_chunk(from: u64, limit: u64) -> usize {
    limit.saturating_sub(from).clamp(4096, 1 << 20) as usize
}

fn is_zero_from(file: &Arc<dyn FsFile>, from: u64, limit: u64) -> io::Result<bool> {
    let mut r = ChunkReader::new(file.clone(), scan_chunk(from, limit));
    let mut at = from;
    while at < limit {
        // Holes read as zeros: a sparse file's are skipped, not read.
        match file.next_data(at)? {
            Some(data) if data < limit => at = at.max(data),
            _ => return Ok(true),
        }
        let n = ((limit - at) as usize).min(1 << 20);
        match r.get(at, n)? {
            Some(b) if b.iter().all(|&x| x == 0) => at += n as u64,
            _ => return Ok(false),
        }
    }
    Ok(true)
}
