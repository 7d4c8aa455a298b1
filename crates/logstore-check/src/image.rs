//! Directory images: their encoding as fuzz input, and the checks run when
//! one is opened.

use std::path::Path;

use logstore::sim::SimFs;
use logstore::{Error, ErrorKind, Log, Options, Recovery};

use crate::source::payload;

/// A log directory as (file name, contents) pairs.
pub type Image = Vec<(String, Vec<u8>)>;

/// Bytes of a record frame header (docs/FORMAT.md, "Record frame").
const FRAME_HEADER: usize = 16;
/// Bit of a frame's length field saying the batch continues.
const BATCH_CONTINUES: u32 = 1 << 31;

/// The file kinds of the directory encoding, by tag.
const KINDS: [&str; 6] = [
    ".seg",
    ".idx",
    ".idx.tmp",
    "logstore.meta",
    "logstore.meta.tmp",
    "notes.txt",
];
/// Tag bit: the file's position is 8 bytes, not 1.
const WIDE_POSITION: u8 = 0x80;

/// The segment files of the v1 fixture log (positions 0..30 in three
/// segments, written by `crates/logstore/tests/fixtures`), which the
/// `segment_bytes` input replaces one of.
pub const SEGMENT_SLOTS: [&str; 3] = [
    "00000000000000000000.seg",
    "00000000000000000012.seg",
    "00000000000000000021.seg",
];

macro_rules! fixture_file {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../../logstore/tests/fixtures/v1/", $name)).as_slice(),
        )
    };
}

/// The v1 fixture log directory.
pub fn fixture() -> Image {
    [
        fixture_file!("00000000000000000000.idx"),
        fixture_file!("00000000000000000000.seg"),
        fixture_file!("00000000000000000012.idx"),
        fixture_file!("00000000000000000012.seg"),
        fixture_file!("00000000000000000021.seg"),
        fixture_file!("logstore.meta"),
    ]
    .iter()
    .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
    .collect()
}

/// The `segment_bytes` image: the fixture log with one segment file
/// replaced by `input[1..]` (`input[0]` picks which of [`SEGMENT_SLOTS`]).
pub fn segment_image(input: &[u8]) -> Image {
    let Some((&slot, bytes)) = input.split_first() else {
        return fixture();
    };
    let name = SEGMENT_SLOTS[usize::from(slot) % SEGMENT_SLOTS.len()];
    let mut image = fixture();
    for (n, b) in &mut image {
        if n == name {
            *b = bytes.to_vec();
        }
    }
    image
}

/// Decodes fuzz input as a directory image; every input decodes. Per
/// file: a tag byte (kind = (tag & 0x7F) % 6 from [`KINDS`]; with bit 7 set the
/// position is a u64, else a u8), the position, a u16 length and that
/// many bytes (fewer if the input ends). All integers little-endian. A
/// later file of the same name replaces an earlier one.
pub fn decode_directory(mut input: &[u8]) -> Image {
    let mut image: Image = Vec::new();
    while let Some((&tag, rest)) = input.split_first() {
        input = rest;
        let width = if tag & WIDE_POSITION != 0 { 8 } else { 1 };
        let position = take_le(&mut input, width);
        let len = take_le(&mut input, 2) as usize;
        let (bytes, rest) = input.split_at(len.min(input.len()));
        input = rest;
        let kind = KINDS[usize::from(tag & !WIDE_POSITION) % KINDS.len()];
        let name = if kind.starts_with('.') {
            format!("{position:020}{kind}")
        } else {
            kind.to_string()
        };
        image.retain(|(n, _)| *n != name);
        image.push((name, bytes.to_vec()));
    }
    image.sort();
    image
}

/// Encodes `image` so that [`decode_directory`] gives it back; `None` if
/// a file's name is not one the encoding can express or a file is larger
/// than 64 KiB.
pub fn encode_directory(image: &Image) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (name, bytes) in image {
        let (kind, position) = KINDS.iter().enumerate().find_map(|(k, kind)| {
            if kind.starts_with('.') {
                let stem = name.strip_suffix(kind)?;
                let p = stem.parse::<u64>().ok()?;
                (stem.len() == 20).then_some((k, p))
            } else {
                (name == kind).then_some((k, 0))
            }
        })?;
        let len = u16::try_from(bytes.len()).ok()?;
        out.push(kind as u8 | WIDE_POSITION);
        out.extend_from_slice(&position.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
    }
    Some(out)
}

