//! A log in a temporary directory, and the verbs the tests use to write
//! it, damage its files and look at what reopening it makes of them, in
//! the spirit of LevelDB's log reader tests: open, fill, flip a byte,
//! patch, shrink, reopen, and expect an error of a kind (at a file and
//! offset).

use std::ops::Range;
use std::path::{Path, PathBuf};

use logstore::{ErrorKind, Log, Options, Recovery, Result};
use tempfile::TempDir;

use super::record;

/// A log directory of its own and the options it is opened with.
pub struct Fixture {
    dir: TempDir,
    opts: Options,
}

impl Fixture {
    /// An empty directory whose log is opened with `opts`.
    pub fn new(opts: Options) -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            opts,
        }
    }

    /// The log directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The options the log is opened with.
    pub fn options(&self) -> Options {
        self.opts.clone()
    }

    /// Opens the log (strict recovery unless the options say otherwise).
    pub fn open(&self) -> Result<Log> {
        Log::open(self.path(), self.options())
    }

    /// Opens the log with tolerant recovery.
    pub fn open_tolerant(&self) -> Result<Log> {
        Log::open(self.path(), self.options().recovery(Recovery::Tolerant))
    }

    /// Opens a read-only handle on the log.
    pub fn open_read_only(&self) -> Result<Log> {
        Log::open(self.path(), self.options().read_only(true))
    }

    /// Opens the log again, which must succeed.
    #[track_caller]
    pub fn reopen(&self) -> Log {
        self.open()
            .unwrap_or_else(|e| panic!("reopening the fixture: {e}"))
    }

    /// A copy of the fixture's files (cheaper than writing a new log).
    pub fn copy(&self) -> Fixture {
        let copy = Fixture::new(self.options());
        for entry in std::fs::read_dir(self.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
        copy
    }

    /// The segment file whose first position is `first`.
    pub fn segment(&self, first: u64) -> PathBuf {
        self.path().join(format!("{first:020}.seg"))
    }

    /// The index file of the segment whose first position is `first`.
    pub fn index(&self, first: u64) -> PathBuf {
        self.segment(first).with_extension("idx")
    }

    /// Removes every index file (they are a cache of their segments).
    pub fn remove_indexes(&self) {
        for idx in super::files_with_ext(self.path(), "idx") {
            std::fs::remove_file(idx).unwrap();
        }
    }
}

/// Appends `record(p, len)` for each position `p` of `positions`, which
/// must be where the log's next appends go.
#[track_caller]
pub fn fill(log: &Log, positions: Range<u64>, len: usize) {
    for p in positions {
        assert_eq!(log.append(&record(p, len)).unwrap(), p);
    }
}

/// Overwrites bytes of a real file at `offset`.
pub fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
    f.sync_all().unwrap();
}

/// XORs one byte of a real file with 0xFF.
pub fn flip_byte(path: &Path, offset: u64) {
    let data = std::fs::read(path).unwrap();
    patch(path, offset, &[data[offset as usize] ^ 0xFF]);
}

/// Shortens (or zero-extends) a real file to `len` bytes.
pub fn set_len(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
    f.sync_all().unwrap();
}

/// Cuts the last `bytes` bytes off a real file; returns its old length.
pub fn shrink(path: &Path, bytes: u64) -> u64 {
    let len = file_len(path);
    set_len(path, len - bytes);
    len
}

/// Length of a real file.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Asserts that `result` is an error of `kind`, with a readable message.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind) -> logstore::Error {
    match result {
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "unexpected error: {e}");
            e
        }
    }
}

/// Asserts that `e` is a `Corruption` error naming `path` and `offset`.
#[track_caller]
pub fn assert_corruption_at(e: logstore::Error, path: &Path, offset: u64) {
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert_eq!(e.path(), Some(path), "{e}");
    assert_eq!(e.offset(), Some(offset), "{e}");
}

/// Appends 1 KiB records (record `n` is the byte `n as u8 | 1`, repeated)
/// until the log has three segments, syncs them (which seals the full
/// ones: their indexes are written) and waits for the background work;
/// returns how many records there are.
pub fn fill_three_segments(log: &Log) -> u64 {
    let mut n = 0;
    while log.stats().unwrap().segments.len() < 3 {
        log.append(&[n as u8 | 1; 1024]).unwrap();
        n += 1;
    }
    log.sync().unwrap();
    log.wait_reclaimed();
    n
}
