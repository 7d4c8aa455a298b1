//! Guards against hostile or foreign files: permissive file modes, a second
//! writer process, unknown or foreign files taken for records (or deleted),
//! forged record lengths that make the reader allocate gigabytes, and
//! symbolic links in place of log files.
#![allow(unsafe_code)] // the counting allocator below; nothing else

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use logstore::{ErrorKind, Log, Options, Recovery, SyncPolicy};

/// Records the largest single allocation, to prove forged lengths are not
/// believed.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed unchanged to the system allocator; the only
// addition is an atomic maximum.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, as the caller promised for us.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn opts() -> Options {
    Options::default().segment_size(4096)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn filled(dir: &Path, n: u64) -> Log {
    let log = Log::open(dir, opts()).unwrap();
    for i in 0..n {
        log.append(format!("record {i} {}", "x".repeat(i as usize % 300)).as_bytes())
            .unwrap();
    }
    log
}

fn expected(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat(i as usize % 300)).into_bytes()
}

#[test]
fn files_are_private_by_default_and_modes_are_configurable() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let log = filled(&dir, 200);
    log.wait_reclaimed();
    assert_eq!(mode(&dir), 0o700);
    let all = files(&dir);
    assert!(all
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "idx")));
    for f in &all {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(log);
    let dir2 = root.path().join("shared");
    let log = Log::open(&dir2, opts().file_mode(0o640).dir_mode(0o750)).unwrap();
    log.append(b"x").unwrap();
    assert_eq!(mode(&dir2), 0o750);
    for f in files(&dir2) {
        assert_eq!(mode(&f), 0o640, "{}", f.display());
    }
}

/// Run as a separate process: opens the log named by the environment and
/// prints the outcome.
#[test]
fn second_process_child() {
    let Ok(dir) = std::env::var("LOGSTORE_HOSTILE_DIR") else {
        return;
    };
    let ro = std::env::var_os("LOGSTORE_HOSTILE_RO").is_some();
    match Log::open(&dir, opts().read_only(ro)) {
        Ok(log) => println!("\nOPENED next={}", log.next_position()),
        Err(e) => println!("\nREFUSED {:?}", e.kind()),
    }
}

fn open_in_other_process(dir: &Path, read_only: bool) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["second_process_child", "--exact", "--nocapture"])
        .env("LOGSTORE_HOSTILE_DIR", dir);
    if read_only {
        cmd.env("LOGSTORE_HOSTILE_RO", "1");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("OPENED") || l.starts_with("REFUSED"))
        .unwrap()
        .to_string()
}

#[test]
fn a_second_writer_process_is_refused() {
    if std::env::var_os("LOGSTORE_HOSTILE_DIR").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 10);
    assert_eq!(open_in_other_process(dir.path(), false), "REFUSED Locked");
    // Readers are welcome.
    assert_eq!(open_in_other_process(dir.path(), true), "OPENED next=10");
    log.close().unwrap();
    drop(log);
    assert_eq!(open_in_other_process(dir.path(), false), "OPENED next=10");
}

#[test]
fn unknown_files_are_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = filled(d, 40);
    drop(log);
    let strangers: Vec<(&str, Vec<u8>)> = vec![
        ("notes.txt", b"not a log file".to_vec()),
        ("42.seg", b"short name".to_vec()),
        (
            "00000000000000000000.seg.bak",
            std::fs::read(d.join("00000000000000000000.seg")).unwrap(),
        ),
        ("00000000000000000007.SEG", vec![0; 100]),
        ("logstore.meta.old", vec![1; 64]),
    ];
    for (name, bytes) in &strangers {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    std::fs::create_dir(d.join("subdir")).unwrap();
    let mut kept = 0..40;
    for recovery in [Recovery::Strict, Recovery::Tolerant] {
        let log = Log::open(d, opts().recovery(recovery)).unwrap();
        let report = log.recovery_report();
        let mut names: Vec<String> = report
            .unknown_files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = strangers.iter().map(|s| s.0.to_string()).collect();
        want.push("subdir".into());
        want.sort();
        assert_eq!(names, want);
        assert_eq!(log.first_position()..log.next_position(), kept);
        for i in kept.clone() {
            assert_eq!(log.read(i).unwrap(), expected(i));
        }
        // Truncations and appends leave them alone too.
        log.truncate_front(kept.start + 10).unwrap();
        log.truncate_back(kept.end - 5).unwrap();
        log.append(&expected(kept.end - 5)).unwrap();
        kept = kept.start + 10..kept.end - 4;
        log.wait_reclaimed();
        log.close().unwrap();
    }
    for (name, bytes) in &strangers {
        assert_eq!(&std::fs::read(d.join(name)).unwrap(), bytes, "{name}");
    }
    assert!(d.join("subdir").is_dir());
}

