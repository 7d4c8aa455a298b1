//! Where a raft group's entries live: a `Log` of its own, or one log of a
//! [`logstore::Store`] that many groups share.

use std::io;
use std::ops::Range;

use logstore::{Log, StoreLog};

/// The entry log of one raft group; cheap to clone.
#[derive(Clone)]
pub(crate) enum Entries {
    Log(std::sync::Arc<Log>),
    Store(StoreLog),
}

impl Entries {
    pub(crate) fn first_position(&self) -> io::Result<u64> {
        match self {
            Entries::Log(l) => Ok(l.first_position()),
            Entries::Store(l) => Ok(l.first_position()?),
        }
    }

    pub(crate) fn next_position(&self) -> io::Result<u64> {
        match self {
            Entries::Log(l) => Ok(l.next_position()),
            Entries::Store(l) => Ok(l.next_position()?),
        }
    }

    pub(crate) fn read(&self, position: u64) -> io::Result<Vec<u8>> {
        match self {
            Entries::Log(l) => Ok(l.read(position)?),
            Entries::Store(l) => Ok(l.read(position)?),
        }
    }

    /// Calls `f` for each record from `from` on until it returns false.
    pub(crate) fn replay(&self, from: u64, f: impl FnMut(u64, &[u8]) -> bool) -> io::Result<()> {
        match self {
            Entries::Log(l) => l.replay(from, f)?,
            Entries::Store(l) => l.replay(from, f)?,
        };
        Ok(())
    }

    pub(crate) fn truncate_front(&self, position: u64) -> io::Result<()> {
        match self {
            Entries::Log(l) => Ok(l.truncate_front(position)?),
            Entries::Store(l) => Ok(l.truncate_front(position)?),
        }
    }

    pub(crate) fn truncate_back(&self, position: u64) -> io::Result<()> {
        match self {
            Entries::Log(l) => Ok(l.truncate_back(position)?),
            Entries::Store(l) => Ok(l.truncate_back(position)?),
        }
    }

    /// Appends a record without waiting for it to be durable.
    pub(crate) fn submit(&self, record: &[u8]) -> io::Result<()> {
        match self {
            Entries::Log(l) => l.submit(record).map(|_| ())?,
            Entries::Store(l) => l.submit(record).map(|_| ())?,
        };
        Ok(())
    }

    /// Appends a record and calls `f` once it (and all before it) is
    /// durable, or with the error that means it may not be.
    pub(crate) fn submit_then(
        &self,
        record: &[u8],
        f: impl FnOnce(logstore::Result<Range<u64>>) + Send + 'static,
    ) -> io::Result<()> {
        match self {
            Entries::Log(l) => l.submit_batch_then(&[record], f).map(|_| ())?,
            Entries::Store(l) => l.submit_batch_then(&[record], f).map(|_| ())?,
        };
        Ok(())
    }

    /// Waits until everything submitted so far is durable.
    pub(crate) fn wait_submitted(&self) -> io::Result<()> {
        match self {
            Entries::Log(l) => {
                let next = l.next_position();
                if next > l.first_position() && l.durable_position() < next {
                    l.wait_durable(next - 1, None)?;
                }
                Ok(())
            }
            Entries::Store(l) => Ok(l.sync()?),
        }
    }

    /// Closes a log of its own (syncing it); a store's log is synced, and
    /// the store stays open for its other groups.
    pub(crate) fn close(&self) -> io::Result<()> {
        match self {
            Entries::Log(l) => Ok(l.close()?),
            Entries::Store(l) => Ok(l.sync()?),
        }
    }
}
