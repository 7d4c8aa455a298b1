//! The file-system seam: every byte the engine reads or writes goes through
//! [`Fs`] and [`FsFile`].
//!
//! Two implementations exist: [`real::RealFs`] (the operating system) and
//! [`sim::SimFs`] (an in-memory file system that keeps written and durable
//! bytes apart, can crash and can fail chosen calls). Platform `cfg`s live only
//! in this module.

use std::fmt::Debug;
use std::io::{self, IoSlice};
use std::path::Path;
use std::sync::Arc;

mod mmap;
pub(crate) mod real;
pub mod sim;

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; the file must not exist yet.
    CreateNew,
}

/// A file system as the engine sees it.
pub(crate) trait Fs: Send + Sync + Debug {
    fn create_dir_all(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn is_dir(&self, path: &Path) -> bool;
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not paths), in no particular order.
    /// Symbolic links are reported in the second list.
    fn list_dir(&self, path: &Path) -> io::Result<DirListing>;
    /// Makes the directory's entries (creations, removals, renames) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive advisory lock on `path` (creating it), held until
    /// the returned guard is dropped. `Ok(None)` means someone else holds it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn FsLock>>>;
    /// Permission bits for newly created files.
    fn set_file_mode(&self, mode: u32);
}

/// What [`Fs::list_dir`] found.
#[derive(Debug, Default)]
pub(crate) struct DirListing {
    pub files: Vec<String>,
    pub symlinks: Vec<String>,
    pub others: Vec<String>,
}

/// An open file.
pub(crate) trait FsFile: Send + Sync + Debug {
    /// Reads at `offset`; returns fewer bytes only at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `bufs` at `offset` (vectored, one call where possible).
    fn write_all_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> io::Result<()>;
    /// Makes the file's data (and the size) durable: fdatasync, or
    /// `F_FULLFSYNC` on macOS.
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and all its metadata durable (fsync), for
    /// size reductions.
    fn sync_all(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    /// Bytes the file occupies on disk (allocated blocks).
    fn allocated_bytes(&self) -> io::Result<u64>;
    /// Releases `[offset, offset + len)` to the file system, keeping the
    /// size; the range then reads as zeros. `Ok(false)` when unsupported.
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<bool>;
    /// The offset of the first byte at or after `from` that may be data
    /// (not in a hole, which reads as zeros); `None` if there is none
    /// before the end of the file. Lets a check for zeros skip the holes
    /// of a sparse file instead of reading them. By default every byte
    /// may be data.
    fn next_data(&self, from: u64) -> io::Result<Option<u64>> {
        Ok(Some(from))
    }
    /// Drops the file's clean pages from the OS cache, so that reads of
    /// them come from the disk. After a failed write-back, Linux marks the
    /// pages it could not write clean but keeps them: reads would go on
    /// returning bytes the disk does not hold, and no later sync would
    /// write them. Recovery calls this before it reads a segment whose
    /// records it will count durable (see docs/DESIGN.md, "Sync errors").
    /// Dirty pages stay (their write-back starts). A no-op where
    /// unsupported.
    fn uncache(&self) -> io::Result<()> {
        Ok(())
    }
    /// From now on, serve [`FsFile::read_point`] from a memory map of the
    /// file, reserving `reserve` bytes of address space so that the map
    /// also covers what is appended later. A no-op where unsupported.
    fn map_reads(&self, _reserve: u64) {}
    /// Stops serving reads from a memory map (the log is closing).
    fn unmap_reads(&self) {}
    /// Reads exactly `buf.len()` bytes at `offset` (one record), or fails
    /// with `UnexpectedEof`.
    fn read_point(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_exact_at(self, buf, offset)
    }
}

/// A held advisory lock.
pub(crate) trait FsLock: Send + Sync + Debug {}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with
/// `UnexpectedEof`.
pub(crate) fn read_exact_at<F: FsFile + ?Sized>(
    file: &F,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ends before the expected bytes",
            ));
        }
        done += n;
    }
    Ok(())
}
