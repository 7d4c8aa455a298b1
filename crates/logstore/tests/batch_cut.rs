//! Guards against losing the kept part of a batch when `truncate_back`
//! cuts inside it: the kept records must survive a reopen and a crash,
//! not be taken for a torn batch.

mod common;

use common::record;
use logstore::sim::{CrashMode, SimFs};
use logstore::{Log, Options};

#[test]
fn cut_inside_a_batch_keeps_the_head_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"before").unwrap();
    let recs: Vec<Vec<u8>> = (0..5).map(|i| record(i, 10 + i as usize)).collect();
    assert_eq!(log.append_batch(&recs).unwrap(), 1..6);
    log.truncate_back(3).unwrap();
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(log.next_position(), 3);
    assert!(log.recovery_report().torn_tail.is_none());
    assert_eq!(log.read(1).unwrap(), recs[0]);
    assert_eq!(log.read(2).unwrap(), recs[1]);
    assert_eq!(log.append(b"after").unwrap(), 3);
}

#[test]
fn cut_inside_a_sealed_batch_survives_power_loss() {
    let fs = SimFs::new();
    let opts = Options::default().segment_size(4096).simulated(&fs);
    let log = Log::open("/log", opts.clone()).unwrap();
    let recs: Vec<Vec<u8>> = (0..8).map(|i| record(i, 300)).collect();
    log.append_batch(&recs).unwrap();
    // Roll so that the batch lies in a sealed segment.
    log.append(&record(99, 4000)).unwrap();
    log.wait_reclaimed();
    log.truncate_back(4).unwrap();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), 4);
    for (i, rec) in recs.iter().take(4).enumerate() {
        assert_eq!(&log.read(i as u64).unwrap(), rec);
    }
}
