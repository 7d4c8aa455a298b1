//! Guards `logstore verify` and `logstore repair` on a deliberately
//! corrupted sealed segment: verify names the file and offset and exits
//! 3; repair keeps a backup of what it cuts and leaves a clean log.

mod common;

use std::path::Path;

use common::{run, run_with_input, segments, Scratch};
use logstore::{Log, Options, SyncPolicy};

const SEGMENT_HEADER: u64 = 64;
const FRAME_HEADER: u64 = 16;
const RECORD: usize = 100;
/// The corrupted record: the fourth of the first segment.
const BAD: u64 = 3;
const BAD_OFFSET: u64 = SEGMENT_HEADER + BAD * (FRAME_HEADER + RECORD as u64);

/// A log of 100 records of 100 bytes over several 4 KiB segments, each
/// record its own batch, so each is checked on its own.
fn written_log(dir: &Path) {
    let opts = Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never);
    let log = Log::open(dir, opts).unwrap();
    for i in 0..100u8 {
        log.append(&[i; RECORD]).unwrap();
    }
    log.close().unwrap();
}

/// Flips a payload byte of record `BAD` in the first (sealed) segment.
fn corrupt(dir: &Path) {
    let first = &segments(dir)[0];
    let mut bytes = std::fs::read(first).unwrap();
    bytes[(BAD_OFFSET + FRAME_HEADER + 10) as usize] ^= 0xff;
    std::fs::write(first, bytes).unwrap();
}

fn corrupted_log() -> Scratch {
    let s = Scratch::new();
    written_log(&s.log);
    assert!(segments(&s.log).len() > 2);
    assert!(
        s.log.join("00000000000000000000.idx").exists(),
        "first segment not sealed"
    );
    corrupt(&s.log);
    s
}

#[test]
fn verify_passes_a_clean_log() {
    let s = Scratch::new();
    written_log(&s.log);
    let out = run(&["verify", s.dir()]);
    let text = out.ok();
    assert!(text.contains("100 records"), "{text}");
    assert!(text.trim_end().ends_with("clean"), "{text}");
}

#[test]
fn verify_names_the_damaged_file_and_offset() {
    let s = corrupted_log();
    let out = run(&["verify", s.dir()]);
    assert_eq!(
        out.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let expected = format!("00000000000000000000.seg at byte {BAD_OFFSET}");
    assert!(out.stdout.contains(&expected), "{}", out.stdout);
    assert!(out.stdout.contains("1 problem found"), "{}", out.stdout);
    // Not a terminal: no progress bar in the output.
    assert!(!out.stdout.contains("verifying"), "{}", out.stdout);
}

#[test]
fn repair_without_yes_changes_nothing() {
    let s = corrupted_log();
    let before: Vec<Vec<u8>> = segments(&s.log)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let out = run(&["repair", s.dir()]);
    let text = out.ok();
    assert!(text.contains(&format!("at byte {BAD_OFFSET}")), "{text}");
    assert!(text.contains(&format!("positions from {BAD} on")), "{text}");
    assert!(text.contains("--yes"), "{text}");
    let after: Vec<Vec<u8>> = segments(&s.log)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);
    assert!(!s.tmp.path().join("log.repair-backup").exists());
    assert_eq!(run(&["verify", s.dir()]).code, 3);
}

