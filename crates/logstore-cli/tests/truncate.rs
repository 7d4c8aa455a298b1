//! Guards `logstore truncate`: both directions, the positions printed and
//! the disk space reported as given back.

mod common;

use common::{run, Scratch};

/// A log of four 200 KiB records, one segment each.
fn four_big_records() -> Scratch {
    let s = Scratch::new();
    let file = s.tmp.path().join("big");
    for i in 0..4u8 {
        std::fs::write(&file, vec![i + 1; 200 << 10]).unwrap();
        let args = ["append", s.dir(), "--segment-size", "65536", "--file"];
        let out = run(&[&args[..], &[file.to_str().unwrap()]].concat());
        assert_eq!(out.ok(), format!("{i}\n"));
    }
    s
}

fn returned_bytes(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("returned to the file system: "))
        .unwrap_or_else(|| panic!("no 'returned' line in:\n{stdout}"));
    line["returned to the file system: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn before_drops_the_front_and_gives_space_back() {
    let s = four_big_records();
    let out = run(&["truncate", s.dir(), "--before", "2"]);
    let text = out.ok();
    assert!(
        text.contains("dropped 2 records (positions 0..2)"),
        "{text}"
    );
    assert!(
        text.contains("first position  2\nnext position   4"),
        "{text}"
    );
    assert!(returned_bytes(text) >= 400 << 10, "{text}");
    run(&["read", s.dir(), "1"]).fails(1, &["out of range", "2..4"]);
    assert_eq!(
        run(&["read", s.dir(), "2"]).stdout_bytes,
        vec![3u8; 200 << 10]
    );
}

#[test]
fn from_drops_the_back() {
    let s = four_big_records();
    let text = run(&["truncate", s.dir(), "--from", "1"]);
    let text = text.ok();
    assert!(
        text.contains("dropped 3 records (positions 1..4)"),
        "{text}"
    );
    assert!(
        text.contains("first position  0\nnext position   1"),
        "{text}"
    );
    assert!(returned_bytes(text) >= 400 << 10, "{text}");
    let again = run(&["truncate", s.dir(), "--from", "1"]);
    assert!(again.ok().contains("nothing to drop"));
}
