//! Guards the basic contract: positions, reads, replay, truncation and
//! reopening on the real file system.

use logstore::{ErrorKind, Log, Options, SyncPolicy};

fn opts() -> Options {
    Options::default().segment_size(4096)
}

#[test]
fn append_read_replay_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..200u64 {
        assert_eq!(log.append(format!("record {i}").as_bytes()).unwrap(), i);
    }
    assert_eq!(log.read(150).unwrap(), b"record 150");
    let mut n = 0;
    log.replay(10, |p, r| {
        assert_eq!(r, format!("record {p}").as_bytes());
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 190);
    assert!(log.stats().unwrap().segments.len() > 1);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(log.next_position(), 200);
    assert_eq!(log.read(0).unwrap(), b"record 0");
    assert_eq!(log.read(199).unwrap(), b"record 199");
    let all: Vec<_> = log.iter(0).map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 200);
    assert_eq!(all[77], (77, b"record 77".to_vec()));
}

#[test]
fn truncation_front_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts().sync_policy(SyncPolicy::Never)).unwrap();
    for i in 0..300u64 {
        log.append(format!("r{i}").as_bytes()).unwrap();
    }
    log.truncate_front(120).unwrap();
    assert_eq!(log.first_position(), 120);
    assert_eq!(log.read(119).unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(log.read(120).unwrap(), b"r120");
    log.truncate_back(250).unwrap();
    assert_eq!(log.next_position(), 250);
    assert_eq!(log.read(250).unwrap_err().kind(), ErrorKind::OutOfRange);
    assert_eq!(log.append(b"new").unwrap(), 250);
    log.truncate_back(130).unwrap();
    assert_eq!(log.append(b"x").unwrap(), 130);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (120, 131));
    assert_eq!(log.read(130).unwrap(), b"x");
    assert_eq!(log.read(129).unwrap(), b"r129");
    log.truncate_front(1000).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (1000, 1000));
    assert_eq!(log.append(b"y").unwrap(), 1000);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (1000, 1001));
    assert_eq!(log.read(1000).unwrap(), b"y");
}

#[test]
fn second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let _log = Log::open(dir.path(), opts()).unwrap();
    let err = Log::open(dir.path(), opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked);
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}
