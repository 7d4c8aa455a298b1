//! The raw ceiling: what the disk and the kernel allow for each workload,
//! with none of a log's work (no checksum, no index, no truncation, no
//! crash safety). It stands for an upper bound, not for a usable log.
//!
//! - Non-durable appends (W1–W3): one file, each record framed as a 4-byte
//!   length and its bytes and written with one `write` (records up to
//!   64 KiB are copied behind their length; larger ones go out with one
//!   `writev` of the two parts), into space that
//!   was written with zeros and synced when the file was created
//!   ([`Mode::expect_bytes`]): an append overwrites cached, allocated
//!   pages, the cheapest buffered write there is. A zero length ends the
//!   data. A clean close records where the data ends (`raw.meta`), so a
//!   reopen reads nothing but that.
//! - Durable appends (W4): group commit with nothing else. An appender
//!   copies its record, unframed, into the batch being collected; a leader
//!   writes the whole batch with one `pwrite` into a 64 MiB ring that was
//!   written with zeros and synced at open (overwrites only: the sync never
//!   has a file size or an extent to record), then one `fdatasync`; the
//!   appenders of that batch return. A finished sync wakes only its own
//!   appenders and the next batch's leader (see [`Group`]).
//! - Durable large records (W3): [`direct_write`], sequential `O_DIRECT`
//!   writes of the same number of bytes into written space and one
//!   `fdatasync`.

use std::fs::{self, File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use logstore_testkit::{Xorshift, GOLDEN};

use super::{Mode, Res, Store};

const FILE: &str = "raw.log";
/// Where a clean close records the end of the data: `next last end`.
const META: &str = "raw.meta";
/// The durable appends' ring.
const RING_FILE: &str = "ring.bin";
const RING: u64 = 64 << 20;
/// Records up to this size are copied and written with one `write`.
const SMALL: usize = 64 << 10;

/// Writes `len` zeros to `file` from offset 0, `chunk` bytes a write, and
/// syncs them.
fn write_zeros(file: &File, len: u64, chunk: usize) -> Res<()> {
    let zeros = vec![0u8; chunk];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(zeros.len() as u64);
        file.write_all_at(&zeros[..n as usize], at)?;
        at += n;
    }
    file.sync_data()?;
    Ok(())
}

struct Tail {
    /// Written through its file offset (one `writev` per append).
    file: File,
    /// `None` after a reopen without `raw.meta`: found by a scan if asked.
    next: Option<u64>,
    /// Offset of the last record, and of the end of the data.
    last: u64,
    end: u64,
    /// A small record is copied here behind its length and written with
    /// one `write` (cheaper than a two-part `writev`).
    small: Vec<u8>,
}

/// See the module docs.
pub struct RawStore {
    /// Non-durable appends and reads (`None` when durable).
    tail: Option<Mutex<Tail>>,
    /// Durable appends (`None` when not durable).
    group: Option<Group>,
    reader: File,
    path: PathBuf,
    dir: PathBuf,
    /// Record offsets and the end of the data, built by a scan on the first
    /// read by position other than of the last record.
    offsets: OnceLock<Vec<u64>>,
}

impl RawStore {
    /// Opens or creates the file; a reopen reads `raw.meta` only.
    pub fn open(dir: &Path, mode: Mode) -> Res<RawStore> {
        if mode.durable {
            let path = dir.join(RING_FILE);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            write_zeros(&file, RING, 4096)?;
            return Ok(RawStore {
                tail: None,
                group: Some(Group::new(file.try_clone()?)),
                reader: file,
                path,
                dir: dir.to_path_buf(),
                offsets: OnceLock::new(),
            });
        }
        let path = dir.join(FILE);
        let new = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let (next, last, end) = if new {
            // Zeros written in writes about the records' size: the page
            // cache keeps them in folios of that size, and a small write
            // into a large folio costs more (ext4 walks the folio's block
            // buffers on every write).
            let chunk = (mode.expect_record / 4096 * 4096).clamp(4096, 1 << 20);
            write_zeros(&file, mode.expect_bytes, chunk)?;
            (Some(0), 0, 0)
        } else {
            match fs::read_to_string(dir.join(META)) {
                Ok(text) => {
                    let v: Vec<u64> = text
                        .split_whitespace()
                        .map(str::parse)
                        .collect::<Result<_, _>>()?;
                    match v[..] {
                        [next, last, end] => (Some(next), last, end),
                        _ => return Err(format!("raw: bad {META}: {text}").into()),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, 0, 0),
                Err(e) => return Err(e.into()),
            }
        };
        file.seek(SeekFrom::Start(end))?;
        Ok(RawStore {
            tail: Some(Mutex::new(Tail {
                file,
                next,
                last,
                end,
                small: Vec::with_capacity(SMALL),
            })),
            group: None,
            reader: File::open(&path)?,
            path,
            dir: dir.to_path_buf(),
            offsets: OnceLock::new(),
        })
    }

    fn tail(&self) -> Res<std::sync::MutexGuard<'_, Tail>> {
        match &self.tail {
            Some(t) => Ok(t.lock().expect("raw tail lock")),
            None => Err("raw: the durable ring is not read back".into()),
        }
    }

