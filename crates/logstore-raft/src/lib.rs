//! logstore-raft: [openraft](https://docs.rs/openraft/0.9) log storage on
//! top of [`logstore::Log`].
//!
//! [`LogStore`] implements openraft's v2 storage traits
//! ([`RaftLogStorage`](openraft::storage::RaftLogStorage) and
//! [`RaftLogReader`](openraft::RaftLogReader)) for any type configuration
//! whose entries are serde-serializable. The raft index of an entry is its
//! position in the log.
//!
//! # Layout and durability
//!
//! A store lives in one directory:
//!
//! - `DIR/raft-log/` is a [`logstore::Log`] holding one record per raft
//!   entry, at position = raft index. `append` writes the entries (they are
//!   readable when it returns) and hands openraft's flush callback to a
//!   flusher thread, which syncs the log and only then reports the entries
//!   as flushed. Concurrent appends share one sync.
//! - `DIR/raft-meta/` is a second, small [`logstore::Log`] of metadata
//!   records: each holds the whole current metadata (vote, committed log
//!   id, last purged log id) and the newest one wins. A vote or purge point
//!   is durable when its save returns; the committed log id, which openraft
//!   saves on every commit and treats as a hint, is only written, and made
//!   durable by the next synced save or by closing.
//!
//! `purge` saves the new last purged log id before it drops the prefix, so
//! after a crash the log never misses entries that the metadata does not
//! account for; opening finishes a purge that a crash cut short. `truncate`
//! drops the tail durably before it returns. The metadata log drops its
//! old records every 256 saves, and that save is synced whatever its kind.
//!
//! ```
//! use logstore_raft::LogStore;
//! use openraft::storage::RaftLogStorage;
//! use std::io::Cursor;
//!
//! openraft::declare_raft_types!(pub Config);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = LogStore::<Config>::open(dir.path(), logstore::Options::default()).unwrap();
//! let state = store.get_log_state().await.unwrap();
//! assert_eq!(state.last_log_id, None);
//! # }
//! ```

#![warn(missing_docs)]
// openraft fixes the error type (`StorageError`, ~200 bytes) in its traits;
// the private helpers return it too rather than boxing and unboxing.
#![allow(clippy::result_large_err)]

mod codec;
mod flusher;
mod meta;
mod reader;
mod store;

pub use codec::ENTRY_FORMAT_VERSION;
pub use meta::RaftMeta;
pub use reader::LogReader;
pub use store::{LogStore, LOG_DIR, MAX_ENTRY_SIZE, META_DIR};
