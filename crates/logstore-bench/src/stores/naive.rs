//! The naive design of a simple log store: one file per record. An append
//! writes a temp file and renames it to its zero-padded position (syncing
//! the file and the directory when durable); the file `first` keeps the
//! first position; the next position is found by listing the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Mode, Res, Store};

/// See the module docs.
pub struct NaiveStore {
    dir: PathBuf,
    durable: bool,
    first: AtomicU64,
    next: AtomicU64,
}

fn name(position: u64) -> String {
    format!("{position:020}")
}

impl NaiveStore {
    /// Opens or creates the store: reads `first` and lists the directory.
    pub fn open(dir: &Path, mode: Mode) -> Res<NaiveStore> {
        let first = match fs::read_to_string(dir.join("first")) {
            Ok(s) => s.trim().parse()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        let mut next = first;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u64>().ok())
            {
                next = next.max(p + 1);
            }
        }
        Ok(NaiveStore {
            dir: dir.to_path_buf(),
            durable: mode.durable,
            first: AtomicU64::new(first),
            next: AtomicU64::new(next),
        })
    }

    fn write_file(&self, tmp: &Path, dest: &Path, bytes: &[u8]) -> Res<()> {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        if self.durable {
            f.sync_data()?;
        }
        fs::rename(tmp, dest)?;
        if self.durable {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Store for NaiveStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let pos = self.next.fetch_add(1, Ordering::SeqCst);
        let tmp = self.dir.join(format!("tmp-{pos}"));
        self.write_file(&tmp, &self.dir.join(name(pos)), record)?;
        Ok(pos)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        Ok(fs::read(self.dir.join(name(position)))?)
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let next = self.next.load(Ordering::SeqCst);
        for pos in from..next {
            f(pos, &fs::read(self.dir.join(name(pos)))?)?;
        }
        Ok(next.saturating_sub(from))
    }

    fn first(&self) -> Res<u64> {
        Ok(self.first.load(Ordering::SeqCst))
    }

    fn next(&self) -> Res<u64> {
        Ok(self.next.load(Ordering::SeqCst))
    }

    fn truncate_front(&self, position: u64) -> Res<()> {
        let old = self.first.load(Ordering::SeqCst);
        let text = position.to_string();
        self.write_file(
            &self.dir.join("first.tmp"),
            &self.dir.join("first"),
            text.as_bytes(),
        )?;
        self.first.store(position, Ordering::SeqCst);
        for pos in old..position {
            fs::remove_file(self.dir.join(name(pos)))?;
        }
        Ok(())
    }

    /// Syncs every record's file, then the directory.
    fn sync(&self) -> Res<()> {
        let (first, next) = (self.first()?, self.next()?);
        for pos in first..next {
            File::open(self.dir.join(name(pos)))?.sync_data()?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(())
    }
}
