//! The cut file `logstore.cut`: what `truncate_back` inside a batch is
//! about to do, made durable before it rewrites a record header in place
//! (docs/FORMAT.md).
//!
//! Cutting a batch in two leaves its last kept record flagged "batch
//! continues"; the flag must be cleared, which rewrites that record's
//! header. A power cut can garble a write that no sync has covered, and a
//! garbled header would lose a record that was acknowledged. So the new
//! header is first written here, durably; recovery finishes the job from
//! this file (rewrite, cut, remove), and `truncate_back` removes it only
//! once the segment is durable.

use std::io::IoSlice;
use std::path::Path;

use crate::error::{Error, Result};
use crate::file_syncs::LogDir;
use crate::frame;
use crate::fs::{read_exact_at, Fs, OpenMode};
use crate::header::{FileHeader, LogId, CUT_MAGIC, HEADER_LEN};
use crate::meta::replace_file;
use crate::options::MAX_RECORD_SIZE_LIMIT;
use crate::segment;
use crate::segment::scan::{self, ChunkReader};

pub(crate) const CUT_NAME: &str = "logstore.cut";
pub(crate) const CUT_TMP: &str = "logstore.cut.tmp";

/// A pending cut: record `position`, framed at `offset`, becomes the last
/// of its batch (its header's CRC becomes `crc`), and the segment ends
/// right after it, at `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    pub position: u64,
    pub offset: u64,
    pub end: u64,
    pub crc: u32,
}

impl Cut {
    /// The cut that ends the batch at the record `payload` at `position`,
    /// framed at `offset`.
    pub(crate) fn new(position: u64, offset: u64, payload: &[u8]) -> Cut {
        let h = frame::encode_header(position, payload, false);
        Cut {
            position,
            offset,
            end: offset + frame::frame_len(payload.len()),
            crc: u32::from_le_bytes(h[..4].try_into().expect("4 bytes")),
        }
    }

    /// The cut file's bytes: a file header of kind `LOGSTCUT`.
    pub(crate) fn encode(&self, log_id: LogId) -> [u8; HEADER_LEN] {
        FileHeader {
            magic: CUT_MAGIC,
            log_id,
            fields: [self.position, self.offset, self.end],
            extra: self.crc,
        }
        .encode()
    }
}

/// Durably records `cut` before the header it describes is rewritten.
pub(crate) fn write(dir: LogDir<'_>, log_id: LogId, cut: &Cut) -> Result<()> {
    replace_file(dir, CUT_TMP, CUT_NAME, &cut.encode(log_id))
}

/// Removes the cut file once the cut is durable; the directory is synced
/// so that it cannot come back and cut records appended later.
pub(crate) fn clear(dir: LogDir<'_>) -> Result<()> {
    let path = dir.path.join(CUT_NAME);
    dir.fs
        .remove_file(&path)
        .map_err(|e| Error::io("remove", &path, e))?;
    dir.sync()
}

/// At open, before any segment is read: finishes a cut a crash
/// interrupted. `segments` are the first positions of the segments found.
///
/// The record's payload is read and checked against the CRC the cut file
/// holds, so a cut file that does not fit the segment (the record is not
/// there, or is damaged) writes nothing; it is removed, and the segment is
/// then checked like any other.
pub(crate) fn finish(fs: &dyn Fs, dir: &Path, log_id: LogId, segments: &[u64]) -> Result<()> {
    let path = dir.join(CUT_NAME);
    let file = match fs.open(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let mut b = [0u8; HEADER_LEN];
    let cut = match read_exact_at(&*file, &mut b, 0) {
        Ok(()) => FileHeader::decode(&b, CUT_MAGIC, Some(&log_id))
            .ok()
            .map(|h| Cut {
                position: h.fields[0],
                offset: h.fields[1],
                end: h.fields[2],
                crc: h.extra,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    drop(file);
    // The file is replaced by a rename, so a damaged one was never a cut
    // that started: there is nothing to finish.
    if let Some(cut) = cut {
        if let Some(&first) = segments.iter().rev().find(|&&f| f <= cut.position) {
            apply(fs, &dir.join(segment::segment_name(first)), &cut)?;
        }
    }
    clear(LogDir::opening(fs, dir))
}

fn apply(fs: &dyn Fs, path: &Path, cut: &Cut) -> Result<()> {
    let payload_at = cut.offset.saturating_add(frame::HEADER_LEN as u64);
    // Any length the format allows: the log may have been written with a
    // larger `max_record_size` than this open's. The payload is summed in
    // pieces, so a damaged cut file cannot make this allocate much.
    let Some(len) = cut
        .end
        .checked_sub(payload_at)
        .filter(|&l| l > 0 && l <= MAX_RECORD_SIZE_LIMIT as u64)
    else {
        return Ok(());
    };
    let file = match fs.open(path, OpenMode::ReadWrite) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let file_len = file.len().map_err(|e| Error::io("stat", path, e))?;
    if file_len < cut.end {
        return Ok(());
    }
    let mut header = frame::encode_header_with_crc(cut.position, len as u32, false, 0);
    let mut reader = ChunkReader::new(file.clone(), len.min(1 << 20) as usize);
    let sum = scan::frame_sum(&mut reader, &header, payload_at, cut.end)
        .map_err(|e| Error::io("read", path, e))?;
    if sum != Some(cut.crc) {
        return Ok(());
    }
    header[..frame::LEN_AT].copy_from_slice(&cut.crc.to_le_bytes());
    file.write_all_at(&[IoSlice::new(&header)], cut.offset)
        .map_err(|e| Error::io("write", path, e))?;
    file.set_len(cut.end)
        .map_err(|e| Error::io("truncate", path, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}