#[test]
fn a_segment_of_another_log_is_refused_and_kept() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    drop(filled(a.path(), 40));
    drop(filled(b.path(), 40));
    // b's last segment replaces a's last segment.
    let last = |d: &Path| {
        files(d)
            .into_iter()
            .rfind(|p| p.extension().is_some_and(|e| e == "seg"))
            .unwrap()
    };
    let (la, lb) = (last(a.path()), last(b.path()));
    assert_eq!(la.file_name(), lb.file_name());
    let foreign = std::fs::read(&lb).unwrap();
    std::fs::write(&la, &foreign).unwrap();
    for recovery in [Recovery::Strict, Recovery::Tolerant] {
        let err = Log::open(a.path(), opts().recovery(recovery)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "{recovery:?}: {err}");
        assert_eq!(err.path(), Some(la.as_path()));
        assert!(err.to_string().contains("another log"), "{err}");
        assert_eq!(std::fs::read(&la).unwrap(), foreign, "{recovery:?}");
    }
}

#[test]
fn symlinked_log_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 40));
    for name in ["00000000000000000000.seg", "logstore.meta"] {
        let path = dir.path().join(name);
        let moved = elsewhere.path().join(name);
        std::fs::rename(&path, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &path).unwrap();
        for recovery in [Recovery::Strict, Recovery::Tolerant] {
            let err = Log::open(dir.path(), opts().recovery(recovery)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corruption, "{name}: {err}");
            assert_eq!(err.path(), Some(path.as_path()), "{err}");
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        // The link and its target are untouched.
        assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert!(moved.exists());
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&moved, &path).unwrap();
    }
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(log.next_position(), 40);
}

/// Writes a frame header claiming `len` bytes at `offset` of `path`.
fn forge_length(path: &Path, offset: u64, len: u32) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&len.to_le_bytes(), offset + 4).unwrap();
}

#[test]
fn forged_lengths_never_allocate_more_than_the_limit() {
    const LIMIT: usize = 64 << 10;
    let small = || {
        Options::default()
            .segment_size(64 << 10)
            .max_record_size(LIMIT)
            .sync_policy(SyncPolicy::Never)
    };
    for forged in [
        u32::MAX,
        1 << 31 | 1 << 30,
        0x7FFF_FFFF,
        4 << 20,
        LIMIT as u32 + 1,
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Log::open(dir.path(), small()).unwrap();
            for i in 0..300u64 {
                log.append(&vec![i as u8; 1 + (i as usize * 13) % 900])
                    .unwrap();
            }
            log.close().unwrap();
        }
        let segs: Vec<PathBuf> = files(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
        assert!(segs.len() >= 3);
        // The first record of a sealed segment, and one in the active one.
        forge_length(&segs[0], 64, forged);
        forge_length(segs.last().unwrap(), 64 + 2 * 16 + 1000, forged);
        let before = LARGEST.load(Ordering::Relaxed);
        for recovery in [Recovery::Strict, Recovery::Tolerant] {
            LARGEST.store(0, Ordering::Relaxed);
            if let Ok(log) = Log::open(dir.path(), small().recovery(recovery)) {
                for p in log.first_position()..log.next_position() {
                    if let Err(e) = log.read(p) {
                        assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
                    }
                }
                let _ = log.verify(|_, _| {});
                let _ = log.iter(log.first_position()).count();
            }
            let largest = LARGEST.load(Ordering::Relaxed);
            // Scans read in 1 MiB chunks; nothing near the forged length.
            assert!(
                largest <= (2 << 20),
                "forged {forged:#x} ({recovery:?}): allocated {largest} bytes at once"
            );
        }
        LARGEST.fetch_max(before, Ordering::Relaxed);
    }
}
