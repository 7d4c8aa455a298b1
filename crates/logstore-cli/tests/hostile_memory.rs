//! Guards the commands against forged sparse files: each runs with its
//! address space limited to 256 MiB (`ulimit -v`), so that believing a
//! forged count or length aborts it, and must end with a human message or
//! its normal output, quickly. `repair --yes` must keep a sparse file's
//! holes in its backup instead of filling the disk with zeros.

mod common;

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_human, segments, Scratch};
use logstore::{Log, Options, SyncPolicy};

/// The address-space limit, in KiB.
const LIMIT_KIB: u64 = 256 << 10;
const DEADLINE: Duration = Duration::from_secs(20);

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `logstore ARGS` under the memory limit; fails if it was killed by
/// a signal (an abort on a failed allocation), printed a panic, or was
/// slow.
fn limited(args: &[&str]) -> Outcome {
    let started = Instant::now();
    // Output to files: the child is killed at the deadline, unread pipes
    // or not.
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_logstore"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("{args:?}: took more than {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    };
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let Some(code) = out.status.code() else {
        panic!(
            "{args:?}: killed ({:?}) after {elapsed:?}\nstderr:\n{stderr}",
            out.status
        );
    };
    assert!(elapsed < DEADLINE, "{args:?}: took {elapsed:?}");
    assert!(
        [0, 1, 3].contains(&code),
        "{args:?}: exit status {code}\nstderr:\n{stderr}"
    );
    assert_human(&stderr);
    eprintln!(
        "{args:?}: {code} in {elapsed:?}: {}",
        stderr.lines().next().unwrap_or("")
    );
    Outcome {
        code,
        stdout,
        stderr,
    }
}

