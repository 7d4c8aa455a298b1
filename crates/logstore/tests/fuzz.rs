//! Guards against panics, wrong data and unbounded work on arbitrary input:
//! a deterministic, stable-toolchain fuzzer with three targets, run on the
//! simulated file system:
//!
//! - `segment_bytes`: the fixture log with one file mutated (bit flips,
//!   forged lengths, cuts, splices, zeroed blocks): open strict and
//!   tolerant, read, iterate and verify everything.
//! - `directory`: arbitrary directories of segment, index and meta files
//!   (fixture files renamed, dropped, duplicated, mixed with random bytes).
//! - `ops`: random operation sequences with a power cut after a random
//!   number of writes, checked against a model.
//!
//! The rules checked are those of the coverage-guided targets in `fuzz/`
//! (crate `logstore-check`). Every input that broke a rule is kept in
//! `tests/fuzz_corpus/` (directory images for the first two targets; seeds
//! of this generator for the third) and replayed by `cargo test`. `cargo test` also runs a few thousand fresh executions;
//! `LOGSTORE_FUZZ_EXECS=n` runs n per target (`LOGSTORE_FUZZ_SEED` picks
//! the start) and writes any failing input to the corpus.

use std::path::{Path, PathBuf};

use logstore_check::{check_image, check_ops, fixture, Image, OpsStats, Source};

mod common;
use common::Rng;

const CORPUS: &str = "tests/fuzz_corpus";

/// The generator as a source of the `ops` model's choices.
struct Choices(Rng);

impl Source for Choices {
    fn next(&mut self) -> u64 {
        self.0.next()
    }
}

fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Corpus file format: per file, a u16 name length, the name, a u32
/// contents length, the contents (little-endian).
fn encode(image: &Image) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in image {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn decode(mut b: &[u8]) -> Image {
    let mut image = Vec::new();
    let take = |n: usize, b: &mut &[u8]| {
        let (head, rest) = b.split_at(n);
        *b = rest;
        head.to_vec()
    };
    while !b.is_empty() {
        let n = u16::from_le_bytes(take(2, &mut b).try_into().unwrap()) as usize;
        let name = String::from_utf8(take(n, &mut b)).unwrap();
        let n = u32::from_le_bytes(take(4, &mut b).try_into().unwrap()) as usize;
        image.push((name, take(n, &mut b)));
    }
    image
}

const INTERESTING: [u32; 10] = [
    0,
    1,
    699,
    700,
    0x7FFF_FFFF,
    0x8000_0000,
    0x8000_0001,
    0xFFFF_FFFF,
    32 << 20,
    (32 << 20) + 1,
];

/// One random change to one file of `image`.
fn mutate(image: &mut Image, r: &mut Rng) {
    if image.is_empty() {
        return;
    }
    let k = r.below(image.len() as u64) as usize;
    let other = image[r.below(image.len() as u64) as usize].1.clone();
    let bytes = &mut image[k].1;
    let len = bytes.len() as u64;
    match r.below(10) {
        0 | 1 => {
            if len > 0 {
                let at = r.below(len) as usize;
                bytes[at] ^= 1 << r.below(8);
            }
        }
        2 => {
            if len > 0 {
                let at = r.below(len) as usize;
                bytes[at] = r.next() as u8;
            }
        }
        3 => {
            // A forged length field (at a plausible frame start or anywhere).
            if len >= 8 {
                let at = r.below(len - 7) as usize;
                let v = *r.pick(&INTERESTING);
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        4 => bytes.truncate(r.below(len + 1) as usize),
        5 => {
            let n = r.below(200) as usize;
            let zero = r.below(2) == 0;
            bytes.extend((0..n).map(|_| if zero { 0 } else { r.next() as u8 }));
        }
        6 => {
            // Splice a range of another file (records of the same log).
            if !other.is_empty() && len > 0 {
                let from = r.below(other.len() as u64) as usize;
                let n = r.below((other.len() - from) as u64 + 1) as usize;
                let at = r.below(len) as usize;
                let end = (at + n).min(bytes.len());
                bytes[at..end].copy_from_slice(&other[from..from + (end - at)]);
            }
        }
        7 => {
            // A zeroed 4 KiB-aligned block, like a hole or a lost sector.
            let start = r.below(len / 4096 + 1) * 4096;
            let end = (start + 4096).min(len);
            for b in &mut bytes[start.min(len) as usize..end as usize] {
                *b = 0;
            }
        }
        8 => {
            if len > 0 {
                let at = r.below(len) as usize;
                let n = (r.below(64) as usize).min(bytes.len() - at);
                bytes.drain(at..at + n);
            }
        }
        _ => {
            if len > 0 {
                let at = r.below(len) as usize;
                let n = r.below(64) as usize;
                let ins: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
                bytes.splice(at..at, ins);
            }
        }
    }
}

/// Arbitrary directory built from pieces of the fixture and random bytes.
fn arbitrary_directory(r: &mut Rng) -> Image {
    let base = fixture();
    let mut image: Image = Vec::new();
    for (name, bytes) in &base {
        match r.below(6) {
            0 => {}
            1 => {
                // Renamed to a neighbouring or random position.
                let stem = name.split('.').next().unwrap();
                let ext = name.rsplit('.').next().unwrap();
                if let Ok(n) = stem.parse::<u64>() {
                    let to = match r.below(3) {
                        0 => n + 1,
                        1 => n.saturating_sub(1),
                        _ => r.below(40),
                    };
                    image.push((format!("{to:020}.{ext}"), bytes.clone()));
                } else {
                    image.push((name.clone(), bytes.clone()));
                }
            }
            _ => image.push((name.clone(), bytes.clone())),
        }
    }
    for _ in 0..r.below(3) {
        let ext = *r.pick(&["seg", "idx", "idx.tmp"]);
        let name = format!("{:020}.{ext}", r.below(40));
        let bytes = if r.below(2) == 0 {
            base[r.below(base.len() as u64) as usize].1.clone()
        } else {
            (0..r.below(300)).map(|_| r.next() as u8).collect()
        };
        image.push((name, bytes));
    }
    if r.below(4) == 0 {
        image.push(("logstore.meta.tmp".into(), vec![7; 64]));
    }
    for _ in 0..r.below(4) {
        mutate(&mut image, r);
    }
    image.sort();
    image.dedup_by(|a, b| a.0 == b.0);
    image
}

/// Opens `image` both ways and checks the rules; `Err` names the broken
/// rule (a panic inside the engine is caught and reported too).
fn run_image(image: &Image) -> Result<(), String> {
    let image = image.clone();
    std::panic::catch_unwind(move || check_image(&image)).unwrap_or_else(|p| Err(panic_message(p)))
}

/// One `ops` execution: see `logstore_check::check_ops`.
fn run_ops(seed: u64) -> Result<OpsStats, String> {
    std::panic::catch_unwind(move || check_ops(&mut Choices(Rng(seed))))
        .unwrap_or_else(|p| Err(panic_message(p)))
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    format!(
        "panic: {}",
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    )
}

fn save_failure(target: &str, name: &str, bytes: &[u8]) {
    let dir = manifest_dir().join(CORPUS).join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn execs(default: u64) -> u64 {
    std::env::var("LOGSTORE_FUZZ_EXECS").map_or(default, |v| v.parse().expect("a number"))
}

fn start_seed() -> u64 {
    std::env::var("LOGSTORE_FUZZ_SEED").map_or(1, |v| v.parse().expect("a number"))
}

fn quiet_panics() {
    // Failures are collected and reported together below.
    std::panic::set_hook(Box::new(|_| {}));
}

fn fuzz_images(target: &str, make: impl Fn(&mut Rng) -> Image, n: u64) {
    quiet_panics();
    let seed0 = start_seed();
    let mut failures = Vec::new();
    for i in 0..n {
        let seed = seed0.wrapping_mul(1_000_003).wrapping_add(i);
        if (i + 1).is_multiple_of(100_000) {
            println!(
                "fuzz {target}: {} executions so far, {} failures",
                i + 1,
                failures.len()
            );
        }
        let image = make(&mut Rng(seed));
        if let Err(why) = run_image(&image) {
            save_failure(target, &format!("seed-{seed}.img"), &encode(&image));
            failures.push(format!("seed {seed}: {why}"));
        }
    }
    let _ = std::panic::take_hook();
    println!("fuzz {target}: {n} executions, {} failures", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fuzz_segment_bytes() {
    fuzz_images(
        "segment_bytes",
        |r| {
            let mut image = fixture();
            for _ in 0..1 + r.below(3) {
                mutate(&mut image, r);
            }
            image
        },
        execs(3000),
    );
}

#[test]
fn fuzz_directory() {
    fuzz_images("directory", arbitrary_directory, execs(2000));
}

#[test]
fn fuzz_ops() {
    quiet_panics();
    if let Ok(seed) = std::env::var("LOGSTORE_FUZZ_ONLY") {
        std::panic::set_hook(Box::new(|_| {}));
        let r = run_ops(seed.parse().unwrap());
        let _ = std::panic::take_hook();
        panic!("seed {seed}: {r:?}");
    }
    let seed0 = start_seed();
    let n = execs(300);
    let mut failures = Vec::new();
    let mut total = OpsStats::default();
    for i in 0..n {
        let seed = seed0.wrapping_mul(1_000_003).wrapping_add(i);
        if (i + 1).is_multiple_of(10_000) {
            println!(
                "fuzz ops: {} executions so far, {} failures, {total:?}",
                i + 1,
                failures.len()
            );
        }
        match run_ops(seed) {
            Ok(s) => total.ops += s.ops,
            Err(why) => {
                save_failure("ops", &format!("seed-{seed}"), seed.to_string().as_bytes());
                failures.push(format!("seed {seed}: {why}"));
            }
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "fuzz ops: {n} executions, {} operations, {} failures",
        total.ops,
        failures.len(),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Replays every kept input; each once broke a rule.
#[test]
fn replay_corpus() {
    let root = manifest_dir().join(CORPUS);
    let mut replayed = 0;
    let mut failures = Vec::new();
    for target in ["segment_bytes", "directory", "ops"] {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let result = if target == "ops" {
                let seed = String::from_utf8(bytes).unwrap().trim().parse().unwrap();
                run_ops(seed).map(drop)
            } else {
                run_image(&decode(&bytes))
            };
            if let Err(why) = result {
                failures.push(format!("{}: {why}", path.display()));
            }
            replayed += 1;
        }
    }
    println!("fuzz corpus: {replayed} inputs replayed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
