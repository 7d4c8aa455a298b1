//! logstore: every log in one `Store`, or one `Log` per log.

use std::path::Path;

use logstore::{Log, Options, Store, StoreLog, StoreOptions, SyncPolicy};

use super::Multi;
use crate::stores::Res;

/// Every log in one [`Store`], background compaction on (its defaults).
pub struct OneStore {
    store: Store,
    logs: Vec<StoreLog>,
}

impl OneStore {
    pub fn open(dir: &Path, logs: u64) -> Res<OneStore> {
        let opts =
            StoreOptions::default().log_options(Options::default().sync_policy(SyncPolicy::Always));
        let store = Store::open(dir, opts)?;
        let have = store.logs();
        let logs = (0..logs)
            .map(|id| match have.binary_search(&id) {
                Ok(_) => store.log(id),
                Err(_) => store.create_log(id, 0),
            })
            .collect::<Result<_, _>>()?;
        Ok(OneStore { store, logs })
    }
}

impl Multi for OneStore {
    fn append(&self, log: u64, position: u64, record: &[u8]) -> Res<()> {
        let got = self.logs[log as usize].append(record)?;
        if got != position {
            return Err(format!("log {log}: appended at {got}, not {position}").into());
        }
        Ok(())
    }

    fn truncate_front(&self, log: u64, position: u64) -> Res<()> {
        Ok(self.logs[log as usize].truncate_front(position)?)
    }

    fn settle(&self) -> Res<()> {
        Ok(self.store.compact()?)
    }

    fn figures(&self) -> Vec<(&'static str, f64, &'static str)> {
        let Ok(s) = self.store.stats() else {
            return Vec::new();
        };
        vec![
            ("index_mib", s.index_bytes as f64 / (1 << 20) as f64, "MiB"),
            (
                "rewrite_amplification",
                s.copied_bytes as f64 / s.reclaimed_bytes.max(1) as f64,
                "x",
            ),
        ]
    }

    fn close(self: Box<Self>) -> Res<()> {
        drop(self.logs);
        Ok(self.store.close()?)
    }
}

/// One [`Log`] per log, each in its own directory.
pub struct ManyLogs {
    logs: Vec<Log>,
}

impl ManyLogs {
    pub fn open(dir: &Path, logs: u64) -> Res<ManyLogs> {
        let opts = Options::default().sync_policy(SyncPolicy::Always);
        let logs = (0..logs)
            .map(|id| Log::open(dir.join(id.to_string()), opts.clone()))
            .collect::<Result<_, _>>()?;
        Ok(ManyLogs { logs })
    }
}

impl Multi for ManyLogs {
    fn append(&self, log: u64, _: u64, record: &[u8]) -> Res<()> {
        self.logs[log as usize].append(record)?;
        Ok(())
    }

    fn truncate_front(&self, log: u64, position: u64) -> Res<()> {
        Ok(self.logs[log as usize].truncate_front(position)?)
    }

    fn settle(&self) -> Res<()> {
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        for log in &self.logs {
            log.close()?;
        }
        Ok(())
    }
}