    /// Record offsets, then the end of the data.
    fn scan(&self) -> Res<Vec<u64>> {
        let mut offsets = Vec::new();
        let mut at = 0u64;
        self.replay_from_start(&mut |_, body| {
            offsets.push(at);
            at += 4 + body.len() as u64;
            Ok(())
        })?;
        offsets.push(at);
        Ok(offsets)
    }

    /// Calls `f(position, body)` for every record, in order, with the body
    /// in place in a buffer that reads the file 1 MiB (or one record) at a
    /// time: one copy of each byte, as in a store that hands out slices.
    fn replay_from_start(&self, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        // A fresh descriptor each time: its own file offset, from 0.
        let mut file = File::open(&self.path)?;
        let mut buf = vec![0u8; 1 << 20];
        let (mut start, mut end) = (0usize, 0usize);
        let mut pos = 0u64;
        loop {
            while end - start >= 4 {
                let len = u32::from_le_bytes(buf[start..start + 4].try_into().expect("4 bytes"));
                let n = len as usize;
                if n == 0 {
                    return Ok(pos); // the preallocated zeros after the data
                }
                if end - start - 4 < n {
                    break;
                }
                f(pos, &buf[start + 4..start + 4 + n])?;
                pos += 1;
                start += 4 + n;
            }
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end >= 4 {
                let n = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
                if 4 + n > buf.len() {
                    buf.resize(4 + n, 0);
                }
            }
            let got = file.read(&mut buf[end..])?;
            if got == 0 {
                return Ok(pos);
            }
            end += got;
        }
    }
}

