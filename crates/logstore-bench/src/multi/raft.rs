//! raft-engine as its users run it for many raft groups: one group per
//! log, `compact_to` on truncation, `purge_expired_files` once a second
//! (it rewrites the live entries of lagging groups in old files).

use std::path::Path;

use raft_engine::{Engine, LogBatch};

use super::Multi;
use crate::stores::raft::{Entry, EntryExt};
use crate::stores::Res;

pub struct Groups {
    engine: Engine,
}

impl Groups {
    pub fn open(dir: &Path) -> Res<Groups> {
        Ok(Groups {
            engine: Engine::open(crate::stores::raft::config(dir)?)?,
        })
    }
}

impl Multi for Groups {
    /// Raft indexes start at 1: position p is index p + 1.
    fn append(&self, log: u64, position: u64, record: &[u8]) -> Res<()> {
        let mut batch = LogBatch::default();
        batch.add_entries::<EntryExt>(log + 1, &[Entry::new(position + 1, record)])?;
        self.engine.write(&mut batch, true)?;
        Ok(())
    }

    fn truncate_front(&self, log: u64, position: u64) -> Res<()> {
        self.engine.compact_to(log + 1, position + 1);
        Ok(())
    }

    fn settle(&self) -> Res<()> {
        self.engine.purge_expired_files()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(())
    }
}
