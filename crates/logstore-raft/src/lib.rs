//! logstore-raft: [openraft](https://docs.rs/openraft/0.10.0-alpha.37) 0.10
//! log storage on top of [`logstore::Log`].
//!
//! [`LogStore`] implements openraft's storage traits
//! ([`RaftLogStorage`](openraft::storage::RaftLogStorage) and
//! [`RaftLogReader`](openraft::RaftLogReader)) for any type configuration
//! whose entries are serde-serializable. The raft index of an entry is its
//! position in the log. [`LogReader`] reads entries and the vote, as
//! openraft 0.10's replication and state machine tasks require.
//!
//! # Layout and durability
//!
//! A store lives in one directory:
//!
//! - `DIR/raft-log/` is a [`logstore::Log`] holding one record per raft
//!   entry, at position = raft index. `append` submits the entries (they
//!   are readable when it returns) without waiting for a sync, and
//!   registers openraft's [`IOFlushed`](openraft::storage::IOFlushed)
//!   callback with the log's durability notices
//!   ([`logstore::Log::submit_batch_then`]): the log's notifier thread
//!   completes it once a sync covers the entries, or with the error of a
//!   failed sync. Concurrent appends share one group commit, and openraft
//!   replicates the entries while they are being synced.
//! - `DIR/raft-meta/` is a second, small [`logstore::Log`] of metadata
//!   records: each holds the whole current metadata (vote, committed log
//!   id, last purged log id) and the newest one wins. A vote or purge point
//!   is durable when its save returns; the committed log id, which openraft
//!   saves on every commit and treats as a hint, is only written, and made
//!   durable by the next synced save or by closing.
//!
//! Many raft groups can share one [`logstore::Store`] instead
//! ([`LogStore::open_in`]): each group's entries are the records of the
//! store's log of the group's id, its metadata that log's state value
//! (replaced whole; a vote or purge point synced, the committed id only
//! written), and the appends of every group share the store's group
//! commit and files. Open the store with a `max_record_size` of at least
//! [`MAX_ENTRY_SIZE`] plus 17 bytes for the largest entries.
//!
//! `purge` saves the new last purged log id before it drops the prefix, so
//! after a crash the log never misses entries that the metadata does not
//! account for; opening finishes a purge that a crash cut short.
//! `truncate_after` drops the tail durably before it returns. The metadata log drops its
//! old records every 256 saves, and that save is synced whatever its kind.
//!
//! ```
//! use logstore_raft::LogStore;
//! use openraft::storage::RaftLogStorage;
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

mod codec;
mod entries;
mod meta;
mod reader;
mod store;

pub use codec::ENTRY_FORMAT_VERSION;
pub use meta::RaftMeta;
pub use reader::{LogReader, READ_BUDGET};
pub use store::{LogStore, LOG_DIR, MAX_ENTRY_SIZE, META_DIR};
