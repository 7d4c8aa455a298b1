//! Guards reads of sealed segments whose index is not cached: they look up
//! one entry of the index file, and a lying index file never yields a wrong
//! record (the read falls back to the whole, checksummed index or a scan).

use logstore::{Log, Options, SyncPolicy};

fn opts() -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
}

fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn fill(dir: &std::path::Path, n: u64) {
    let log = Log::open(dir, opts()).unwrap();
    for i in 0..n {
        assert_eq!(log.append(&record(i)).unwrap(), i);
    }
    log.close().unwrap();
}

fn index_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    v.sort();
    v
}

#[test]
fn reads_after_reopen_use_the_index_files() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 400);
    assert!(
        index_files(dir.path()).len() >= 5,
        "sealed segments have indexes"
    );
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in (0..400).rev() {
        assert_eq!(log.read(i).unwrap(), record(i), "position {i}");
    }
}

#[test]
fn a_lying_index_never_yields_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 400);
    for idx in index_files(dir.path()) {
        let mut bytes = std::fs::read(&idx).unwrap();
        // Shift the offsets by one record from the third on, keeping the
        // header (and so its checksum of the body) and the data end: every
        // entry still looks like a plausible frame, of the wrong record.
        let body_end = bytes.len() - 8;
        let offsets: Vec<[u8; 8]> = bytes[64..body_end]
            .chunks(8)
            .map(|c| c.try_into().unwrap())
            .collect();
        for i in 2..offsets.len() {
            let at = 64 + i * 8;
            bytes[at..at + 8].copy_from_slice(&offsets[i - 1]);
        }
        std::fs::write(&idx, bytes).unwrap();
    }
    let log = Log::open(dir.path(), opts()).unwrap();
    // Backwards, so each segment's first read goes through a lying entry.
    for i in (0..400).rev() {
        assert_eq!(log.read(i).unwrap(), record(i), "position {i}");
    }
}
