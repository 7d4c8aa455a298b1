//! Guards the end of the position space: `truncate_front` may move the log
//! to any position, even the last ones, and appends there must be refused
//! with an error instead of overflowing the position counter.

use logstore::{ErrorKind, Log, Options, SyncPolicy};

mod common;
use common::assert_kind;

fn open(dir: &std::path::Path) -> Log {
    Log::open(dir, Options::default().sync_policy(SyncPolicy::Never)).unwrap()
}

#[test]
fn append_at_the_last_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(b"a").unwrap();
    log.truncate_front(u64::MAX).unwrap();
    assert_eq!(log.next_position(), u64::MAX);
    assert_kind(log.append(b"b"), ErrorKind::OutOfRange);
    // Nothing changed, and the log still works.
    assert_eq!(log.next_position(), u64::MAX);
    assert_eq!(log.first_position(), u64::MAX);
    log.sync().unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.next_position(), u64::MAX);
}

#[test]
fn batch_that_would_run_past_the_last_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.truncate_front(u64::MAX - 2).unwrap();
    assert_kind(log.append_batch(&[b"a", b"b", b"c"]), ErrorKind::OutOfRange);
    assert_eq!(log.next_position(), u64::MAX - 2);
    assert_eq!(
        log.append_batch(&[b"a", b"b"]).unwrap(),
        u64::MAX - 2..u64::MAX
    );
    assert_eq!(log.read(u64::MAX - 1).unwrap(), b"b");
    assert_kind(log.append(b"c"), ErrorKind::OutOfRange);
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.next_position(), u64::MAX);
    assert_eq!(log.read(u64::MAX - 2).unwrap(), b"a");
}
