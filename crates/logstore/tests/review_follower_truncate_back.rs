//! Guards a read-only follower against a writer that rewinds the tail
//! (`truncate_back`) and then writes past the old end before the follower
//! looks again: the follower must see the new records, not stay stuck on
//! stale offsets or report corruption.

use std::time::Duration;

use logstore::{Log, Options, SyncPolicy};

mod common;
use common::record;

fn opts() -> Options {
    Options::default()
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

#[test]
fn follower_sees_records_rewritten_past_the_old_end() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    for i in 0..20u64 {
        writer.append(&record(i, 10)).unwrap();
    }
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    writer.append(&record(0, 10)).unwrap();
    writer.append(&record(1, 30)).unwrap();
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    for i in 0..4u64 {
        writer.append(&record(i, 10)).unwrap();
    }
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
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
