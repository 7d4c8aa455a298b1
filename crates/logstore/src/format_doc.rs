//! Keeps docs/FORMAT.md and the code in step: the worked examples in the
//! document are regenerated here and compared byte for byte, and the
//! documented constants are checked against the code's.

use crate::cut::{self, Cut};
use crate::frame;
use crate::header::{
    FileHeader, CUT_MAGIC, HEADER_LEN, INDEX_MAGIC, META_MAGIC, SEGMENT_MAGIC, VERSION,
};
use crate::index;
use crate::segment;

const DOC: &str = include_str!("../../../docs/FORMAT.md");
const LOG_ID: [u8; 16] = [0x11; 16];

/// The hex bytes between `<!-- begin NAME -->` and `<!-- end NAME -->`.
fn example(name: &str) -> Vec<u8> {
    let begin = format!("<!-- begin {name} -->");
    let end = format!("<!-- end {name} -->");
    let start = DOC
        .find(&begin)
        .unwrap_or_else(|| panic!("FORMAT.md lacks {begin}"));
    let stop = DOC
        .find(&end)
        .unwrap_or_else(|| panic!("FORMAT.md lacks {end}"));
    let mut out = Vec::new();
    for line in DOC[start + begin.len()..stop].lines() {
        // Lines look like `0000: 4c 4f ...  | comment`; the offset and the
        // comment are for people.
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        let hex = rest.split('|').next().unwrap_or("");
        for byte in hex.split_whitespace() {
            out.push(u8::from_str_radix(byte, 16).expect("hex byte"));
        }
    }
    out
}

#[test]
fn store_entry_examples_match() {
    use crate::store::entry;
    assert_eq!(example("store-put"), entry::record(false, 7, 300, b"hi"));
    assert_eq!(example("store-meta"), entry::meta(7, 5, 9, Some(b"v")));
}

#[test]
fn segment_example_matches() {
    let mut bytes = segment::encode_segment_header(&LOG_ID, 5).to_vec();
    frame::encode_into(&mut bytes, 5, b"hi", true);
    frame::encode_into(&mut bytes, 6, b"log", false);
    assert_eq!(example("segment"), bytes);
}

#[test]
fn meta_example_matches() {
    let bytes = FileHeader {
        magic: META_MAGIC,
        log_id: LOG_ID,
        fields: [6, 5, 82],
        extra: 0,
    }
    .encode();
    assert_eq!(example("meta"), bytes);
}

#[test]
fn index_example_matches() {
    let bytes = index::encode(&LOG_ID, 5, 5, &[64, 82], 101);
    assert_eq!(example("index"), bytes);
}

#[test]
fn cut_example_matches() {
    let bytes = Cut::new(5, 64, b"hi").encode(LOG_ID);
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(example("cut"), bytes, "{}", hex.join(" "));
}

#[test]
fn documented_constants_match() {
    for needle in [
        format!("format version {VERSION}"),
        format!("{HEADER_LEN}-byte header"),
        format!("{}-byte record header", frame::HEADER_LEN),
        format!("`{}`", String::from_utf8_lossy(&SEGMENT_MAGIC)),
        format!("`{}`", String::from_utf8_lossy(&INDEX_MAGIC)),
        format!("`{}`", String::from_utf8_lossy(&META_MAGIC)),
        format!("`{}`", String::from_utf8_lossy(&CUT_MAGIC)),
        format!("`{}`", cut::CUT_NAME),
        format!("`{}`", segment::segment_name(5)),
    ] {
        assert!(DOC.contains(&needle), "FORMAT.md does not say {needle:?}");
    }
}

#[test]
fn mark_example_matches() {
    assert_eq!(example("mark"), frame::encode_mark(101, 7));
}
