//! A simulated, in-memory file system for crash and fault testing.
//!
//! [`SimFs`] keeps what was *written* apart from what is *durable* (synced),
//! for file contents and for directory entries alike. It can cut the power
//! after a chosen number of mutating calls, then [`SimFs::restart`] builds the
//! state a machine would find after rebooting: every unsynced change is
//! dropped, or (with [`CrashMode::Scramble`]) the unsynced bytes of each
//! 4 KiB sector are independently kept, dropped or garbled (bytes that were
//! durable are never damaged) and each unsynced directory change
//! independently kept or lost. It can also fail the Nth call of a given kind,
//! once or persistently, with `EIO` or `ENOSPC`, and make short writes.
//!
//! Use it through [`crate::Options::simulated`]:
//!
//! ```
//! use logstore::{Log, Options, SyncPolicy};
//! use logstore::sim::{CrashMode, SimFs};
//!
//! let fs = SimFs::new();
//! let opts = Options::default().simulated(&fs);
//! let log = Log::open("/log", opts.clone()).unwrap();
//! log.append(b"durable").unwrap();
//! fs.cut_power_now();
//! drop(log);
//! fs.restart(CrashMode::DropUnsynced);
//! let log = Log::open("/log", opts).unwrap();
//! assert_eq!(log.read(0).unwrap(), b"durable");
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{DirListing, Fs, FsFile, FsLock, OpenMode};
use crate::sync::{Mutex, MutexGuard};

const SECTOR: u64 = 4096;

/// The kinds of call a fault can be aimed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Opening or creating a file.
    Open,
    /// Reading from a file.
    Read,
    /// Writing to a file.
    Write,
    /// Syncing a file's data.
    Sync,
    /// Syncing a directory.
    SyncDir,
    /// Renaming a file.
    Rename,
    /// Removing a file.
    Remove,
    /// Changing a file's length.
    SetLen,
    /// Punching a hole.
    PunchHole,
}

/// The error an injected fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// `EIO`: an I/O error.
    Io,
    /// `ENOSPC`: no space left on the device.
    NoSpace,
}

/// What happens to unsynced changes when the power is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced change is lost.
    DropUnsynced,
    /// Every unsynced change survives (as if the disk cache was flushed).
    KeepUnsynced,
    /// The bytes of each unsynced write are kept, dropped or filled with
    /// garbage, independently for each 4 KiB sector they fall in (bytes
    /// durable before are never damaged), and each unsynced directory
    /// change is kept or lost, chosen by a pseudo-random generator seeded
    /// with the given value.
    Scramble(u64),
}

#[derive(Clone, Debug)]
struct Fault {
    op: Op,
    /// Fail the call with this 1-based ordinal among calls of `op`.
    nth: u64,
    persistent: bool,
    error: FaultError,
    short_write: bool,
}

#[derive(Clone, Debug, Default)]
struct FileData {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Ranges written or zeroed since the last sync, in order.
    unsynced: Vec<(u64, u64)>,
    /// Bytes released by hole punching (for the allocation figure).
    holes: Vec<(u64, u64)>,
    /// Ranges a failed sync could not write back. As Linux does, they
    /// are clean now: reads still see the written bytes, but no later
    /// sync writes them, and a crash or [`FsFile::uncache`] shows what
    /// the disk holds instead (see [`FileData::lose_unsynced`]).
    lost: Vec<(u64, u64)>,
}

impl FileData {
    /// A sync failed: the pages it was to write back are marked clean
    /// without reaching the disk. Linux does this since 4.13 (the error
    /// is reported once, through errseq); a retried sync then has
    /// nothing to write and succeeds.
    fn lose_unsynced(&mut self) {
        let unsynced = std::mem::take(&mut self.unsynced);
        self.lost.extend(unsynced);
    }

    /// `[start, end)` was written again: dirty, so no longer lost.
    fn rewritten(&mut self, start: u64, end: u64) {
        let mut kept = Vec::with_capacity(self.lost.len());
        for &(s, e) in &self.lost {
            if e <= start || s >= end {
                kept.push((s, e));
                continue;
            }
            if s < start {
                kept.push((s, start));
            }
            if e > end {
                kept.push((end, e));
            }
        }
        self.lost = kept;
    }

