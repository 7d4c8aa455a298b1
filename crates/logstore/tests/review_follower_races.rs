//! Guards a read-only follower against a writer that truncates the front
//! (inside the log and past its end) while the follower re-reads the
//! directory: a view taken in the middle of the writer's change is not an
//! error for the follower.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{Log, Options, SyncPolicy};

fn opts() -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

#[test]
fn refresh_survives_concurrent_front_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), opts()).unwrap();
    for _ in 0..50 {
        writer.append(&[7u8; 1000]).unwrap();
    }
    let reader = Log::open(dir.path(), opts().read_only(true)).unwrap();
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
