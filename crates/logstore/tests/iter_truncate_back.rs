//! Guards iterators against `truncate_back`: the records an iterator has
//! read ahead (a run of one segment, buffered) are dropped once the back
//! is cut, on the writer's handle and on a read-only one that refreshed,
//! so that it never yields a record the cut removed.

use logstore::{Log, Options, Result, SyncPolicy};

mod common;

fn opts() -> Options {
    Options::default().sync_policy(SyncPolicy::Never)
}

fn rest(it: &mut logstore::Iter) -> Vec<(u64, Vec<u8>)> {
    it.collect::<Result<Vec<_>>>().unwrap()
}

/// Fails on 05995b3: the iterator yields `(1, old-1)` and `(2, old-2)`
/// from its read-ahead after `truncate_back(1)` and `append(NEW-1)`.
#[test]
fn iterator_drops_its_read_ahead_after_truncate_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        log.append(r.as_bytes()).unwrap();
    }
    let mut it = log.iter(0);
    assert_eq!(it.next().unwrap().unwrap(), (0, b"old-0".to_vec()));
    log.truncate_back(1).unwrap();
    assert_eq!(log.append(b"NEW-1").unwrap(), 1);
    assert_eq!(log.read(1).unwrap(), b"NEW-1");
    assert_eq!(log.next_position(), 2);
    assert_eq!(rest(&mut it), [(1, b"NEW-1".to_vec())]);
}

/// The same through `replay`'s callback, cutting from inside it.
#[test]
fn replay_stops_at_a_cut_made_from_its_callback() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..10u64 {
        log.append(format!("old-{i}").as_bytes()).unwrap();
    }
    let mut seen = Vec::new();
    log.replay(0, |p, r| {
        seen.push((p, String::from_utf8(r.to_vec()).unwrap()));
        if p == 3 {
            log.truncate_back(5).unwrap();
        }
        true
    })
    .unwrap();
    let want: Vec<_> = (0..5u64).map(|i| (i, format!("old-{i}"))).collect();
    assert_eq!(seen, want);
}

/// Fails on 05995b3: a read-only handle's iterator yields the old
/// records from its read-ahead after the writer cut and rewrote them and
/// the handle refreshed.
#[test]
fn follower_iterator_drops_its_read_ahead_after_a_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        writer.append(r.as_bytes()).unwrap();
    }
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
    let mut it = reader.iter(0);
    assert_eq!(it.next().unwrap().unwrap(), (0, b"old-0".to_vec()));
    writer.truncate_back(1).unwrap();
    assert_eq!(writer.append(b"NEW-1").unwrap(), 1);
    reader.refresh().unwrap();
    assert_eq!(reader.next_position(), 2);
    assert_eq!(reader.read(1).unwrap(), b"NEW-1");
    assert_eq!(rest(&mut it), [(1, b"NEW-1".to_vec())]);
}

/// The writer's new records have the lengths of those it cut: the
/// read-only handle's offsets still hold and its refresh takes the cheap
/// path, yet the iterator must not yield the old bytes it read ahead.
/// Fails on 05995b3.
#[test]
fn follower_iterator_drops_its_read_ahead_after_a_same_length_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        writer.append(r.as_bytes()).unwrap();
    }
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
    let mut it = reader.iter(0);
    assert_eq!(it.next().unwrap().unwrap(), (0, b"old-0".to_vec()));
    writer.truncate_back(1).unwrap();
    assert_eq!(writer.append(b"NEW-1").unwrap(), 1);
    assert_eq!(writer.append(b"NEW-2").unwrap(), 2);
    reader.refresh().unwrap();
    assert_eq!(reader.read(1).unwrap(), b"NEW-1");
    assert_eq!(
        rest(&mut it),
        [(1, b"NEW-1".to_vec()), (2, b"NEW-2".to_vec())]
    );
}