    /// The bytes a sync makes durable: what is written, but for the lost
    /// ranges, which keep what the disk held (zeros past its old end).
    fn synced_image(&self) -> Vec<u8> {
        let mut image = self.data.clone();
        self.overlay_lost(&mut image);
        image
    }

    fn overlay_lost(&self, image: &mut [u8]) {
        for &(s, e) in &self.lost {
            let e = (e as usize).min(image.len());
            for (i, b) in image.iter_mut().enumerate().take(e).skip(s as usize) {
                *b = self.durable.get(i).copied().unwrap_or(0);
            }
        }
    }

    /// The cache drops the lost pages: reads now see the disk's bytes.
    fn forget_lost(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        self.overlay_lost(&mut data);
        self.data = data;
        self.lost.clear();
    }

    /// A successful sync.
    fn sync(&mut self) {
        self.durable = self.synced_image();
        self.unsynced.clear();
    }
}

#[derive(Clone, Debug, Default)]
struct DirData {
    entries: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<u64, FileData>,
    dirs: BTreeMap<PathBuf, DirData>,
    next_id: u64,
    generation: u64,
    locks: HashSet<PathBuf>,
    file_mode: u32,
    mutations: u64,
    power_cut_after: Option<u64>,
    powered_off: bool,
    calls: HashMap<Op, u64>,
    faults: Vec<Fault>,
    /// Seeded delays injected before syncs and writes (see
    /// [`SimFs::set_delays`]).
    delays: Option<Delays>,
}

/// Sleeps injected before calls, to stretch the windows in which other
/// threads run (a slow fdatasync, say).
#[derive(Debug)]
struct Delays {
    rng: Rng,
    /// Longest sleep before a file or directory sync.
    sync_max: Duration,
    /// Longest sleep before a write.
    write_max: Duration,
    /// Percentage of calls that sleep at all.
    percent: u64,
}

/// A function called before calls reach the simulated file system (see
/// [`SimFs::on_call`]).
#[derive(Clone)]
struct Hook(Arc<HookFn>);

type HookFn = dyn Fn(Op, &Path) + Send + Sync;

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hook")
    }
}

/// A simulated file system; cheap to clone (clones share the same state).
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
    /// Kept apart from `state`, behind a lock of std's even in a loom
    /// build: a test hook is no part of what the loom model explores.
    hook: Arc<std::sync::RwLock<Option<Hook>>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("SimFs")
            .field("files", &st.files.len())
            .field("mutations", &st.mutations)
            .field("powered_off", &st.powered_off)
            .finish()
    }
}

fn errno(e: FaultError) -> io::Error {
    match e {
        FaultError::Io => io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
        FaultError::NoSpace => {
            io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error())
        }
    }
}