fn take_le(input: &mut &[u8], n: usize) -> u64 {
    let (head, rest) = input.split_at(n.min(input.len()));
    *input = rest;
    head.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
}

/// Opens `image` strictly and tolerantly and checks the rules:
///
/// - opening either succeeds or fails with `Corruption` (naming a file and
///   a byte offset) or `Io`;
/// - the log holds no more records than the segment files have room for,
///   and every record `read`, `iter` and `replay` return is the payload of
///   a frame in a segment file whose checksum matches; the three agree;
/// - in tolerant mode every record in range is readable;
/// - `verify` runs; the log takes an append and a clean reopen finds the
///   same range plus that record.
pub fn check_image(image: &Image) -> Result<(), String> {
    let frames = Frames::of(image);
    for recovery in [Recovery::Strict, Recovery::Tolerant] {
        check_open(image, &frames, recovery).map_err(|e| format!("{recovery:?}: {e}"))?;
    }
    Ok(())
}

fn check_open(image: &Image, frames: &Frames, recovery: Recovery) -> Result<(), String> {
    let fs = SimFs::new();
    for (name, bytes) in image {
        fs.set_file_contents(Path::new("/").join(name), bytes)
            .map_err(|e| format!("setting up {name}: {e}"))?;
    }
    let opts = Options::default()
        .segment_size(4096)
        .simulated(&fs)
        .recovery(recovery);
    let log = match Log::open("/", opts.clone()) {
        Ok(log) => log,
        Err(e) if e.kind() == ErrorKind::Io => return Ok(()),
        Err(e) => return corruption("open", &e),
    };
    let (first, next) = (log.first_position(), log.next_position());
    if next - first > frames.capacity {
        return Err(format!("{first}..{next} is more than the segments hold"));
    }
    let strict = recovery == Recovery::Strict;
    let records = read_all(&log, frames, strict)?;
    check_iter(&log, &records, strict)?;
    check_replay(&log, &records, strict)?;
    log.verify(|_, _| {}).map_err(|e| format!("verify: {e}"))?;
    check_append_reopen(log, opts, first, next)
}

/// A `Corruption` error that names where: fine; anything else is not.
fn corruption(what: &str, e: &Error) -> Result<(), String> {
    match (e.kind(), e.path(), e.offset()) {
        (ErrorKind::Corruption, Some(_), Some(_)) => Ok(()),
        _ => Err(format!("{what}: {:?} error {e}", e.kind())),
    }
}

/// `log.read` of every position; `None` where strict mode reported damage.
fn read_all(log: &Log, frames: &Frames, strict: bool) -> Result<Vec<Option<Vec<u8>>>, String> {
    let first = log.first_position();
    let mut records = Vec::new();
    for p in first..log.next_position() {
        match log.read(p) {
            Ok(rec) => {
                frames.check(p, &rec)?;
                records.push(Some(rec));
            }
            Err(e) if strict => {
                corruption(&format!("read {p}"), &e)?;
                records.push(None);
            }
            Err(e) => return Err(format!("read {p}: {:?} {e}", e.kind())),
        }
    }
    Ok(records)
}

/// Whether `rec` at `p` is what `read` returned (`want`).
fn same(p: u64, want: Option<&Option<Vec<u8>>>, rec: &[u8]) -> Result<(), String> {
    match want {
        Some(Some(w)) if w == rec => Ok(()),
        Some(None) => Err(format!("{p} was damaged for read but not for iteration")),
        _ => Err(format!("{p} differs from what read returned")),
    }
}

fn check_iter(log: &Log, records: &[Option<Vec<u8>>], strict: bool) -> Result<(), String> {
    let first = log.first_position();
    let mut expect = first;
    for item in log.iter(first) {
        match item {
            Ok((p, rec)) if p == expect => {
                same(p, records.get((p - first) as usize), &rec)
                    .map_err(|e| format!("iter: {e}"))?;
                expect += 1;
            }
            Ok((p, _)) => return Err(format!("iter gave {p}, expected {expect}")),
            Err(e) if strict => return corruption("iter", &e),
            Err(e) => return Err(format!("iter: {:?} {e}", e.kind())),
        }
    }
    if expect != log.next_position() {
        return Err(format!(
            "iter ended at {expect}, not {}",
            log.next_position()
        ));
    }
    Ok(())
}

