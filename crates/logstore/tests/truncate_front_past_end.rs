//! Guards `truncate_front` past the end of the log: the log empties, the
//! next record gets the new position, and nothing of the old log is left
//! on disk, not even the index a clean close left for its last segment.

use logstore::{Log, Options};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg") || n.ends_with(".idx"))
        .collect();
    names.sort();
    names
}

#[test]
fn truncating_past_the_end_after_a_clean_close_leaves_only_the_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().segment_size(4096);
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..100u64 {
        log.append(format!("record {i}").as_bytes()).unwrap();
    }
    log.close().unwrap();
    drop(log);
    assert!(names(dir.path()).len() > 2);

    let log = Log::open(dir.path(), opts()).unwrap();
    log.truncate_front(1000).unwrap();
    log.wait_reclaimed();
    assert_eq!(names(dir.path()), ["00000000000000001000.seg"]);
    assert_eq!(log.append(b"after").unwrap(), 1000);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (1000, 1001));
    assert_eq!(log.read(1000).unwrap(), b"after");
}