impl Store for RawStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        if let Some(g) = &self.group {
            return g.append(record);
        }
        let mut t = self.tail()?;
        let pos = match t.next {
            Some(p) => p,
            None => return Err("raw: appending after an unclean reopen".into()),
        };
        let len = (record.len() as u32).to_le_bytes();
        let total = 4 + record.len();
        if record.len() <= SMALL {
            let t = &mut *t;
            t.small.clear();
            t.small.extend_from_slice(&len);
            t.small.extend_from_slice(record);
            t.file.write_all(&t.small)?;
        } else {
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
        }
        t.next = Some(pos + 1);
        t.last = t.end;
        t.end += total as u64;
        Ok(pos)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        let (at, end) = match self.offsets.get() {
            Some(o) => offset_of(o, position)?,
            None => {
                let t = self.tail()?;
                if t.next.is_some_and(|n| n == position + 1) {
                    (t.last, t.end)
                } else {
                    drop(t);
                    let o = self.scan()?;
                    let _ = self.offsets.set(o);
                    offset_of(self.offsets.get().expect("just set"), position)?
                }
            }
        };
        // One pread: the length is known from the next record's offset.
        let mut body = vec![0u8; (end - at - 4) as usize];
        self.reader.read_exact_at(&mut body, at + 4)?;
        Ok(body)
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        drop(self.tail()?);
        let mut n = 0;
        self.replay_from_start(&mut |pos, body| {
            if pos >= from {
                f(pos, body)?;
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    fn first(&self) -> Res<u64> {
        Ok(0)
    }

    fn next(&self) -> Res<u64> {
        if let Some(g) = &self.group {
            return Ok(g.st.lock().expect("raw group lock").next_pos);
        }
        if let Some(n) = self.tail()?.next {
            return Ok(n);
        }
        let o = self.scan()?;
        let n = o.len() as u64 - 1;
        let _ = self.offsets.set(o);
        Ok(n)
    }

    fn truncate_front(&self, _position: u64) -> Res<()> {
        Err("raw: no truncation".into())
    }

    fn sync(&self) -> Res<()> {
        if let Some(t) = &self.tail {
            t.lock().expect("raw tail lock").file.sync_data()?;
        }
        // Durable appends are synced before they return.
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        if let Some(t) = &self.tail {
            let t = t.lock().expect("raw tail lock");
            if let Some(next) = t.next {
                let text = format!("{next} {} {}\n", t.last, t.end);
                fs::write(self.dir.join(META), text)?;
            }
        }
        Ok(())
    }
}

/// `(offset, end)` of the record at `position`.
fn offset_of(offsets: &[u64], position: u64) -> Res<(u64, u64)> {
    let p = position as usize;
    match (offsets.get(p), offsets.get(p + 1)) {
        (Some(&at), Some(&end)) => Ok((at, end)),
        _ => Err(format!("raw: no record {position}").into()),
    }
}

/// Group commit with nothing else (see the module docs), with as few
/// wake-ups as a group commit can have: the first appender of a batch is
/// its leader-elect and the only thread that waits on the state mutex (for
/// the sync in flight to end); the batch's other appenders wait for its
/// outcome on a separate mutex, on the condition variable of the batch's
/// parity, so that a finished sync wakes exactly its own appenders and the
/// next batch's leader.
struct Group {
    file: File,
    st: Mutex<GroupState>,
    /// The leader-elect of the batch being collected waits here.
    lead_cv: Condvar,
    done: Mutex<Done>,
    /// Appenders of batch `b` wait on `done_cvs[b % 2]`.
    done_cvs: [Condvar; 2],
}

struct GroupState {
    /// The records of batch `filling`, back to back.
    pending: Vec<u8>,
    /// An empty buffer to swap in for `pending`.
    spare: Vec<u8>,
    filling: u64,
    /// A leader is writing and syncing batch `filling - 1`.
    leading: bool,
    failed: bool,
    /// Ring offset of the next batch.
    at: u64,
    next_pos: u64,
}

struct Done {
    /// Batches below this one are durable.
    durable: u64,
    failed: Option<String>,
}

impl Group {
    fn new(file: File) -> Group {
        Group {
            file,
            st: Mutex::new(GroupState {
                pending: Vec::with_capacity(1 << 20),
                spare: Vec::with_capacity(1 << 20),
                filling: 0,
                leading: false,
                failed: false,
                at: 0,
                next_pos: 0,
            }),
            lead_cv: Condvar::new(),
            done: Mutex::new(Done {
                durable: 0,
                failed: None,
            }),
            done_cvs: [Condvar::new(), Condvar::new()],
        }
    }

    /// Waits, away from the state mutex, for batch `mine` to be synced.
    fn wait_done(&self, mine: u64, pos: u64) -> Res<u64> {
        let cv = &self.done_cvs[(mine % 2) as usize];
        let mut d = self.done.lock().expect("raw done lock");
        while d.durable <= mine && d.failed.is_none() {
            d = cv.wait(d).expect("raw done lock");
        }
        match (&d.failed, d.durable > mine) {
            (_, true) => Ok(pos),
            (Some(e), false) => Err(format!("raw: a batch failed: {e}").into()),
            (None, false) => unreachable!("the loop above waits for one or the other"),
        }
    }

    fn append(&self, record: &[u8]) -> Res<u64> {
        let mut st = self.st.lock().expect("raw group lock");
        if st.failed {
            return Err("raw: an earlier batch failed".into());
        }
        let pos = st.next_pos;
        st.next_pos += 1;
        let elect = st.pending.is_empty();
        st.pending.extend_from_slice(record);
        let mine = st.filling;
        if !elect {
            drop(st);
            return self.wait_done(mine, pos);
        }
        while st.leading && !st.failed {
            st = self.lead_cv.wait(st).expect("raw group lock");
        }
        if st.failed {
            return Err("raw: an earlier batch failed".into());
        }
        // Lead batch `mine`, the one being collected.
        st.leading = true;
        let mut batch = std::mem::take(&mut st.spare);
        std::mem::swap(&mut batch, &mut st.pending);
        st.filling += 1;
        let len = batch.len() as u64;
        if st.at + len > RING {
            st.at = 0;
        }
        let at = st.at;
        st.at += len;
        drop(st);
        let result = if len > RING {
            Err(std::io::Error::other("batch larger than the ring"))
        } else {
            self.file
                .write_all_at(&batch, at)
                .and_then(|()| self.file.sync_data())
        };
        batch.clear();
        {
            let mut d = self.done.lock().expect("raw done lock");
            match &result {
                Ok(()) => {
                    d.durable = mine + 1;
                    self.done_cvs[(mine % 2) as usize].notify_all();
                }
                Err(e) => {
                    d.failed = Some(e.to_string());
                    self.done_cvs.iter().for_each(Condvar::notify_all);
                }
            }
        }
        let mut st = self.st.lock().expect("raw group lock");
        st.spare = batch;
        st.leading = false;
        st.failed |= result.is_err();
        // The next batch's leader-elect, if it has one.
        self.lead_cv.notify_one();
        drop(st);
        result.map(|()| pos).map_err(Into::into)
    }
}

/// Direct writes in flight at once, and the size of each.
const DIRECT_WRITERS: usize = 2;
const DIRECT_CHUNK: usize = 8 << 20;

/// The durable ceiling of W3: `bytes` (rounded up to 4 KiB) of
/// pseudo-random data written with `O_DIRECT` in 8 MiB sequential writes,
/// two in flight, into a file already written (with zeros, also direct,
/// and synced), then one `fdatasync`. Returns the time of the writes and
/// the sync; the file is removed.
pub fn direct_write(dir: &Path, bytes: u64) -> Res<Duration> {
    let total = bytes.div_ceil(4096) * 4096;
    let path = dir.join("direct.bin");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)?;
    let mut backing = vec![0u8; DIRECT_CHUNK + 4096];
    let off = backing.as_ptr().align_offset(4096);
    let buf = &mut backing[off..off + DIRECT_CHUNK];
    let result = (|| -> Res<Duration> {
        write_chunks(&file, buf, total)?;
        file.sync_data()?;
        Xorshift::new(GOLDEN).fill_words(buf);
        let start = Instant::now();
        write_chunks(&file, buf, total)?;
        file.sync_data()?;
        Ok(start.elapsed())
    })();
    drop(file);
    fs::remove_file(&path)?;
    result
}

fn write_chunks(file: &File, buf: &[u8], total: u64) -> Res<()> {
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..DIRECT_WRITERS)
            .map(|_| {
                s.spawn(|| -> std::io::Result<()> {
                    loop {
                        let at = next.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        if at >= total {
                            return Ok(());
                        }
                        let len = (total - at).min(buf.len() as u64) as usize;
                        file.write_all_at(&buf[..len], at)?;
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().map_err(|_| "raw: direct writer panicked")??;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("raw-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MODE: Mode = Mode {
        durable: false,
        buffered: false,
        mmap_reads: false,
        expect_bytes: 0,
        expect_record: 0,
    };

    #[test]
    fn records_read_back_after_a_clean_reopen_past_the_zeros() {
        let dir = temp_dir("reopen");
        let sizes = [100usize, 70_000, 5, 3 << 20, 4096];
        let mode = Mode {
            expect_bytes: 1 << 20,
            expect_record: 100,
            ..MODE
        };
        let s = Box::new(RawStore::open(&dir, mode).unwrap());
        for (i, n) in sizes.iter().enumerate() {
            assert_eq!(s.append(&vec![i as u8 + 1; *n]).unwrap(), i as u64);
        }
        s.close().unwrap();
        let s = Box::new(RawStore::open(&dir, MODE).unwrap());
        assert_eq!(s.next().unwrap(), 5);
        assert_eq!(s.read(4).unwrap(), vec![5u8; 4096]);
        assert_eq!(s.read(3).unwrap(), vec![4u8; 3 << 20]);
        assert_eq!(s.read(1).unwrap(), vec![2u8; 70_000]);
        let mut seen = Vec::new();
        s.replay(0, &mut |p, r| {
            seen.push((p, r.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(0, 100), (1, 70_000), (2, 5), (3, 3 << 20), (4, 4096)]
        );
        s.close().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn group_commit_gives_every_appender_its_own_position() {
        let dir = temp_dir("group");
        let mode = Mode {
            durable: true,
            ..MODE
        };
        let s = Arc::new(RawStore::open(&dir, mode).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| s.append(&[7u8; 1024]).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<_>>());
        assert_eq!(s.next().unwrap(), 400);
        drop(s);
        fs::remove_dir_all(&dir).unwrap();
    }
}
