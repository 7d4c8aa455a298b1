//! The records a reading subcommand shows: a log's, or with `--log ID` one
//! log's of a store (docs/DESIGN.md, "Many logs in one store").

use std::path::Path;

use logstore::{Log, Options, Store, StoreLog, StoreOptions};

use crate::error::{CliError, CliResult};
use crate::open;

/// A log, or one log of a store.
pub enum Source {
    Log(Log),
    /// One log of a store; the store stays open while it is read.
    Store {
        log: StoreLog,
        _store: Store,
    },
}

/// Opens the store in `dir`, read-only unless `write`.
pub fn store(dir: &Path, write: bool) -> CliResult<Store> {
    open::existing_dir(dir)?;
    let log = Options::default().read_only(!write).create(false);
    Store::open(dir, StoreOptions::default().log_options(log)).map_err(|e| open::explain(dir, e))
}

/// Opens `dir` read-only: the log, or its store's log `id`.
pub fn reader(dir: &Path, id: Option<u64>) -> CliResult<Source> {
    match id {
        None => Ok(Source::Log(open::reader(dir)?)),
        Some(id) => {
            let store = store(dir, false)?;
            let log = store.log(id).map_err(|_| no_log(dir, &store, id))?;
            Ok(Source::Store { log, _store: store })
        }
    }
}

/// Refuses a command meant for a single log (`what`) on a store's
/// directory, where it would change the shared log under every log.
pub fn refuse_store(dir: &Path, what: &str) -> CliResult {
    match Store::detect(dir) {
        Ok(Some(logs)) => Err(CliError::failed(format!(
            "{} holds a store of {logs} log{}, not a single log: {what}",
            dir.display(),
            if logs == 1 { "" } else { "s" }
        ))),
        // Not a store (or not readable as one): the command's own open
        // says what is wrong, if anything.
        _ => Ok(()),
    }
}

/// The error for a log id the store does not have, naming those it has.
pub fn no_log(dir: &Path, store: &Store, id: u64) -> CliError {
    let ids = store.logs();
    let shown: Vec<String> = ids.iter().take(20).map(u64::to_string).collect();
    let more = if ids.len() > 20 { ", ..." } else { "" };
    CliError::failed(format!(
        "the store at {} has no log {id} (it has {} log{}: {}{more})",
        dir.display(),
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        shown.join(", ")
    ))
}

impl Source {
    /// The first and next positions.
    pub fn range(&self) -> logstore::Result<(u64, u64)> {
        match self {
            Source::Log(l) => Ok((l.first_position(), l.next_position())),
            Source::Store { log: l, .. } => Ok((l.first_position()?, l.next_position()?)),
        }
    }

    pub fn read(&self, position: u64) -> logstore::Result<Vec<u8>> {
        match self {
            Source::Log(l) => l.read(position),
            Source::Store { log: l, .. } => l.read(position),
        }
    }

    /// Calls `f` for each record from `from` on until it returns false.
    pub fn replay(&self, from: u64, f: impl FnMut(u64, &[u8]) -> bool) -> logstore::Result<u64> {
        match self {
            Source::Log(l) => l.replay(from, f),
            Source::Store { log: l, .. } => l.replay(from, f),
        }
    }
}
