//! Guards the bad-input cases: a missing directory, a log locked by a
//! writer, positions out of range and a corrupt segment each give a human
//! message on stderr and exit status 1.

mod common;

use common::{run, run_with_input, segments, Scratch};
use logstore::{Log, Options};

#[test]
fn missing_directory() {
    let s = Scratch::new();
    let d = s.dir();
    for args in [
        &["stat", d][..],
        &["read", d, "0"],
        &["replay", d],
        &["tail", d],
        &["tail", d, "--follow"],
        &["truncate", d, "--before", "1"],
        &["verify", d],
        &["repair", d, "--yes"],
    ] {
        run(args).fails(1, &["no log at", d, "no such directory"]);
    }
    assert!(!s.log.exists(), "a reading command created the directory");
}

#[test]
fn directory_without_a_log() {
    let s = Scratch::new();
    std::fs::create_dir(&s.log).unwrap();
    run(&["stat", s.dir()]).fails(1, &["no log in this directory"]);
}

#[test]
fn commands_that_write_refuse_a_locked_log() {
    let s = Scratch::with_records(3);
    let writer = Log::open(&s.log, Options::default()).unwrap();
    let d = s.dir();
    run_with_input(&["append", d], b"x\n").fails(1, &["locked", d]);
    run(&["truncate", d, "--before", "1"]).fails(1, &["locked", d]);
    run(&["truncate", d, "--from", "1"]).fails(1, &["locked"]);
    // Reading commands work next to the writer.
    assert_eq!(run(&["read", d, "1"]).ok(), "record 1");
    assert!(run(&["stat", d]).ok().contains("records          3"));
    run(&["verify", d]).ok();
    drop(writer);
    assert_eq!(run(&["read", d, "2"]).ok(), "record 2");
}

#[test]
fn positions_out_of_range_name_the_valid_range() {
    let s = Scratch::with_records(5);
    let d = s.dir();
    run(&["truncate", d, "--before", "2"]).ok();
    let range = "the log holds positions 2..5 (2 to 4)";
    run(&["read", d, "5"]).fails(1, &["position 5 is out of range", range]);
    run(&["read", d, "1"]).fails(1, &["position 1 is out of range", range]);
    run(&["replay", d, "--from", "9"]).fails(1, &["--from 9 is out of range", range]);
    run(&["replay", d, "--from", "0"]).fails(1, &["--from 0 is out of range", range]);
    run(&["tail", d, "--from", "6"]).fails(1, &["--from 6 is out of range", range]);
    run(&["truncate", d, "--before", "6"]).fails(1, &["--before 6 is out of range", range]);
    run(&["truncate", d, "--from", "1"]).fails(1, &["--from 1 is out of range", range]);
    run(&["truncate", d, "--from", "6"]).fails(1, &["--from 6 is out of range", range]);
    let empty = Scratch::new();
    run_with_input(&["append", empty.dir()], b"a\n").ok();
    run(&["truncate", empty.dir(), "--from", "0"]).ok();
    run(&["read", empty.dir(), "0"])
        .fails(1, &["the log holds no records (its next position is 0)"]);
}

#[test]
fn a_corrupt_segment_is_named() {
    let s = Scratch::with_records(3);
    let seg = &segments(&s.log)[0];
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[0] ^= 0xff; // the segment header's magic
    std::fs::write(seg, bytes).unwrap();
    let name = "00000000000000000000.seg";
    for args in [
        &["stat", s.dir()][..],
        &["read", s.dir(), "0"],
        &["replay", s.dir()],
    ] {
        run(args).fails(1, &["bad segment header", name, "logstore verify"]);
    }
    let verify = run(&["verify", s.dir()]);
    assert_eq!(verify.code, 3);
    assert!(
        verify.stdout.contains(&format!("{name} at byte 0")),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_corrupt_record_is_named_when_read() {
    // Three appends of about 6 KiB each, into 4 KiB segments: the first
    // segment is sealed when it is damaged.
    let s = Scratch::new();
    for i in 0..3 {
        let input: String = (0..80).map(|j| format!("record {i}-{j:<50}\n")).collect();
        run_with_input(
            &["append", s.dir(), "--segment-size", "4096"],
            input.as_bytes(),
        )
        .ok();
    }
    let seg = &segments(&s.log)[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let at = bytes.windows(10).position(|w| w == b"record 0-1").unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(seg, bytes).unwrap();
    let out = run(&["read", s.dir(), "1"]);
    out.fails(
        1,
        &["00000000000000000000.seg", "position 1", "logstore verify"],
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn damage_at_the_tail_is_noted() {
    let s = Scratch::with_records(2);
    run_with_input(&["append", s.dir()], b"record 2\n").ok();
    let seg = &segments(&s.log)[0];
    let mut bytes = std::fs::read(seg).unwrap();
    // What a crash during the append of record 2 leaves: its record not
    // synced, so neither the close's sync mark (the last 16 bytes) nor
    // the index the close writes.
    bytes.truncate(bytes.len() - 16);
    std::fs::remove_file(seg.with_extension("idx")).unwrap();
    let at = bytes.windows(8).position(|w| w == b"record 2").unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(seg, bytes).unwrap();
    // The last segment's tail is where a crash leaves an incomplete
    // append: readers stop before it, and say so.
    let out = run(&["replay", s.dir(), "--format", "lengths"]);
    assert_eq!(out.ok(), "0 8\n1 8\n");
    assert!(out.stderr.contains("note: ignoring"), "{}", out.stderr);
    assert!(
        out.stderr.contains("read up to position 2"),
        "{}",
        out.stderr
    );
    common::assert_human(&out.stderr);
}
