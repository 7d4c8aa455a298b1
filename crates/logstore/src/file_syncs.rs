//! Every `fdatasync` of a segment file while the log is open goes through
//! [`FileSyncs`], so that a sync's success is believed only when it can be.
//!
//! Linux reports a write-back error once per open file: the first sync of
//! the file to check after the error takes it, and a sync of the same file
//! running at the same time may return success although pages it covers
//! were lost. The engine syncs a segment from several threads: a
//! group-commit leader, the zeros written ahead of the data on the
//! background thread, the sync of a segment found unsealed at open,
//! `truncate_front` and `truncate_back` making new segments durable. So a
//! success counts only once every other sync of the same file that was
//! still running when it returned has ended, and only if no sync of the
//! log's files has failed (a failed one poisons the log: see
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
use crate::fs::FsFile;
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

/// Ends a running sync's ticket, also if the sync panics.
struct Running<'a> {
    syncs: &'a FileSyncs,
    ticket: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut l = self.syncs.lock();
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
        self.run(file, path, "fdatasync", || file.sync_data())
    }

    /// As [`FileSyncs::sync_data`], with `fsync` (after a change of the
    /// file's length).
    pub(crate) fn sync_all(&self, file: &Arc<dyn FsFile>, path: &Path) -> Result<()> {
        self.run(file, path, "fsync", || file.sync_all())
    }

    fn run(
        &self,
        file: &Arc<dyn FsFile>,
        path: &Path,
        what: &str,
        sync: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<()> {
        let key = file_key(file);
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
