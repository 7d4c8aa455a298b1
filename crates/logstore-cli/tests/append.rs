//! Guards `logstore append`: every input format, positions printed, and
//! records before a bad one staying appended.

mod common;

use common::{run, run_with_input, Scratch};

#[test]
fn lines_become_records_and_positions_continue() {
    let s = Scratch::new();
    let out = run_with_input(&["append", s.dir()], b"alpha\nbeta\ngamma");
    assert_eq!(out.ok(), "0\n1\n2\n");
    let out = run_with_input(&["append", s.dir(), "--sync", "never"], b"delta\n");
    assert_eq!(out.ok(), "3\n");
    assert_eq!(run(&["read", s.dir(), "2"]).stdout, "gamma");
    assert_eq!(run(&["read", s.dir(), "3"]).stdout, "delta");
}

#[test]
fn empty_line_is_refused_after_appending_what_came_before() {
    let s = Scratch::new();
    let out = run_with_input(&["append", s.dir()], b"one\ntwo\n\nfour\n");
    out.fails(1, &["line 3", "empty", "2 records before it were appended"]);
    assert_eq!(out.stdout, "0\n1\n");
    let lengths = run(&["replay", s.dir(), "--format", "lengths"]);
    assert_eq!(lengths.ok(), "0 3\n1 3\n");
}

#[test]
fn raw_makes_all_of_stdin_one_record() {
    let s = Scratch::new();
    let data: Vec<u8> = (0..=255u8).chain(b"\n\nend\n".iter().copied()).collect();
    assert_eq!(
        run_with_input(&["append", s.dir(), "--format", "raw"], &data).ok(),
        "0\n"
    );
    assert_eq!(run(&["read", s.dir(), "0"]).stdout_bytes, data);
    run_with_input(&["append", s.dir(), "--format", "raw"], b"")
        .fails(1, &["the input is empty", "nothing was appended"]);
}

#[test]
fn length_prefixed_records_and_a_cut_short_input() {
    let s = Scratch::new();
    let mut input = Vec::new();
    for rec in [&b"first\nline"[..], b"x", &[0u8; 300]] {
        input.extend_from_slice(&(rec.len() as u32).to_le_bytes());
        input.extend_from_slice(rec);
    }
    let out = run_with_input(&["append", s.dir(), "--format", "length-prefixed"], &input);
    assert_eq!(out.ok(), "0\n1\n2\n");
    assert_eq!(run(&["read", s.dir(), "0"]).stdout, "first\nline");
    assert_eq!(run(&["read", s.dir(), "2"]).stdout_bytes, vec![0u8; 300]);

    let mut short = 2u32.to_le_bytes().to_vec();
    short.extend_from_slice(b"ok");
    short.extend_from_slice(&10u32.to_le_bytes());
    short.extend_from_slice(b"abc");
    let out = run_with_input(&["append", s.dir(), "--format", "length-prefixed"], &short);
    out.fails(
        1,
        &["record 2 of the input", "says 10 bytes", "ends after 3"],
    );
    assert_eq!(out.stdout, "3\n");
}

#[test]
fn files_are_one_record_each() {
    let s = Scratch::new();
    let a = s.tmp.path().join("a.bin");
    let b = s.tmp.path().join("b.txt");
    std::fs::write(&a, [1u8, 2, 3, 10, 0]).unwrap();
    std::fs::write(&b, "two\nlines\n").unwrap();
    let out = run(&[
        "append",
        s.dir(),
        "--file",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.ok(), "0\n1\n");
    assert_eq!(
        run(&["read", s.dir(), "0"]).stdout_bytes,
        [1u8, 2, 3, 10, 0]
    );
    assert_eq!(run(&["read", s.dir(), "1"]).stdout, "two\nlines\n");

    let missing = s.tmp.path().join("missing.bin");
    run(&["append", s.dir(), "--file", missing.to_str().unwrap()])
        .fails(1, &["cannot read", "missing.bin"]);
}
