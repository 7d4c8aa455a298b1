//! The operating system's file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use super::mmap::MapState;
use super::{DirListing, Fs, FsFile, FsLock, OpenMode};

/// The real file system.
#[derive(Debug)]
pub(crate) struct RealFs {
    file_mode: AtomicU32,
}

impl RealFs {
    pub(crate) fn new() -> Self {
        RealFs {
            file_mode: AtomicU32::new(0o600),
        }
    }
}

impl Fs for RealFs {
    fn create_dir_all(&self, path: &Path, mode: u32) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
            || fs::metadata(path).is_ok_and(|m| m.is_dir())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut opts = OpenOptions::new();
        opts.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                opts.write(true);
            }
            OpenMode::CreateNew => {
                opts.write(true)
                    .create_new(true)
                    .mode(self.file_mode.load(Ordering::Relaxed));
            }
        }
        // Never follow a symbolic link to a segment: a link could point
        // anywhere, including another log's files.
        opts.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        Ok(Arc::new(RealFile {
            file: opts.open(path)?,
            map: OnceLock::new(),
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn list_dir(&self, path: &Path) -> io::Result<DirListing> {
        let mut listing = DirListing::default();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                listing.symlinks.push(name);
            } else if kind.is_file() {
                listing.files.push(name);
            } else {
                listing.others.push(name);
            }
        }
        Ok(listing)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn FsLock>>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(self.file_mode.load(Ordering::Relaxed))
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(RealLock(file)))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn set_file_mode(&self, mode: u32) {
        self.file_mode.store(mode, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct RealLock(#[allow(dead_code)] File);

impl FsLock for RealLock {}

#[derive(Debug)]
struct RealFile {
    file: File,
    /// Set by [`FsFile::map_reads`].
    map: OnceLock<MapState>,
}

impl RealFile {
    /// Records that the file now holds at least `end` bytes.
    fn wrote(&self, end: u64) {
        if let Some(state) = self.map.get() {
            state.wrote(end);
        }
    }
}

impl FsFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn write_all_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> io::Result<()> {
        if let [one] = bufs {
            // The common case (the write buffer): plain pwrite is cheaper
            // than pwritev.
            self.file.write_all_at(one, offset)?;
            self.wrote(offset + one.len() as u64);
            return Ok(());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let written = loop {
            match rustix::io::pwritev(&self.file, bufs, offset) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        if written == total {
            self.wrote(offset + total as u64);
            return Ok(());
        }
        // A short vectored write: finish piece by piece.
        let mut skip = written;
        let mut at = offset + written as u64;
        for buf in bufs {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            let rest = &buf[skip..];
            skip = 0;
            self.file.write_all_at(rest, at)?;
            at += rest.len() as u64;
        }
        self.wrote(at);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        // std uses fdatasync on Linux and F_FULLFSYNC on Apple platforms.
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn uncache(&self) -> io::Result<()> {
        use rustix::fs::{fadvise, Advice};
        fadvise(&self.file, 0, None, Advice::DontNeed).map_err(io::Error::from)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        match self.map.get() {
            Some(state) => state.set_len(&self.file, len),
            None => self.file.set_len(len),
        }
    }

    fn map_reads(&self, reserve: u64) {
        let Ok(len) = self.len() else {
            return;
        };
        let _ = self.map.set(MapState::new(len, reserve));
    }

    fn unmap_reads(&self) {
        if let Some(state) = self.map.get() {
            state.unmap();
        }
    }

    fn read_point(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if let Some(state) = self.map.get() {
            if state.copy(&self.file, buf, offset) {
                return Ok(());
            }
        }
        super::read_exact_at(self, buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn allocated_bytes(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.blocks() * 512)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<bool> {
        use rustix::fs::{fallocate, FallocateFlags};
        if len == 0 {
            return Ok(true);
        }
        match fallocate(
            &self.file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            offset,
            len,
        ) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn punch_hole(&self, _offset: u64, _len: u64) -> io::Result<bool> {
        Ok(false)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn next_data(&self, from: u64) -> io::Result<Option<u64>> {
        // `lseek` moves the file position, which nothing here uses (all
        // I/O is positioned).
        match rustix::fs::seek(&self.file, rustix::fs::SeekFrom::Data(from)) {
            Ok(at) => Ok(Some(at)),
            Err(rustix::io::Errno::NXIO) => Ok(None),
            // Unsupported here: every byte may be data.
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(Some(from)),
            Err(e) => Err(e.into()),
        }
    }
}
