//! A store written by store format 1 (docs/FORMAT.md, "Store entries"),
//! kept in `tests/fixtures/store-v1`: this build must open it and find
//! exactly what was written, including records compaction copied (`Moved`
//! entries), state values, a log cut back and appended again, and a
//! dropped log. Every record in it was acknowledged durable.

use std::path::Path;

use logstore::{Options, Store, StoreOptions};
use logstore_testkit::record;

/// One log the fixture holds.
struct Want {
    id: u64,
    first: u64,
    /// Each record's `(seed, len)` for `record`.
    records: Vec<(u64, usize)>,
    state: Option<Vec<u8>>,
}

fn want(id: u64, first: u64, records: Vec<(u64, usize)>, state: Option<&[u8]>) -> Want {
    let state = state.map(<[u8]>::to_vec);
    Want {
        id,
        first,
        records,
        state,
    }
}

fn expected() -> Vec<Want> {
    let churn = |id: u64| {
        ((id * 1000 + 150)..(id * 1000 + 160))
            .map(|s| (s, 150))
            .collect()
    };
    let mut two: Vec<(u64, usize)> = (0..5).map(|i| (2_000_000 + i, 90)).collect();
    two.extend((0..3).map(|i| (2_100_000 + i, 91)));
    let four = (0..3).map(|i| (4_000_000 + i, 200)).collect();
    vec![
        want(1, 150, churn(1), None),
        want(2, 1000, two, Some(b"term=7 vote=2")),
        want(4, 0, four, Some(b"lagging")),
        want(5, 150, churn(5), None),
    ]
}

fn options() -> StoreOptions {
    StoreOptions::default()
        .log_options(Options::default().segment_size(4096))
        .background_compaction(false, std::time::Duration::from_secs(1))
}

/// How the fixture was made; the test below also checks that a store
/// written now holds the same.
fn write_fixture(dir: &Path) {
    let store = Store::open(dir, options()).unwrap();
    let four = store.create_log(4, 0).unwrap();
    for i in 0..3 {
        four.append(&record(4_000_000 + i, 200)).unwrap();
    }
    four.set_state(b"lagging").unwrap();
    let two = store.create_log(2, 1000).unwrap();
    for i in 0..8 {
        two.append(&record(2_000_000 + i, 90)).unwrap();
    }
    two.truncate_back(1005).unwrap();
    for i in 0..3 {
        two.append(&record(2_100_000 + i, 91)).unwrap();
    }
    two.set_state(b"term=7 vote=2").unwrap();
    store.create_log(3, 0).unwrap().append(b"dropped").unwrap();
    store.drop_log(3).unwrap();
    for id in [1, 5] {
        store.create_log(id, 0).unwrap();
    }
    for s in 0..160 {
        for id in [1, 5] {
            let log = store.log(id).unwrap();
            log.append(&record(id * 1000 + s, 150)).unwrap();
            if s % 10 == 9 {
                log.truncate_front(s + 1 - 10).unwrap();
            }
        }
        store.compact().unwrap();
    }
    let stats = store.stats().unwrap();
    assert!(stats.copied_bytes > 0, "{stats:?}");
    store.close().unwrap();
}

fn check(store: &Store) {
    let want = expected();
    assert_eq!(store.logs(), want.iter().map(|w| w.id).collect::<Vec<_>>());
    for Want {
        id,
        first,
        records,
        state,
    } in want
    {
        let log = store.log(id).unwrap();
        assert_eq!(log.first_position().unwrap(), first, "log {id}");
        assert_eq!(
            log.next_position().unwrap(),
            first + records.len() as u64,
            "log {id}"
        );
        for (p, (seed, len)) in (first..).zip(records) {
            assert_eq!(
                log.read(p).unwrap(),
                record(seed, len),
                "log {id} position {p}"
            );
        }
        assert_eq!(log.state().unwrap(), state, "log {id}");
    }
}

#[test]
fn a_store_of_format_1_opens_with_everything_it_held() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let dir = tempfile::tempdir().unwrap();
    let mut files = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        files += 1;
    }
    assert!(files >= 2, "the fixture is missing");
    check(&Store::open(dir.path(), options()).unwrap());
    // A store written now holds the same.
    let fresh = tempfile::tempdir().unwrap();
    write_fixture(fresh.path());
    check(&Store::open(fresh.path(), options()).unwrap());
}

/// The same store with a checkpoint of checkpoint format 1 (docs/FORMAT.md,
/// "Store checkpoint"), as closing it writes: this build must open it from
/// the checkpoint, replaying nothing, find the same, and write the same
/// checkpoint from the store of format 1.
#[test]
fn a_checkpoint_of_format_1_opens_the_store_without_a_replay() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let copy = |name: &str| {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(fixtures.join(name)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        dir
    };
    let dir = copy("store-v1-checkpoint");
    let store = Store::open(dir.path(), options()).unwrap();
    let recovery = store.recovery();
    assert!(recovery.checkpoint.is_some(), "{recovery:?}");
    assert_eq!(recovery.replayed, 0, "{recovery:?}");
    check(&store);
    drop(store);
    let want = std::fs::read(fixtures.join("store-v1-checkpoint/store.checkpoint")).unwrap();
    let dir = copy("store-v1");
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.recovery().checkpoint, None);
    store.close().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("store.checkpoint")).unwrap(),
        want
    );
}

/// The same store with an index of its sealed segment, of index format 1
/// (docs/FORMAT.md, "Store segment index"), as a compaction pass writes it:
/// this build must write the same index from the store of format 1, and
/// read the store through it.
#[test]
fn a_segment_index_of_format_1_is_written_and_read_as_documented() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let name = "00000000000000000404.sidx";
    let want = std::fs::read(fixtures.join("store-v1-index").join(name)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures.join("store-v1")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let store = Store::open(dir.path(), options()).unwrap();
    store.compact().unwrap();
    assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), want);
    check(&store);
    assert_eq!(store.verify().unwrap(), 31);
}
