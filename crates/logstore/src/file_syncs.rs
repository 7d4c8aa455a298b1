//! Every `fdatasync` of a segment file, and every sync of the directory,
//! while the log is open goes through [`FileSyncs`], so that a sync's
//! success is believed only when it can be.
//!
//! Linux reports a write-back error once per open file: the first sync of
//! the file to check after the error takes it, and a sync of the same file
//! running at the same time may return success although pages it covers
//! were lost. The engine syncs a segment from several threads: a
//! group-commit leader, the zeros written ahead of the data on the
//! background thread, the sync of a segment found unsealed at open,
//! `truncate_front` and `truncate_back` making new segments durable. It
//! syncs the directory from those and from the background removal of dead
//! segments. So a success counts only once every other sync of the same
//! file that was still running when it returned has ended, and only if no
//! sync of the log's files has failed (a failed one poisons the log: see
//! docs/DESIGN.md, "Sync errors").
//!
//! A sync that starts after another has returned cannot take that one's
//! error: a sync waits for the write-back of the pages it covers, and a
//! write-back error is recorded before that wait ends. So a success waits
//! for at most the syncs already running when it returned, never for
//! later ones, and nobody waits longer than one sync.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{Fs, FsFile};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// The syncs running now, and whether one has failed.
#[derive(Debug, Default)]
pub(crate) struct FileSyncs {
    ledger: Mutex<Ledger>,
    ended: Condvar,
}

#[derive(Debug, Default)]
struct Ledger {
    /// The ticket of the next sync to start.
    next: u64,
    /// (ticket, file) of every sync running now.
    running: Vec<(u64, usize)>,
    /// A sync of one of the log's files has failed.
    failed: bool,
}

/// Identifies an open file: syncs through the same handle share its
/// error state.
fn file_key(file: &Arc<dyn FsFile>) -> usize {
    Arc::as_ptr(file) as *const u8 as usize
}

/// The key of the log's directory (no file's address).
const DIR_KEY: usize = usize::MAX;

/// Ends a running sync's ticket, also if the sync panics. A sync that
/// panicked has not said whether the data reached the disk: it counts as
/// failed.
struct Running<'a> {
    syncs: &'a FileSyncs,
    ticket: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut l = self.syncs.lock();
        if std::thread::panicking() {
            l.failed = true;
        }
        l.running.retain(|&(t, _)| t != self.ticket);
        drop(l);
        self.syncs.ended.notify_all();
    }
}

impl FileSyncs {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `fdatasync`s `file` (named `path` in errors). An error says the
    /// file's data may be lost, and the caller must poison the log: an
    /// `Io` error of this sync, or `Poisoned` when a sync of the log's
    /// files failed before this one could be counted.
    pub(crate) fn sync_data(&self, file: &Arc<dyn FsFile>, path: &Path) -> Result<()> {
        self.run(file_key(file), path, "fdatasync", || file.sync_data())
    }

    /// As [`FileSyncs::sync_data`], with `fsync` (after a change of the
    /// file's length).
    pub(crate) fn sync_all(&self, file: &Arc<dyn FsFile>, path: &Path) -> Result<()> {
        self.run(file_key(file), path, "fsync", || file.sync_all())
    }

    /// As [`FileSyncs::sync_data`], for the log's directory `dir`: its
    /// entries (creations, removals, renames). The kernel reports a
    /// directory's write-back error once too.
    pub(crate) fn sync_dir(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        self.run(DIR_KEY, dir, "fsync", || fs.sync_dir(dir))
    }

    fn run(
        &self,
        key: usize,
        path: &Path,
        what: &str,
        sync: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<()> {
        let ticket = {
            let mut l = self.lock();
            let t = l.next;
            l.next += 1;
            l.running.push((t, key));
            t
        };
        let running = Running {
            syncs: self,
            ticket,
        };
        let result = sync();
        if result.is_err() {
            self.lock().failed = true;
        }
        drop(running);
        if let Err(e) = result {
            return Err(Error::io(what, path, e));
        }
        // The syncs of this file that started before this one returned
        // may have taken its error: wait for them to end.
        let mut l = self.lock();
        let horizon = l.next;
        while !l.failed && l.running.iter().any(|&(t, k)| k == key && t < horizon) {
            l = self.ended.wait(l).unwrap_or_else(|p| p.into_inner());
        }
        if l.failed {
            return Err(Error::new(
                ErrorKind::Poisoned,
                "a sync of the log's files failed before this one could be counted: \
                 the kernel reports a write-back error to one sync of a file only",
            )
            .with_path(path));
        }
        Ok(())
    }
}

/// The log's directory, for the small files replaced in it (the meta
/// file, the cut file, the close index). Once the log is open its syncs
/// go through the ledger, as every other sync of the directory does.
#[derive(Clone, Copy)]
pub(crate) struct LogDir<'a> {
    pub fs: &'a dyn Fs,
    pub path: &'a Path,
    syncs: Option<&'a FileSyncs>,
}

impl<'a> LogDir<'a> {
    /// While the log opens, when no other thread syncs its files.
    pub(crate) fn opening(fs: &'a dyn Fs, path: &'a Path) -> Self {
        LogDir {
            fs,
            path,
            syncs: None,
        }
    }

    /// Of an open log, whose syncs `syncs` counts.
    pub(crate) fn open(fs: &'a dyn Fs, path: &'a Path, syncs: &'a FileSyncs) -> Self {
        LogDir {
            fs,
            path,
            syncs: Some(syncs),
        }
    }

    /// Makes the directory's entries durable.
    pub(crate) fn sync(&self) -> Result<()> {
        match self.syncs {
            Some(s) => s.sync_dir(self.fs, self.path),
            None => self
                .fs
                .sync_dir(self.path)
                .map_err(|e| Error::io("fsync", self.path, e)),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_sync_that_panics_counts_as_failed() {
        let syncs = FileSyncs::default();
        let path = Path::new("/log/00000000000000000000.seg");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = syncs.run(1, path, "fdatasync", || panic!("the sync panicked"));
        }));
        assert!(panicked.is_err());
        // A later sync, of another file, cannot be believed.
        let e = syncs.run(2, path, "fdatasync", || Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    }

    #[test]
    fn a_failed_directory_sync_fails_the_syncs_after_it() {
        let syncs = FileSyncs::default();
        let fs = crate::fs::sim::SimFs::new();
        fs.fail(
            crate::fs::sim::Op::SyncDir,
            1,
            crate::fs::sim::FaultError::Io,
            false,
        );
        let dir = Path::new("/");
        assert_eq!(syncs.sync_dir(&fs, dir).unwrap_err().kind(), ErrorKind::Io);
        let e = syncs.sync_dir(&fs, dir).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    }
}
