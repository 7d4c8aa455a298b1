//! Guards the reading commands: `stat` (text and JSON), `read` and
//! `replay` in each format and range.

mod common;

use common::{run, run_with_input, Scratch};

#[test]
fn stat_text_and_json() {
    let s = Scratch::with_records(5);
    run(&["truncate", s.dir(), "--before", "2"]).ok();
    let text = run(&["stat", s.dir()]);
    let text = text.ok();
    for line in [
        "first position   2",
        "last position    4",
        "next position    5",
        "records          3",
        "segments         1",
        "00000000000000000000.seg",
        "2..4",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(run(&["stat", s.dir(), "--json"]).ok()).unwrap();
    assert_eq!(json["first_position"], 2);
    assert_eq!(json["next_position"], 5);
    assert_eq!(json["records"], 3);
    assert!(json["retained_bytes"].as_u64().unwrap() > 0);
    assert!(json["disk_bytes"].as_u64().unwrap() > 0);
    let segments = json["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0]["file"], "00000000000000000000.seg");
    assert_eq!(segments[0]["records"], 3);
}

#[test]
fn read_writes_exactly_the_record() {
    let s = Scratch::with_records(3);
    let out = run(&["read", s.dir(), "1"]);
    assert_eq!(out.ok(), "record 1");
}

#[test]
fn replay_formats_and_ranges() {
    let s = Scratch::new();
    run_with_input(&["append", s.dir()], b"ab\ncde\nf\n").ok();
    assert_eq!(run(&["replay", s.dir()]).ok(), "abcdef");
    assert_eq!(
        run(&["replay", s.dir(), "--format", "lengths"]).ok(),
        "0 2\n1 3\n2 1\n"
    );
    assert_eq!(
        run(&[
            "replay",
            s.dir(),
            "--format",
            "hex",
            "--from",
            "1",
            "--to",
            "2"
        ])
        .ok(),
        "1 636465\n"
    );
    let json = run(&["replay", s.dir(), "--format", "json", "--from", "1"]);
    let lines: Vec<serde_json::Value> = json
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["position"], 1);
    assert_eq!(lines[0]["length"], 3);
    assert_eq!(lines[0]["data"], "Y2Rl"); // base64 of "cde"
    assert_eq!(lines[1]["data"], "Zg==");
    // --to past the end stops at the end; --from at the end is empty.
    assert_eq!(
        run(&["replay", s.dir(), "--from", "2", "--to", "99"]).ok(),
        "f"
    );
    assert_eq!(run(&["replay", s.dir(), "--from", "3"]).ok(), "");
}