#[test]
fn repair_cuts_at_the_damage_and_keeps_a_backup() {
    let s = corrupted_log();
    let originals: Vec<(String, Vec<u8>)> = segments(&s.log)
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(p).unwrap())
        })
        .collect();
    let out = run(&["repair", s.dir(), "--yes"]);
    let text = out.ok();
    assert!(text.contains("verify: clean"), "{text}");

    let verify = run(&["verify", s.dir()]);
    assert!(verify.ok().trim_end().ends_with("clean"));
    let stat: serde_json::Value =
        serde_json::from_str(run(&["stat", s.dir(), "--json"]).ok()).unwrap();
    assert_eq!(stat["next_position"], BAD);
    assert_eq!(run(&["read", s.dir(), "2"]).stdout_bytes, vec![2u8; RECORD]);

    // The backup holds every byte cut: the first segment from the damage
    // on, and each later segment whole.
    let backup = s.tmp.path().join("log.repair-backup");
    let (first_name, first_bytes) = &originals[0];
    let cut = std::fs::read(backup.join(format!("{first_name}.from-{BAD_OFFSET}.bak"))).unwrap();
    assert_eq!(cut, first_bytes[BAD_OFFSET as usize..]);
    for (name, bytes) in &originals[1..] {
        let saved = std::fs::read(backup.join(format!("{name}.from-0.bak"))).unwrap();
        assert_eq!(&saved, bytes, "{name}");
    }
    // The log can be appended to again.
    let out = common::run_with_input(&["append", s.dir()], b"after repair\n");
    assert_eq!(out.ok(), format!("{BAD}\n"));
}

#[test]
fn repair_of_a_clean_log_does_nothing() {
    let s = Scratch::with_records(3);
    let out = run(&["repair", s.dir(), "--yes"]);
    assert!(out.ok().contains("no damage found"));
    assert!(!s.tmp.path().join("log.repair-backup").exists());
}

#[test]
fn repair_refuses_a_log_held_by_a_writer() {
    let s = corrupted_log();
    // The damage is in a sealed segment, which opening does not read.
    let writer = Log::open(&s.log, Options::default()).unwrap();
    run(&["repair", s.dir(), "--yes"]).fails(1, &["locked", "nothing was cut"]);
    drop(writer);
    assert_eq!(run(&["verify", s.dir()]).code, 3);
}

/// The repro of damage to acknowledged records in the last segment: 300
/// records appended (and so synced) by the CLI into one segment, then one
/// byte of a record near the start overwritten. On 05995b3 `verify` said
/// "clean" (exit 0) and the next append cut all 300 records as a "torn
/// tail", handing position 0 to the new record.
#[test]
fn damage_to_acknowledged_records_of_the_last_segment_is_never_cut() {
    let s = Scratch::new();
    let lines: String = (1..=300).map(|i| format!("record-{i}\n")).collect();
    run_with_input(
        &["append", s.dir(), "--segment-size", "8192"],
        lines.as_bytes(),
    )
    .ok();
    let segs = segments(&s.log);
    assert_eq!(segs.len(), 1, "{segs:?}");
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[200] ^= 0x5a;
    std::fs::write(&segs[0], &bytes).unwrap();

    let verify = run(&["verify", s.dir()]);
    assert_eq!(
        verify.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        verify.stdout, verify.stderr
    );
    assert!(
        verify.stdout.contains("00000000000000000000.seg at byte"),
        "{}",
        verify.stdout
    );

    // The next append goes after the records: nothing is cut, and the
    // damaged record reads as corruption.
    run_with_input(&["append", s.dir()], b"new\n").ok();
    assert_eq!(run(&["read", s.dir(), "300"]).ok().trim_end(), "new");
    let damaged: Vec<u64> = (0..20)
        .filter(|p| {
            let r = run(&["read", s.dir(), &p.to_string()]);
            r.code != 0 && r.stderr.contains("checksum mismatch")
        })
        .collect();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(std::fs::read(&segs[0]).unwrap()[..bytes.len()], bytes[..]);
    let bytes = std::fs::read(&segs[0]).unwrap();

    // Repair cuts only when asked, with a backup of what it cuts.
    let dry = run(&["repair", s.dir()]);
    dry.ok();
    assert_eq!(std::fs::read(&segs[0]).unwrap(), bytes);
    let fixed = run(&["repair", s.dir(), "--yes"]);
    assert!(fixed.ok().contains("verify: clean"), "{}", fixed.stdout);
    assert!(s.tmp.path().join("log.repair-backup").exists());
}
