//! logstore itself.

use std::path::Path;

use logstore::{Log, Options, SyncPolicy};

use super::{Mode, Res, Store};

/// The in-process buffer of the buffered variant.
pub const WRITE_BUFFER: usize = 256 << 10;

/// A [`Log`] opened with `SyncPolicy::Always` when durable, `Never` otherwise.
pub struct LogstoreStore {
    log: Log,
}

impl LogstoreStore {
    /// Opens or creates the log in `dir`.
    pub fn open(dir: &Path, mode: Mode) -> Res<LogstoreStore> {
        let policy = if mode.durable {
            SyncPolicy::Always
        } else {
            SyncPolicy::Never
        };
        let buffer = if mode.buffered { WRITE_BUFFER } else { 0 };
        let opts = Options::default()
            .sync_policy(policy)
            .write_buffer(buffer)
            .mmap_reads(mode.mmap_reads);
        Ok(LogstoreStore {
            log: Log::open(dir, opts)?,
        })
    }
}

impl Store for LogstoreStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        Ok(self.log.append(record)?)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        Ok(self.log.read(position)?)
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let mut failure = None;
        let n = self.log.replay(from, |pos, rec| match f(pos, rec) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn first(&self) -> Res<u64> {
        Ok(self.log.first_position())
    }

    fn next(&self) -> Res<u64> {
        Ok(self.log.next_position())
    }

    fn truncate_front(&self, position: u64) -> Res<()> {
        Ok(self.log.truncate_front(position)?)
    }

    fn wait_reclaimed(&self) -> Res<()> {
        self.log.wait_reclaimed();
        Ok(())
    }

    fn flush(&self) -> Res<()> {
        Ok(self.log.flush()?)
    }

    fn sync(&self) -> Res<()> {
        Ok(self.log.sync()?)
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(self.log.close()?)
    }
}
