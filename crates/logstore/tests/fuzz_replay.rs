//! Guards against regressions on what the coverage-guided fuzzers found:
//! replays every input of `fuzz/corpus/<target>/` (the minimized corpus)
//! and `fuzz/regressions/<target>/` (inputs that once broke a rule) through
//! the same checks as the targets in `fuzz/fuzz_targets/`.

use std::path::{Path, PathBuf};

use logstore_check::{check_image, check_ops, decode_directory, segment_image, ByteSource};

const TARGETS: [&str; 3] = ["segment_bytes", "directory", "ops"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// One input through `target`'s checks, as the fuzz target runs it.
fn run(target: &str, input: &[u8]) -> Result<(), String> {
    match target {
        "segment_bytes" => check_image(&segment_image(input)),
        "directory" => check_image(&decode_directory(input)),
        _ => check_ops(&mut ByteSource::new(input)).map(drop),
    }
}

/// Every file of `fuzz/<set>/<target>/`, sorted.
fn inputs(set: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(set).join(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

fn replay(set: &str) -> usize {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in TARGETS {
        for path in inputs(set, target) {
            let input = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| run(target, &input))
                .unwrap_or_else(|_| Err("panic".to_string()));
            if let Err(why) = result {
                failures.push(format!("{}: {why}", path.display()));
            }
            replayed += 1;
        }
    }
    println!("fuzz/{set}: {replayed} inputs replayed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    replayed
}

#[test]
fn replay_minimized_corpus() {
    let n = replay("corpus");
    assert!(n >= TARGETS.len(), "the corpus is missing ({n} inputs)");
}

#[test]
fn replay_regression_inputs() {
    replay("regressions");
}

/// The fixture log, as each target's input, passes: the encodings and the
/// checks agree with a log written by logstore.
#[test]
fn fixture_inputs_pass() {
    let fixture = logstore_check::fixture();
    let encoded = logstore_check::encode_directory(&fixture).unwrap();
    assert_eq!(decode_directory(&encoded), fixture);
    run("directory", &encoded).unwrap();
    for (slot, name) in logstore_check::SEGMENT_SLOTS.iter().enumerate() {
        let segment = &fixture.iter().find(|(n, _)| n == name).unwrap().1;
        let mut input = vec![slot as u8];
        input.extend_from_slice(segment);
        assert_eq!(segment_image(&input), fixture);
        run("segment_bytes", &input).unwrap();
    }
}