fn powered_off() -> io::Error {
    io::Error::other("simulated power loss: the machine is off")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl SimFs {
    /// A new, empty file system with its power on.
    pub fn new() -> Self {
        let fs = SimFs::default();
        {
            let mut st = fs.lock();
            st.file_mode = 0o600;
            st.dirs.insert(PathBuf::from("/"), DirData::default());
        }
        fs
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from a bug in this
        // module; keep going with the state as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many calls of kind `op` were made so far (the ordinal
    /// [`SimFs::fail`] counts in).
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Cuts the power after `n` more mutating calls (writes, syncs,
    /// creations, renames, removals, length changes, hole punches) have
    /// succeeded; every later call fails.
    pub fn cut_power_after(&self, n: u64) {
        let mut st = self.lock();
        st.power_cut_after = Some(st.mutations + n);
        if n == 0 {
            st.powered_off = true;
        }
    }

    /// Calls off a cut set with [`SimFs::cut_power_after`] that has not
    /// happened yet; returns whether the power is still on. Atomic with
    /// respect to the file system's calls, so that a test can tell whether
    /// its log ran to the end with the power on.
    pub fn cancel_power_cut(&self) -> bool {
        let mut st = self.lock();
        if !st.powered_off {
            st.power_cut_after = None;
        }
        !st.powered_off
    }

    /// Cuts the power now.
    pub fn cut_power_now(&self) {
        self.cut_power_after(0);
    }

    /// Whether the power has been cut.
    pub fn is_powered_off(&self) -> bool {
        self.lock().powered_off
    }

    /// Mutating calls made so far (the clock of [`SimFs::cut_power_after`]).
    pub fn mutations(&self) -> u64 {
        self.lock().mutations
    }

    /// Reboots: applies `mode` to every unsynced change, invalidates every
    /// handle and lock from before, clears faults and turns the power on.
    pub fn restart(&self, mode: CrashMode) {
        let mut st = self.lock();
        let mut rng = Rng(match mode {
            CrashMode::Scramble(seed) => seed,
            _ => 0,
        });
        for file in st.files.values_mut() {
            settle_file(file, mode, &mut rng);
        }
        for dir in st.dirs.values_mut() {
            settle_dir(dir, mode, &mut rng);
        }
        st.generation += 1;
        st.locks.clear();
        st.faults.clear();
        st.power_cut_after = None;
        st.powered_off = false;
    }

    /// Fails the `nth` (1-based, counted from now) call of kind `op` with
    /// `error`; with `persistent`, every later call of that kind fails too.
    pub fn fail(&self, op: Op, nth: u64, error: FaultError, persistent: bool) {
        let mut st = self.lock();
        let base = st.calls.get(&op).copied().unwrap_or(0);
        st.faults.push(Fault {
            op,
            nth: base + nth,
            persistent,
            error,
            short_write: false,
        });
    }

    /// Makes the `nth` write from now a short one: half of it reaches the
    /// file, then it fails with `ENOSPC`.
    pub fn short_write(&self, nth: u64) {
        let mut st = self.lock();
        let base = st.calls.get(&Op::Write).copied().unwrap_or(0);
        st.faults.push(Fault {
            op: Op::Write,
            nth: base + nth,
            persistent: false,
            error: FaultError::NoSpace,
            short_write: true,
        });
    }

    /// Calls `hook(op, path)` before each call from now on (reads and
    /// length queries included), with no lock of the file system held, so
    /// that a test can hold a call back (block in the hook) while the
    /// engine's other threads go on: to make a race happen in a chosen
    /// order. `path` is the file's current name (empty if it has none), or
    /// for [`Op::Rename`] the source. Replaces any earlier hook.
    pub fn on_call(&self, hook: impl Fn(Op, &Path) + Send + Sync + 'static) {
        *self.hook.write().unwrap_or_else(|p| p.into_inner()) = Some(Hook(Arc::new(hook)));
    }

    /// Removes the hook set by [`SimFs::on_call`].
    pub fn clear_hook(&self) {
        *self.hook.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn current_hook(&self) -> Option<Hook> {
        self.hook.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs the hook, if any, for a call on `path`.
    fn hook(&self, op: Op, path: &Path) {
        if let Some(Hook(h)) = self.current_hook() {
            h(op, path);
        }
    }

    /// Runs the hook, if any, for a call on the file `id`.
    fn file_hook(&self, op: Op, id: u64) {
        let Some(hook) = self.current_hook() else {
            return;
        };
        let path = {
            let st = self.lock();
            st.dirs
                .iter()
                .find_map(|(dir, d)| {
                    d.entries
                        .iter()
                        .find(|&(_, &i)| i == id)
                        .map(|(name, _)| dir.join(name))
                })
                .unwrap_or_default()
        };
        (hook.0)(op, &path);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// From now on, `percent`% of syncs (file or directory) sleep up to
    /// `sync_max` before they take effect, and as many writes up to
    /// `write_max`, the lengths drawn from a generator seeded with `seed`.
    /// A sync's bytes become durable only when its sleep ends (a slow
    /// fdatasync), and a power cut during the sleep makes it fail. The
    /// sleeps happen without the file system's lock, so other threads
    /// go on meanwhile. Zero durations turn the delays off.
    pub fn set_delays(&self, seed: u64, percent: u64, sync_max: Duration, write_max: Duration) {
        let mut st = self.lock();
        st.delays = if sync_max.is_zero() && write_max.is_zero() {
            None
        } else {
            Some(Delays {
                rng: Rng(seed),
                sync_max,
                write_max,
                percent,
            })
        };
    }

    /// Sleeps as [`SimFs::set_delays`] says for a call of kind `op`.
    fn delay(&self, op: Op) {
        let nap = {
            let mut st = self.lock();
            let Some(d) = st.delays.as_mut() else {
                return;
            };
            let max = match op {
                Op::Sync | Op::SyncDir => d.sync_max,
                Op::Write => d.write_max,
                _ => Duration::ZERO,
            };
            let micros = max.as_micros() as u64;
            if micros == 0 || d.rng.next() % 100 >= d.percent {
                return;
            }
            Duration::from_micros(d.rng.next() % (micros + 1))
        };
        if !nap.is_zero() {
            std::thread::sleep(nap);
        }
    }

    /// What a reboot would find if the power were cut now, as a new,
    /// independent file system with its power on: every unsynced change
    /// dropped (as [`CrashMode::DropUnsynced`]). This one is not disturbed;
    /// the log using it goes on. For checking, while a log runs, that what
    /// it acknowledged is durable.
    pub fn durable_image(&self) -> SimFs {
        let st = self.lock();
        let mut files = HashMap::with_capacity(st.files.len());
        for (&id, f) in &st.files {
            files.insert(
                id,
                FileData {
                    data: f.durable.clone(),
                    durable: f.durable.clone(),
                    unsynced: Vec::new(),
                    holes: f.holes.clone(),
                    lost: Vec::new(),
                },
            );
        }
        let dirs = st
            .dirs
            .iter()
            .map(|(path, d)| {
                (
                    path.clone(),
                    DirData {
                        entries: d.durable.clone(),
                        durable: d.durable.clone(),
                    },
                )
            })
            .collect();
        let image = State {
            files,
            dirs,
            next_id: st.next_id,
            file_mode: st.file_mode,
            ..State::default()
        };
        SimFs {
            state: Arc::new(Mutex::new(image)),
            hook: Arc::default(),
        }
    }

    /// Returns the current (written, not necessarily durable) contents of
    /// a file, if it exists.
    pub fn file_contents(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let st = self.lock();
        let id = lookup(&st, path.as_ref()).ok()?;
        Some(st.files.get(&id)?.data.clone())
    }

    /// Replaces a file's contents, written and durable, creating it if
    /// needed (the directory must exist): for planting damage in tests.
    pub fn set_file_contents(&self, path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
        let path = path.as_ref();
        let mut st = self.lock();
        let id = match lookup(&st, path) {
            Ok(id) => id,
            Err(_) => create_entry(&mut st, path, true)?,
        };
        let file = st.files.get_mut(&id).expect("entry points at a file");
        file.data = bytes.to_vec();
        file.durable = bytes.to_vec();
        file.unsynced.clear();
        file.lost.clear();
        Ok(())
    }

    /// Removes a file, durably: for planting damage in tests.
    pub fn delete_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let mut st = self.lock();
        let (dir, name) = split(path)?;
        let d = st.dirs.get_mut(&dir).ok_or_else(|| not_found(path))?;
        d.entries.remove(&name).ok_or_else(|| not_found(path))?;
        d.durable.remove(&name);
        Ok(())
    }

    /// Names of the files in a directory, sorted.
    pub fn list(&self, dir: impl AsRef<Path>) -> Vec<String> {
        let st = self.lock();
        st.dirs
            .get(dir.as_ref())
            .map(|d| d.entries.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Counts a call of kind `op`; fails it if a fault or the power says so.
    /// Returns `Some(half)` for a short write.
    fn enter(&self, st: &mut State, op: Op, generation: u64) -> io::Result<bool> {
        if generation != st.generation || st.powered_off {
            return Err(powered_off());
        }
        let n = st.calls.entry(op).or_insert(0);
        *n += 1;
        let n = *n;
        let hit = st
            .faults
            .iter()
            .find(|f| f.op == op && (f.nth == n || (f.persistent && n > f.nth)))
            .cloned();
        if let Some(f) = hit {
            if f.short_write {
                return Ok(true);
            }
            return Err(errno(f.error));
        }
        if op != Op::Read && op != Op::Open {
            if let Some(limit) = st.power_cut_after {
                if st.mutations >= limit {
                    st.powered_off = true;
                    return Err(powered_off());
                }
            }
            st.mutations += 1;
        }
        Ok(false)
    }
}

mod crash;
mod files;
#[cfg(all(test, not(loom)))]
mod tests;

use crash::{settle_dir, settle_file, Rng};
use files::{create_entry, lookup, split};
