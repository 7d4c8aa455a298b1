//! Guards tailing readers (`wait_for`, an iterator waiting at the end)
//! against a lost wake-up: when `truncate_front` moves the log past the
//! position a reader waits for, the reader must wake and learn that the
//! position was truncated, not sleep until some later append.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{ErrorKind, Log, Options, SyncPolicy};

#[test]
fn truncate_front_past_the_end_wakes_a_waiting_reader() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path(),
            Options::default().sync_policy(SyncPolicy::Never),
        )
        .unwrap(),
    );
    log.append(b"a").unwrap();
    let waiter = {
        let log = log.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let found = log.wait_for(5, Some(Duration::from_secs(5))).unwrap();
            (found, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    log.truncate_front(100).unwrap();
    let (found, waited) = waiter.join().unwrap();
    assert!(found, "position 5 is behind the next position now");
    assert!(
        waited < Duration::from_secs(3),
        "the reader slept {waited:?} after the truncation passed it"
    );
    assert_eq!(log.read(5).unwrap_err().kind(), ErrorKind::Truncated);
}

#[test]
fn iterator_waiting_at_the_end_is_told_it_was_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path(),
            Options::default().sync_policy(SyncPolicy::Never),
        )
        .unwrap(),
    );
    log.append(b"a").unwrap();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut it = log.iter(0);
            assert_eq!(it.next().unwrap().unwrap(), (0, b"a".to_vec()));
            let start = Instant::now();
            let got = it.next_timeout(Duration::from_secs(5));
            (got.map(|r| r.map_err(|e| e.kind())), start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    log.truncate_front(50).unwrap();
    let (got, waited) = reader.join().unwrap();
    assert_eq!(got, Some(Err(ErrorKind::Truncated)));
    assert!(waited < Duration::from_secs(3), "woke after {waited:?}");
}
