//! The raw ceiling: one pre-opened file, each record framed as a 4-byte
//! length and its bytes, written with one `writev` (and one `fdatasync` when
//! durable). No index, no checksum, no truncation: it stands for what the
//! disk and the kernel allow, not for a usable log.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Mode, Res, Store};

const FILE: &str = "raw.log";

struct Tail {
    file: File,
    next: Option<u64>,
    end: u64,
}

/// See the module docs.
pub struct RawStore {
    tail: Mutex<Tail>,
    reader: File,
    path: PathBuf,
    durable: bool,
    /// Record offsets, built by scanning on the first read by position.
    offsets: Mutex<Option<Vec<u64>>>,
}

impl RawStore {
    /// Opens or creates the file; nothing is read.
    pub fn open(dir: &Path, mode: Mode) -> Res<RawStore> {
        let path = dir.join(FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let end = file.metadata()?.len();
        let next = if end == 0 { Some(0) } else { None };
        Ok(RawStore {
            tail: Mutex::new(Tail { file, next, end }),
            reader: File::open(&path)?,
            path,
            durable: mode.durable,
            offsets: Mutex::new(None),
        })
    }

    fn scan(&self) -> Res<Vec<u64>> {
        let mut offsets = Vec::new();
        // A fresh descriptor each time: its own file offset, from 0.
        let mut r = BufReader::with_capacity(1 << 20, File::open(&self.path)?);
        let mut at = 0u64;
        let mut len = [0u8; 4];
        let mut body = Vec::new();
        while r.read_exact(&mut len).is_ok() {
            let n = u32::from_le_bytes(len) as usize;
            body.resize(n, 0);
            r.read_exact(&mut body)?;
            offsets.push(at);
            at += 4 + n as u64;
        }
        Ok(offsets)
    }
}

impl Store for RawStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let mut t = self.tail.lock().expect("raw tail lock");
        let pos = match t.next {
            Some(p) => p,
            None => return Err("raw: appending after reopen is not supported".into()),
        };
        let len = (record.len() as u32).to_le_bytes();
        let total = 4 + record.len();
        let mut written = t
            .file
            .write_vectored(&[IoSlice::new(&len), IoSlice::new(record)])?;
        if written < 4 {
            t.file.write_all(&len[written..])?;
            written = 4;
        }
        if written < total {
            t.file.write_all(&record[written - 4..])?;
        }
        if self.durable {
            t.file.sync_data()?;
        }
        t.next = Some(pos + 1);
        t.end += total as u64;
        Ok(pos)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        let mut guard = self.offsets.lock().expect("raw offsets lock");
        if guard.is_none() {
            *guard = Some(self.scan()?);
        }
        let offsets = guard.as_ref().expect("just built");
        let at = *offsets
            .get(position as usize)
            .ok_or_else(|| format!("raw: no record {position}"))?;
        drop(guard);
        let mut len = [0u8; 4];
        self.reader.read_exact_at(&mut len, at)?;
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        self.reader.read_exact_at(&mut body, at + 4)?;
        Ok(body)
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        // A fresh descriptor each time: its own file offset, from 0.
        let mut r = BufReader::with_capacity(1 << 20, File::open(&self.path)?);
        let mut len = [0u8; 4];
        let mut body = Vec::new();
        let mut pos = 0u64;
        let mut n = 0;
        while r.read_exact(&mut len).is_ok() {
            body.resize(u32::from_le_bytes(len) as usize, 0);
            r.read_exact(&mut body)?;
            if pos >= from {
                f(pos, &body)?;
                n += 1;
            }
            pos += 1;
        }
        Ok(n)
    }

    fn first(&self) -> Res<u64> {
        Ok(0)
    }

    fn next(&self) -> Res<u64> {
        let mut t = self.tail.lock().expect("raw tail lock");
        if t.next.is_none() {
            t.next = Some(self.scan()?.len() as u64);
        }
        Ok(t.next.expect("set above"))
    }

    fn truncate_front(&self, _position: u64) -> Res<()> {
        Err("raw: no truncation".into())
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(())
    }
}
