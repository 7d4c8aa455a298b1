//! The CLI on a store: `stat --logs` lists the logs, `read`, `replay`,
//! `tail` and `truncate` take `--log ID`, `verify --store` reads every
//! log's every record.

mod common;

use common::{run, Scratch};
use logstore::{Store, StoreOptions};

/// A store with log 1 at positions 0..5 and log 9 at 100..102, a state.
fn store() -> Scratch {
    let s = Scratch::new();
    let store = Store::open(&s.log, StoreOptions::default()).unwrap();
    let one = store.create_log(1, 0).unwrap();
    for i in 0..5 {
        one.append(format!("one {i}").as_bytes()).unwrap();
    }
    let nine = store.create_log(9, 100).unwrap();
    nine.append(b"nine 100").unwrap();
    nine.append(b"nine 101").unwrap();
    nine.set_state(b"vote").unwrap();
    store.close().unwrap();
    s
}

#[test]
fn stat_lists_the_logs_of_a_store() {
    let s = store();
    let out = run(&["stat", s.dir(), "--logs"]).ok().to_owned();
    assert!(out.contains("store logs       2"), "{out}");
    assert!(out.contains("100..101"), "{out}");
    let json = run(&["stat", s.dir(), "--logs", "--json"]).ok().to_owned();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["logs"][1]["id"], 9);
    assert_eq!(v["logs"][1]["first_position"], 100);
    assert_eq!(v["logs"][1]["state_bytes"], 4);
    assert_eq!(v["logs"][0]["records"], 5);
}

#[test]
fn read_replay_and_tail_take_a_log_id() {
    let s = store();
    assert_eq!(
        run(&["read", s.dir(), "101", "--log", "9"]).ok(),
        "nine 101"
    );
    let out = run(&[
        "replay",
        s.dir(),
        "--log",
        "1",
        "--from",
        "3",
        "--format",
        "lengths",
    ]);
    assert_eq!(out.ok(), "3 5\n4 5\n");
    assert_eq!(
        run(&["tail", s.dir(), "--log", "9"]).ok(),
        "nine 100\nnine 101\n"
    );
    run(&["read", s.dir(), "7", "--log", "1"]).fails(1, &["position 7 is out of range", "0..5"]);
    run(&["read", s.dir(), "0", "--log", "4"]).fails(1, &["has no log 4", "2 logs: 1, 9"]);
}

#[test]
fn truncate_takes_a_log_id_and_verify_checks_the_store() {
    let s = store();
    let out = run(&["truncate", s.dir(), "--log", "1", "--before", "3"])
        .ok()
        .to_owned();
    assert!(out.contains("dropped 3 records (positions 0..3)"), "{out}");
    run(&["truncate", s.dir(), "--log", "9", "--from", "101"]).ok();
    run(&["truncate", s.dir(), "--log", "9", "--from", "50"])
        .fails(1, &["--from 50 is out of range"]);
    let out = run(&["verify", s.dir(), "--store"]).ok().to_owned();
    assert!(out.contains("store of 2 logs, 3 records: clean"), "{out}");
    let store = Store::open(&s.log, StoreOptions::default()).unwrap();
    assert_eq!(store.log(1).unwrap().first_position().unwrap(), 3);
    assert_eq!(store.log(9).unwrap().next_position().unwrap(), 101);
}

#[test]
fn commands_for_a_single_log_refuse_a_store() {
    let s = store();
    run(&["truncate", s.dir(), "--before", "2"]).fails(1, &["holds a store of 2 logs", "--log ID"]);
    common::run_with_input(&["append", s.dir()], b"x\n").fails(1, &["holds a store of 2 logs"]);
    // Nothing changed.
    let out = run(&["verify", s.dir(), "--store"]).ok().to_owned();
    assert!(out.contains("store of 2 logs, 7 records: clean"), "{out}");
    // A plain log is still a plain log.
    let plain = Scratch::with_records(3);
    run(&["truncate", plain.dir(), "--before", "1"]).ok();
}

#[test]
fn tail_follow_of_a_store_log_prints_what_its_writer_appends() {
    let s = store();
    let (mut tail, lines) =
        common::follow(&["tail", s.dir(), "--log", "1", "--from", "3", "--follow"]);
    let next = || lines.next();
    assert_eq!(next(), "one 3");
    assert_eq!(next(), "one 4");
    // The writer (this process) appends to log 1 and to another log: only
    // log 1's records show, as they come.
    let store = Store::open(&s.log, StoreOptions::default()).unwrap();
    let one = store.log(1).unwrap();
    store.log(9).unwrap().append(b"not this log").unwrap();
    one.append(b"one 5").unwrap();
    assert_eq!(next(), "one 5");
    store.log(9).unwrap().append(b"nor this").unwrap();
    one.append_batch(&[&b"one 6"[..], b"one 7"]).unwrap();
    assert_eq!(next(), "one 6");
    assert_eq!(next(), "one 7");
    assert!(tail.0.try_wait().unwrap().is_none(), "tail --follow exited");
}
