//! Guards read-only handles that follow a writer in the same directory:
//! they see its appends, rolls and both truncations (after `refresh`, or
//! by waiting), records that `truncate_back` replaced (also with the same
//! lengths, so that file lengths alone cannot tell), and never an error
//! for a view taken while the writer changes the front, nor a record that
//! an iterator read ahead before the writer cut it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{ErrorKind, Options, Result, SyncPolicy};

mod common;
use common::{assert_kind, record, Fixture};

fn opts() -> Options {
    Options::default()
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

/// 4 KiB segments, synced only when asked.
fn small_segments() -> Options {
    opts().segment_size(4096)
}

fn rest(it: &mut logstore::Iter) -> Vec<(u64, Vec<u8>)> {
    it.collect::<Result<Vec<_>>>().unwrap()
}

#[test]
fn read_only_handle_follows_a_writer() {
    let f = Fixture::new(small_segments());
    let writer = f.open().unwrap();
    writer.append(b"zero").unwrap();
    let reader = f.open_read_only().unwrap();
    assert_eq!(reader.next_position(), 1);
    assert_kind(reader.append(b"no"), ErrorKind::ReadOnly);
    assert_kind(reader.truncate_front(1), ErrorKind::ReadOnly);

    // Appends, within the segment and across rolls.
    for i in 1..40u64 {
        writer.append(&record(i, 500)).unwrap();
    }
    assert!(reader.wait_for(39, Some(Duration::from_secs(5))).unwrap());
    assert_eq!(reader.next_position(), 40);
    assert_eq!(reader.read(39).unwrap(), record(39, 500));
    let seen: Vec<u64> = reader.iter(0).map(|r| r.unwrap().0).collect();
    assert_eq!(seen, (0..40).collect::<Vec<_>>());

    // Front truncation: the reader sees the new first position.
    writer.truncate_front(25).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.first_position(), 25);
    assert_kind(reader.read(24), ErrorKind::Truncated);
    assert_eq!(reader.read(25).unwrap(), record(25, 500));

    // Back truncation and new records in place of the old ones.
    writer.truncate_back(30).unwrap();
    writer.append(b"new thirty").unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.next_position(), 31);
    assert_eq!(reader.read(30).unwrap(), b"new thirty");
    assert_eq!(reader.read(29).unwrap(), record(29, 500));

    // Truncation past the end.
    writer.truncate_front(100).unwrap();
    writer.append(b"hundred").unwrap();
    assert!(reader.wait_for(100, Some(Duration::from_secs(5))).unwrap());
    assert_eq!(reader.first_position(), 100);
    assert_eq!(reader.read(100).unwrap(), b"hundred");
}

#[test]
fn read_only_handle_sees_records_replaced_by_truncate_back() {
    let f = Fixture::new(Options::default().sync_policy(SyncPolicy::Never));
    let writer = f.open().unwrap();
    for i in 0..10u64 {
        writer.append(&record(i, 100)).unwrap();
    }
    let reader = f.open_read_only().unwrap();
    assert_eq!(reader.read(7).unwrap(), record(7, 100));
    // The segment file ends up longer than the reader knew it, but its
    // records from position 5 on are new ones of other sizes.
    writer.truncate_back(5).unwrap();
    for i in 5..12u64 {
        writer.append(&record(100 + i, 333)).unwrap();
    }
    reader.refresh().unwrap();
    assert_eq!(reader.next_position(), 12);
    for i in 5..12u64 {
        assert_eq!(reader.read(i).unwrap(), record(100 + i, 333), "record {i}");
    }
    assert_eq!(reader.read(4).unwrap(), record(4, 100));
}

/// A view taken in the middle of the writer's change of the front (inside
/// the log and past its end) is not an error for the follower.
#[test]
fn follower_refresh_survives_concurrent_front_truncation() {
    let f = Fixture::new(small_segments());
    let writer = f.open().unwrap();
    for _ in 0..50 {
        writer.append(&[7u8; 1000]).unwrap();
    }
    let reader = f.open_read_only().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..10 {
                    writer.append(&[7u8; 1000]).unwrap();
                }
                let next = writer.next_position();
                writer.truncate_front(next - 20).unwrap();
                writer.truncate_front(next + 5).unwrap();
                n += 1;
            }
            n
        })
    };
    let start = Instant::now();
    let mut refreshes = 0;
    let mut failure = None;
    while start.elapsed() < Duration::from_secs(3) {
        if let Err(e) = reader.refresh() {
            failure = Some(e);
            break;
        }
        refreshes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let truncations = w.join().unwrap();
    assert!(
        failure.is_none(),
        "refresh failed after {refreshes} refreshes: {failure:?}"
    );
    assert!(truncations > 2 && refreshes > 10);
}

