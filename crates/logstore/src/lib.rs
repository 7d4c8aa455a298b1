//! logstore: an embedded, durable, append-only log store.
//!
//! A [`Log`] is an ordered sequence of records (opaque byte strings of 1 byte
//! up to 32 MiB by default), each at a `u64` *position*, given in increasing
//! order, that never changes while its record is in the log (positions are
//! given again only after [`Log::truncate_back`] rewinds the tail). Programs
//! use it as a commit log or write-ahead log.
//!
//! ```
//! use logstore::{Log, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = Log::open(dir.path(), Options::default()).unwrap();
//! let first = log.append(b"hello").unwrap();
//! let batch = log.append_batch(&[&b"a"[..], b"b", b"c"]).unwrap();
//! assert_eq!((first, batch), (0, 1..4));
//! assert_eq!(log.read(2).unwrap(), b"b");
//!
//! log.truncate_front(2).unwrap(); // drop positions 0 and 1
//! let mut seen = Vec::new();
//! log.replay(2, |pos, rec| { seen.push((pos, rec.to_vec())); true }).unwrap();
//! assert_eq!(seen, vec![(2, b"b".to_vec()), (3, b"c".to_vec())]);
//! assert_eq!(log.next_position(), 4);
//! ```
//!
//! Many logs (a raft group each, say) share one [`Store`]: one directory,
//! one write path and its group commit, whatever the number of logs; an
//! index of 16 bytes per log and segment for older records; a checkpoint
//! so that opening replays only what was written since. See [`Store`] for
//! an example.
//!
//! # Durability
//!
//! - Under [`SyncPolicy::Always`] (the default), `append` returns only once
//!   the record has been written and fdatasync'ed, together with the
//!   directory entry of any new segment file. Concurrent appenders share
//!   syncs (group commit).
//! - Under [`SyncPolicy::Never`], records are written to the operating
//!   system before `append` returns (unless [`Options::write_buffer`] lets
//!   them wait in the process): they survive a crash of the process, not a
//!   power loss. [`Log::sync`] makes everything appended so far durable.
//! - [`SyncPolicy::Interval`] and [`SyncPolicy::Bytes`] sync periodically.
//! - A batch ([`Log::append_batch`]) is atomic across crashes.
//! - `truncate_front` and `truncate_back` are durable when they return.
//! - After a failed write or sync the log is *poisoned*: writes fail with
//!   [`ErrorKind::Poisoned`] until it is reopened. A failed sync is never
//!   retried and reported as success.
//! - After a crash, opening cuts a torn tail (records written after the last
//!   completed sync, whose writes were not complete) and reports it. Damage
//!   to acknowledged records is an [`ErrorKind::Corruption`] error naming
//!   the file and offset, never a torn tail: the segments hold sync marks
//!   saying how far the log was durable (docs/FORMAT.md). A record failing
//!   its checksum is never returned.
//!
//! The on-disk format is described in `docs/FORMAT.md`, the design in
//! `docs/DESIGN.md`.

#![warn(missing_docs)]

mod background;
mod commit;
mod crc;
mod cut;
mod durable;
mod error;
mod file_syncs;
mod follower;
mod frame;
mod fs;
mod header;
mod index;
mod log;
mod meta;
mod meta_repair;
mod options;
mod prezero;
mod reader;
mod recovery;
mod segment;
mod state;
mod store;
mod sync;
mod truncate;
mod verify;

#[cfg(test)]
mod format_doc;

pub use durable::Durable;
pub use error::{Error, ErrorKind, Result};
pub use fs::sim;
pub use log::{Log, SegmentStats, Stats};
pub use meta_repair::MetaRepair;
pub use options::{
    Options, Recovery, SyncPolicy, DEFAULT_MAX_RECORD_SIZE, DEFAULT_SEGMENT_SIZE,
    MAX_RECORD_SIZE_LIMIT,
};
pub use reader::Iter;
pub use recovery::{Cut, RecoveryReport};
pub use store::{
    Store, StoreLog, StoreOptions, StoreRecovery, StoreStats, WriteBatch, MAX_STATE_SIZE,
};
pub use verify::{Problem, VerifyReport};

#[cfg(test)]
mod tests {
    #[test]
    fn log_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Log>();
        check::<crate::Iter>();
    }
}
