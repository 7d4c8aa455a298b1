//! Guards `logstore tail`: the last records, and `--follow` printing
//! records that another process appends while tail runs.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{logstore, run, KillOnDrop, Scratch};

#[test]
fn tail_prints_the_last_ten_or_from_a_position() {
    let s = Scratch::with_records(15);
    let out = run(&["tail", s.dir()]);
    let expected: String = (5..15).map(|i| format!("record {i}\n")).collect();
    assert_eq!(out.ok(), expected);
    let out = run(&["tail", s.dir(), "--from", "13"]);
    assert_eq!(out.ok(), "record 13\nrecord 14\n");
}

#[test]
fn follow_prints_what_another_process_appends() {
    let s = Scratch::with_records(1);
    let (mut tail, lines) = common::follow(&["tail", s.dir(), "--follow"]);
    let next = || lines.next();
    assert_eq!(next(), "record 0");

    // A second process appends while tail runs (and holds the writer lock
    // meanwhile: tail must not need it).
    let mut writer = KillOnDrop(
        logstore()
            .args(["append", s.dir()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = writer.0.stdin.take().unwrap();
    stdin.write_all(b"appended later\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(next(), "appended later");
    stdin.write_all(b"and once more\n").unwrap();
    drop(stdin);
    assert_eq!(next(), "and once more");
    let status = writer.0.wait().unwrap();
    assert!(status.success());
    // Still following: a later append shows up too.
    common::run_with_input(&["append", s.dir()], b"last\n").ok();
    assert_eq!(next(), "last");
    assert!(tail.0.try_wait().unwrap().is_none(), "tail --follow exited");
}