/// CRC32C, bit by bit (headers only).
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 64-byte file header (docs/FORMAT.md) with a correct checksum.
fn file_header(magic: &[u8; 8], id: &[u8], fields: [u64; 3], extra: u32) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..8].copy_from_slice(magic);
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&64u32.to_le_bytes());
    b[16..32].copy_from_slice(id);
    for (i, f) in fields.iter().enumerate() {
        b[32 + 8 * i..40 + 8 * i].copy_from_slice(&f.to_le_bytes());
    }
    b[56..60].copy_from_slice(&extra.to_le_bytes());
    let crc = crc32c(&b[..60]);
    b[60..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn first_of(seg: &Path) -> u64 {
    seg.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// A log of 300 records in 4 KiB segments; its identity.
fn written_log(dir: &Path) -> Vec<u8> {
    let opts = Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never);
    let log = Log::open(dir, opts).unwrap();
    for i in 0..300u64 {
        log.append(&vec![(i % 251) as u8; 1 + (i as usize * 31) % 200])
            .unwrap();
    }
    log.close().unwrap();
    std::fs::read(dir.join("logstore.meta")).unwrap()[16..32].to_vec()
}

/// Bytes allocated to the files under `dir`.
fn allocated(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
        .sum()
}

/// Every reading command, then `repair` without and with `--yes`, under
/// the limit. Returns the outcome of `repair --yes`.
fn every_command(s: &Scratch, position: u64) -> Outcome {
    let d = s.dir();
    let p = position.to_string();
    for args in [
        vec!["stat", d],
        vec!["read", d, &p],
        vec!["replay", d],
        vec!["verify", d],
        vec!["repair", d],
    ] {
        limited(&args);
    }
    let out = limited(&["repair", d, "--yes"]);
    let backup = s.tmp.path().join("log.repair-backup");
    if backup.exists() {
        assert!(
            allocated(&backup) < 16 << 20,
            "the backup filled {} bytes",
            allocated(&backup)
        );
    }
    out
}

/// An index claiming 2^33 records over a 146 GB sparse segment. Fails on
/// 05995b3: `read` and `replay` aborted on a 64 GiB allocation.
#[test]
fn an_index_with_a_huge_count() {
    let s = Scratch::new();
    let id = written_log(&s.log);
    let segs = segments(&s.log);
    let count = 1u64 << 33;
    let first = first_of(&segs[1]);
    for seg in &segs[2..] {
        std::fs::remove_file(seg).unwrap();
        let _ = std::fs::remove_file(seg.with_extension("idx"));
    }
    let next = first + count;
    std::fs::write(
        s.log.join(format!("{next:020}.seg")),
        file_header(b"LOGSTSEG", &id, [next, 0, 0], 0),
    )
    .unwrap();
    let seg_len = 64 + 17 * count;
    set_len(&segs[1], seg_len);
    let idx = segs[1].with_extension("idx");
    std::fs::remove_file(&idx).unwrap();
    write_at(
        &idx,
        0,
        &file_header(b"LOGSTIDX", &id, [first, first, count], 0x1234_5678),
    );
    write_at(&idx, 64 + count * 8, &seg_len.to_le_bytes());
    let read = limited(&["read", s.dir(), &(first + 1).to_string()]);
    assert_eq!(read.code, 1);
    assert!(
        read.stderr.contains(&*segs[1].to_string_lossy()),
        "{}",
        read.stderr
    );
    let out = every_command(&s, first + 1);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // Cut at the end of the real records: everything before is kept.
    limited(&["verify", s.dir()]);
    let log = Log::open(&s.log, Options::default().read_only(true)).unwrap();
    assert!(log.next_position() > first, "{}", log.next_position());
}

/// A sparse last segment (1 GiB of holes after the data; a forger can
/// make it a terabyte) whose next frame claims a huge record. Fails on
/// 05995b3: `repair --yes` copied the holes into its backup as zeros
/// (1 GiB written here).
#[test]
fn a_sparse_tail_with_a_forged_frame() {
    let s = Scratch::new();
    let _ = written_log(&s.log);
    let last: PathBuf = segments(&s.log).pop().unwrap();
    let end = std::fs::metadata(&last).unwrap().len();
    let next = Log::open(&s.log, Options::default().read_only(true))
        .unwrap()
        .next_position();
    let mut header = vec![0u8; 16];
    header[..4].copy_from_slice(&0xBAD0_BAD0u32.to_le_bytes());
    header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    header[8..16].copy_from_slice(&next.to_le_bytes());
    write_at(&last, end, &header);
    let len = end + (1 << 30);
    set_len(&last, len);
    let out = every_command(&s, next - 1);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("verify: clean"), "{}", out.stdout);
    // The backup holds the cut bytes, the holes as holes.
    let backup = s.tmp.path().join("log.repair-backup");
    let files: Vec<_> = std::fs::read_dir(&backup)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(meta.len(), len - end);
    let mut head = [0u8; 16];
    std::fs::File::open(&files[0])
        .unwrap()
        .read_exact_at(&mut head, 0)
        .unwrap();
    assert_eq!(head.to_vec(), header);
    let log = Log::open(&s.log, Options::default().read_only(true)).unwrap();
    assert_eq!(log.next_position(), next);
}

/// Meta files with valid checksums and odd fields, and a damaged one,
/// over a 2 TiB sparse segment. Fails on 05995b3: `stat` took over 20 s,
/// reading the holes as zeros.
#[test]
fn odd_and_damaged_meta_files() {
    for fields in [
        Some([37, 36, 1 << 40]),
        Some([u64::MAX, 0, 64]),
        Some([1 << 40, 0, u64::MAX]),
        None,
    ] {
        let s = Scratch::new();
        let id = written_log(&s.log);
        let segs = segments(&s.log);
        set_len(&segs[1], 1 << 41);
        let meta = s.log.join("logstore.meta");
        match fields {
            Some(fields) => std::fs::write(&meta, file_header(b"LOGSTMET", &id, fields, 0)),
            None => std::fs::write(&meta, [0xA5u8; 64]),
        }
        .unwrap();
        every_command(&s, 10);
    }
}
