//! The zeros written ahead of the active segment's data (see
//! [`crate::prezero`] for why): how far they reach, the range being
//! written, and whether this handle still writes them.
//!
//! Invariants, kept by the methods below:
//! - `end >= ` the data written to the file: the bytes from the data's
//!   end up to `end` are zeros, written and synced.
//! - While `zeroing_from` is set, the background thread writes zeros from
//!   there on, and nothing else writes at or past it.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::FsFile;

/// The preallocated space of one active segment file.
#[derive(Debug)]
pub(crate) struct Zeros {
    /// End of the file's preallocated space.
    end: u64,
    /// Start of the range the background thread is writing, while it does.
    zeroing_from: Option<u64>,
}

impl Zeros {
    /// No space written ahead of data that ends at `data_end`.
    pub(crate) fn none(data_end: u64) -> Self {
        Zeros {
            end: data_end,
            zeroing_from: None,
        }
    }

    /// End of the preallocated space (the data's end when there is none).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Where the range being written starts, if a job writes one.
    pub(crate) fn zeroing_from(&self) -> Option<u64> {
        self.zeroing_from
    }

    /// A job starts writing zeros from `from`.
    pub(crate) fn begin(&mut self, from: u64) {
        self.zeroing_from = Some(from);
    }

    /// The job ended; with `reached`, its zeros are synced up to there.
    pub(crate) fn end_job(&mut self, reached: Option<u64>) {
        self.zeroing_from = None;
        if let Some(to) = reached {
            self.end = self.end.max(to);
        }
    }

    /// The file was cut at `len` (the data's end): nothing lies ahead.
    pub(crate) fn cut_to(&mut self, len: u64) {
        self.end = len;
    }

    /// Cuts the zeros off `file`, whose data ends at `data_end`: the
    /// segment stops being the active one, or the log closes.
    pub(crate) fn trim(
        &mut self,
        file: &Arc<dyn FsFile>,
        path: &Path,
        data_end: u64,
    ) -> Result<()> {
        if self.end > data_end {
            file.set_len(data_end)
                .map_err(|e| Error::io("truncate", path, e))?;
            self.end = data_end;
        }
        Ok(())
    }
}

/// Whether this handle writes zeros ahead, and whether a job is queued.
#[derive(Debug, Default)]
pub(crate) struct ZeroJobs {
    queued: bool,
    /// Writing zeros failed once (no space, say): no more preallocation
    /// for this handle; appends grow the file as without it.
    failed: bool,
}

impl ZeroJobs {
    /// Whether a new job may be queued now.
    pub(crate) fn may_queue(&self) -> bool {
        !self.queued && !self.failed
    }

    pub(crate) fn queue(&mut self) {
        self.queued = true;
    }

    /// The queued job runs: it may queue the next one.
    pub(crate) fn take(&mut self) {
        self.queued = false;
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    pub(crate) fn fail(&mut self) {
        self.failed = true;
    }
}
