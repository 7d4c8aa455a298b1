//! The stores under test, behind one small trait.

use std::path::Path;

pub mod logstore;
pub mod naive;
pub mod raw;

#[cfg(feature = "raft-engine")]
pub mod raft;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocks;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Errors of any store.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Results of any store.
pub type Res<T> = Result<T, BoxError>;

/// How a store is opened.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Each append is durable before it returns.
    pub durable: bool,
    /// logstore only: let non-durable appends wait in an in-process buffer.
    pub buffered: bool,
    /// logstore only: serve point reads from memory-mapped segments.
    pub mmap_reads: bool,
    /// raw ceiling only: the bytes the workload will append. A new file is
    /// first written with that many zeros and synced (before any timing),
    /// so that appends overwrite written blocks, as logstore's durable
    /// appends do, and never allocate.
    pub expect_bytes: u64,
    /// raw ceiling only: the size of the workload's (largest) records.
    pub expect_record: usize,
}

/// A log as each store's users would build it. Positions start at 0.
pub trait Store: Send + Sync {
    /// Appends a record and returns its position.
    fn append(&self, record: &[u8]) -> Res<u64>;
    /// Reads the record at `position`.
    fn read(&self, position: u64) -> Res<Vec<u8>>;
    /// Calls `f` for every record from `from` on, in order; returns how many.
    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64>;
    /// The first kept position.
    fn first(&self) -> Res<u64>;
    /// The position the next append gets.
    fn next(&self) -> Res<u64>;
    /// Drops the records before `position`.
    fn truncate_front(&self, position: u64) -> Res<()>;
    /// Waits until space freed by `truncate_front` is given back (for stores
    /// that do it in the background).
    fn wait_reclaimed(&self) -> Res<()> {
        Ok(())
    }
    /// Hands everything appended to the operating system (no sync).
    fn flush(&self) -> Res<()> {
        Ok(())
    }
    /// Makes everything appended so far durable (W3's durable figure: a
    /// store opened non-durable, then one sync at the end).
    fn sync(&self) -> Res<()>;
    /// Closes the store cleanly.
    fn close(self: Box<Self>) -> Res<()>;
}

/// Every store name this build knows, in table order.
pub fn names() -> Vec<&'static str> {
    let mut v = vec!["logstore", "logstore-buf", "logstore-mmap"];
    #[cfg(feature = "raft-engine")]
    v.push("raft-engine");
    #[cfg(feature = "rocksdb")]
    v.push("rocksdb");
    #[cfg(feature = "sqlite")]
    v.push("sqlite");
    #[cfg(feature = "redb")]
    v.push("redb");
    v.extend(["naive", "raw"]);
    v
}

/// What the table says about a store.
pub fn describe(name: &str) -> &'static str {
    match name {
        "logstore" => "logstore, write-through (write_buffer 0: each append reaches the OS)",
        "logstore-buf" => "logstore, buffered (write_buffer 256 KiB, non-durable workloads only)",
        "logstore-mmap" => {
            "logstore, point reads from memory-mapped segments (`mmap_reads`, W8 only)"
        }
        "raft-engine" => "raft-engine 0.4, one raft group, records as entries",
        "rocksdb" => "RocksDB 7.8 (rust-rocksdb 0.20), WAL on, compression off",
        "sqlite" => "SQLite (rusqlite 0.43 bundled), WAL mode, one row per record",
        "redb" => "redb 4, one write transaction per append",
        "naive" => "one file per record (temp file + rename)",
        "raw" => {
            "raw ceiling: length + bytes, one write per append into written space; \
             durable: group commit, one pwrite + one fdatasync per batch, no framing; \
             W3 durable: the better of that and O_DIRECT"
        }
        _ => "unknown",
    }
}

/// Opens the store `name` in `dir` (created if missing).
pub fn open(name: &str, dir: &Path, mode: Mode) -> Res<Box<dyn Store>> {
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "logstore" => Box::new(logstore::LogstoreStore::open(dir, mode)?),
        "logstore-buf" => Box::new(logstore::LogstoreStore::open(
            dir,
            Mode {
                buffered: true,
                ..mode
            },
        )?),
        "logstore-mmap" => Box::new(logstore::LogstoreStore::open(
            dir,
            Mode {
                mmap_reads: true,
                ..mode
            },
        )?),
        #[cfg(feature = "raft-engine")]
        "raft-engine" => Box::new(raft::RaftStore::open(dir, mode)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocks::RocksStore::open(dir, mode)?),
        #[cfg(feature = "sqlite")]
        "sqlite" => Box::new(sqlite::SqliteStore::open(dir, mode)?),
        #[cfg(feature = "redb")]
        "redb" => Box::new(redb::RedbStore::open(dir, mode)?),
        "naive" => Box::new(naive::NaiveStore::open(dir, mode)?),
        "raw" => Box::new(raw::RawStore::open(dir, mode)?),
        other => return Err(format!("unknown store {other}").into()),
    })
}