fn check_replay(log: &Log, records: &[Option<Vec<u8>>], strict: bool) -> Result<(), String> {
    let first = log.first_position();
    let mut expect = first;
    let mut bad = None;
    let result = log.replay(first, |p, rec| {
        let ok = p == expect && same(p, records.get((p - first) as usize), rec).is_ok();
        if !ok {
            bad = Some(p);
        }
        expect += 1;
        ok
    });
    if let Some(p) = bad {
        return Err(format!("replay: record {p} differs from read"));
    }
    match result {
        Ok(n) if n == records.len() as u64 => Ok(()),
        Ok(n) => Err(format!("replay passed {n} of {} records", records.len())),
        Err(e) if strict => corruption("replay", &e),
        Err(e) => Err(format!("replay: {:?} {e}", e.kind())),
    }
}

fn check_append_reopen(log: Log, opts: Options, first: u64, next: u64) -> Result<(), String> {
    let rec = payload(next, 1 + (next % 700) as usize);
    match log.append(&rec) {
        Ok(p) if p == next => {}
        Ok(p) => return Err(format!("append went to {p}, not {next}")),
        // The last position a log can hold was reached.
        Err(e) if e.kind() == ErrorKind::InvalidArgument && next > u64::MAX / 2 => return Ok(()),
        Err(e) => return Err(format!("append after open: {:?} {e}", e.kind())),
    }
    log.close().map_err(|e| format!("close: {e}"))?;
    drop(log);
    let log = Log::open("/", opts).map_err(|e| format!("second open: {e}"))?;
    let found = (log.first_position(), log.next_position());
    if found != (first, next + 1) {
        return Err(format!(
            "second open found {}..{}, not {first}..{}",
            found.0,
            found.1,
            next + 1
        ));
    }
    match log.read(next) {
        Ok(r) if r == rec => Ok(()),
        other => Err(format!("appended record read back as {other:?}")),
    }
}

/// An image's segment files, to check that a record returned is stored,
/// checksum and all.
struct Frames<'a> {
    segments: Vec<&'a [u8]>,
    /// The most records the segment files could hold.
    capacity: u64,
}

impl<'a> Frames<'a> {
    fn of(image: &'a Image) -> Frames<'a> {
        let segments: Vec<&[u8]> = image
            .iter()
            .filter(|(n, _)| n.ends_with(".seg"))
            .map(|(_, b)| b.as_slice())
            .collect();
        let bytes: u64 = segments.iter().map(|s| s.len() as u64).sum();
        Frames {
            segments,
            capacity: bytes / (FRAME_HEADER as u64 + 1),
        }
    }

    /// Whether a frame holding `rec` at `p` (with or without the batch
    /// bit) is stored in a segment file: its checksum covers `rec`, and
    /// its header and payload are there byte for byte.
    fn check(&self, p: u64, rec: &[u8]) -> Result<(), String> {
        let len = u32::try_from(rec.len()).map_err(|_| format!("record {p} is too long"))?;
        let found = [0, BATCH_CONTINUES].iter().any(|bit| {
            let mut h = [0u8; FRAME_HEADER];
            h[4..8].copy_from_slice(&(len | bit).to_le_bytes());
            h[8..].copy_from_slice(&p.to_le_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&h[4..]), rec);
            h[..4].copy_from_slice(&crc.to_le_bytes());
            self.segments.iter().any(|s| holds(s, &h, rec))
        });
        if found {
            Ok(())
        } else {
            Err(format!(
                "record {p} ({} bytes) is not a checksummed frame of any segment",
                rec.len()
            ))
        }
    }
}

/// Whether `file` holds `header` followed by `payload`.
fn holds(file: &[u8], header: &[u8; FRAME_HEADER], payload: &[u8]) -> bool {
    let frame = FRAME_HEADER + payload.len();
    (0..(file.len() + 1).saturating_sub(frame)).any(|at| {
        // The first byte alone rules out most offsets, cheaply.
        file[at] == header[0]
            && file[at..at + FRAME_HEADER] == header[..]
            && file[at + FRAME_HEADER..at + frame] == *payload
    })
}