/// A new leader's records replace the tail and run past the old end
/// before the follower looks again: it sees the new records, not stale
/// offsets or corruption.
#[test]
fn follower_sees_records_rewritten_past_the_old_end() {
    let f = Fixture::new(opts());
    let writer = f.open().unwrap();
    for i in 0..20u64 {
        writer.append(&record(i, 10)).unwrap();
    }
    let reader = f.open_read_only().unwrap();
    assert_eq!(reader.next_position(), 20);
    assert_eq!(reader.read(17).unwrap(), record(17, 10));

    // A new leader's records replace 15.. and run past the old end.
    writer.truncate_back(15).unwrap();
    for i in 15..30u64 {
        writer.append(&record(1000 + i, 25)).unwrap();
    }

    assert!(reader.wait_for(29, Some(Duration::from_secs(3))).unwrap());
    assert_eq!(reader.next_position(), 30);
    assert_eq!(reader.read(14).unwrap(), record(14, 10));
    assert_eq!(reader.read(17).unwrap(), record(1017, 25));
    assert_eq!(reader.read(29).unwrap(), record(1029, 25));
    let seen: Vec<(u64, Vec<u8>)> = reader.iter(10).map(|r| r.unwrap()).collect();
    let want: Vec<(u64, Vec<u8>)> = (10..30u64)
        .map(|i| {
            (
                i,
                if i < 15 {
                    record(i, 10)
                } else {
                    record(1000 + i, 25)
                },
            )
        })
        .collect();
    assert_eq!(seen, want);
}

#[test]
fn follower_sees_a_rewrite_of_the_same_length() {
    // The file ends where it did, so its length alone cannot tell.
    let f = Fixture::new(opts());
    let writer = f.open().unwrap();
    writer.append(&record(0, 10)).unwrap();
    writer.append(&record(1, 30)).unwrap();
    let reader = f.open_read_only().unwrap();
    assert_eq!(reader.read(1).unwrap(), record(1, 30));

    // One frame of 16 + 30 bytes replaced by two of 16 + 7.
    writer.truncate_back(1).unwrap();
    writer.append(&record(101, 7)).unwrap();
    writer.append(&record(102, 7)).unwrap();
    assert!(reader.wait_for(2, Some(Duration::from_secs(3))).unwrap());
    assert_eq!(reader.read(1).unwrap(), record(101, 7));
    assert_eq!(reader.read(2).unwrap(), record(102, 7));
}

#[test]
fn follower_rereads_offsets_when_only_the_last_record_matches() {
    // Records 1 and 2 are rewritten with other lengths but the same total,
    // so record 3 sits where it did: a read of 2 finds stale offsets and
    // must look again rather than report corruption.
    let f = Fixture::new(opts());
    let writer = f.open().unwrap();
    for i in 0..4u64 {
        writer.append(&record(i, 10)).unwrap();
    }
    let reader = f.open_read_only().unwrap();
    assert_eq!(reader.read(2).unwrap(), record(2, 10));

    writer.truncate_back(1).unwrap();
    writer.append(&record(101, 5)).unwrap();
    writer.append(&record(102, 15)).unwrap();
    writer.append(&record(103, 10)).unwrap();
    assert_eq!(reader.read(2).unwrap(), record(102, 15));
    assert_eq!(reader.read(1).unwrap(), record(101, 5));
    assert_eq!(reader.read(3).unwrap(), record(103, 10));
    let seen: Vec<(u64, Vec<u8>)> = reader.iter(0).map(|r| r.unwrap()).collect();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2], (2, record(102, 15)));
}

/// Fails on 05995b3: a read-only handle's iterator yields the old
/// records from its read-ahead after the writer cut and rewrote them and
/// the handle refreshed.
#[test]
fn follower_iterator_drops_its_read_ahead_after_a_refresh() {
    let f = Fixture::new(Options::default().sync_policy(SyncPolicy::Never));
    let writer = f.open().unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        writer.append(r.as_bytes()).unwrap();
    }
    let reader = f.open_read_only().unwrap();
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
    let f = Fixture::new(Options::default().sync_policy(SyncPolicy::Never));
    let writer = f.open().unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        writer.append(r.as_bytes()).unwrap();
    }
    let reader = f.open_read_only().unwrap();
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
