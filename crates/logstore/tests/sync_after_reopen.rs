//! Guards against `sync` after a reopen skipping records that reached only
//! the operating system before the process stopped: they were found in the
//! files, but they are not durable until synced.

mod common;

use common::record;
use logstore::sim::{CrashMode, SimFs};
use logstore::{Log, Options, SyncPolicy};

fn reopen_sync_and_lose_power(records: u64, len: usize) {
    let fs = SimFs::new();
    let opts = Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
        .simulated(&fs);
    let log = Log::open("/log", opts.clone()).unwrap();
    for i in 0..records {
        log.append(&record(i, len)).unwrap();
    }
    // The process stops: the records are in the OS, not on the disk.
    drop(log);
    let log = Log::open("/log", opts.clone()).unwrap();
    assert_eq!(log.next_position(), records);
    log.sync().unwrap();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), records, "synced records were lost");
    for i in 0..records {
        assert_eq!(log.read(i).unwrap(), record(i, len));
    }
}

#[test]
fn sync_after_reopen_covers_the_active_segment() {
    reopen_sync_and_lose_power(5, 100);
}

#[test]
fn sync_after_reopen_covers_unsealed_segments() {
    reopen_sync_and_lose_power(40, 700);
}
