//! The meta file `logstore.meta`: the log's identity and the durable first
//! position (docs/FORMAT.md). It is replaced atomically: written to a
//! temporary file, synced, renamed over the old one, and the directory
//! synced.

use std::path::Path;

use crate::error::{Error, Result};
use crate::file_syncs::LogDir;
use crate::fs::{read_exact_at, Fs, OpenMode};
use crate::header::{FileHeader, LogId, HEADER_LEN, META_MAGIC};
use std::io::IoSlice;

pub(crate) const META_NAME: &str = "logstore.meta";
const META_TMP: &str = "logstore.meta.tmp";

/// What to do about a damaged meta file.
pub(crate) const REBUILD: &str =
    "it can be rebuilt from the segment headers (`logstore repair`, or `Log::repair_meta`)";

/// What the meta file records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub log_id: LogId,
    /// Records before this position are gone, whatever the segments hold.
    pub first: u64,
    /// The segment holding `first` when it was set (its first position)...
    pub first_segment: u64,
    /// ...and the byte offset of `first`'s frame in it. Scans of that
    /// segment start here, since the bytes before it may be punched out.
    pub first_offset: u64,
}

impl Meta {
    /// Where a scan of the segment starting at `first` begins (offset,
    /// position): at the recorded first-record offset if the log's front
    /// was truncated into it (the bytes before may be punched out, even
    /// when the segment's offsets in memory start before), else at its
    /// first record.
    pub(crate) fn scan_start(&self, first: u64) -> (u64, u64) {
        if self.first_segment == first && self.first > first {
            (self.first_offset, self.first)
        } else {
            (HEADER_LEN as u64, first)
        }
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        FileHeader {
            magic: META_MAGIC,
            log_id: self.log_id,
            fields: [self.first, self.first_segment, self.first_offset],
            extra: 0,
        }
        .encode()
    }
}

/// Reads the meta file of the log in `dir`; `Ok(None)` if there is none.
pub(crate) fn read(fs: &dyn Fs, dir: &Path) -> Result<Option<Meta>> {
    let path = dir.join(META_NAME);
    let file = match fs.open(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let mut b = [0u8; HEADER_LEN];
    read_exact_at(&*file, &mut b, 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::corruption(
            &path,
            0,
            format!("meta file is shorter than its header; {REBUILD}"),
        ),
        _ => Error::io("read", &path, e),
    })?;
    let h = FileHeader::decode(&b, META_MAGIC, None)
        .map_err(|e| Error::corruption(&path, 0, format!("bad meta file: {e}; {REBUILD}")))?;
    let [first, first_segment, first_offset] = h.fields;
    Ok(Some(Meta {
        log_id: h.log_id,
        first,
        first_segment,
        first_offset,
    }))
}

/// Rewrites the meta file of the log in `dir` in the current format
/// version if it is of an older one.
pub(crate) fn upgrade(fs: &dyn Fs, dir: &Path, meta: &Meta) -> Result<()> {
    let path = dir.join(META_NAME);
    let file = fs
        .open(&path, OpenMode::Read)
        .map_err(|e| Error::io("open", &path, e))?;
    let mut b = [0u8; HEADER_LEN];
    read_exact_at(&*file, &mut b, 0).map_err(|e| Error::io("read", &path, e))?;
    drop(file);
    if crate::header::version_of(&b) < crate::header::VERSION {
        write(LogDir::opening(fs, dir), meta)?;
    }
    Ok(())
}

/// Durably replaces the meta file.
pub(crate) fn write(dir: LogDir<'_>, meta: &Meta) -> Result<()> {
    replace_file(dir, META_TMP, META_NAME, &meta.encode())
}

/// Durably replaces (or creates) the small file `name` in `dir` with
/// `bytes`: written as `tmp`, fdatasync'ed, renamed over `name`, and the
/// directory fsync'ed. A crash leaves the old file or the new one, whole.
pub(crate) fn replace_file(log_dir: LogDir<'_>, tmp: &str, name: &str, bytes: &[u8]) -> Result<()> {
    let (fs, dir) = (log_dir.fs, log_dir.path);
    let tmp = dir.join(tmp);
    let path = dir.join(name);
    match fs.remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &tmp, e)),
    }
    let file = fs
        .open(&tmp, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all_at(&[IoSlice::new(bytes)], 0)
        .map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync", &tmp, e))?;
    drop(file);
    fs.rename(&tmp, &path)
        .map_err(|e| Error::io("rename", &path, e))?;
    log_dir.sync()
}
