//! Memory maps of segment files for point reads ([`crate::Options::mmap_reads`]).
//!
//! The only `unsafe` of the file layer: mapping, unmapping, and copying out
//! of a map. What makes the copies safe is kept here too (see `MapState`).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

/// A segment's memory map for point reads.
///
/// The one danger of a map is touching a page past the end of the file
/// (`SIGBUS`). So a read copies from the map only below `known_len`, the
/// bytes known to be in the file (its length when mapped, raised by each
/// write), and while holding `map` for reading; `set_len`, the only call
/// that shortens a file (another process cannot: the log's directory is
/// locked), takes `map` for writing, unmaps, and then cuts.
#[derive(Debug)]
pub(crate) struct MapState {
    known_len: AtomicU64,
    reserve: u64,
    map: RwLock<Option<Mapping>>,
    /// Set by [`MapState::unmap`]: never map again.
    closed: AtomicBool,
}

/// A read-only shared mapping of the first `len` bytes of a file.
#[derive(Debug)]
struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only memory owned by this value; reading it
// from any thread is as safe as reading a `&[u8]`, and it is unmapped
// once, in `drop`.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &File, len: usize) -> io::Result<Mapping> {
        use rustix::mm::{mmap, MapFlags, ProtFlags};
        // SAFETY: a fresh mapping (null address hint) of an open file
        // descriptor, read-only and shared: it aliases no Rust memory.
        // Bytes past the end of the file are never read (see `MapState`).
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                0,
            )
        }?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are those `mmap` returned, and no slice
        // of the mapping outlives the read guard that `MapState` hands out.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

impl MapState {
    pub(crate) fn new(len: u64, reserve: u64) -> MapState {
        MapState {
            known_len: AtomicU64::new(len),
            reserve,
            map: RwLock::new(None),
            closed: AtomicBool::new(false),
        }
    }

    /// Records that the file now holds at least `end` bytes.
    pub(crate) fn wrote(&self, end: u64) {
        if !self.closed.load(Ordering::Acquire) {
            self.known_len.fetch_max(end, Ordering::AcqRel);
        }
    }

    /// Cuts (or extends) the file to `len`, unmapping it first: no read may
    /// copy from the map while the file is cut under it.
    pub(crate) fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        let mut guard = self.map.write().unwrap_or_else(|p| p.into_inner());
        *guard = None;
        self.known_len.store(0, Ordering::Release);
        file.set_len(len)?;
        if !self.closed.load(Ordering::Acquire) {
            self.known_len.store(len, Ordering::Release);
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes at `offset` from the map; `false` when the
    /// map cannot serve them (past the known length, or no map).
    pub(crate) fn copy(&self, file: &File, buf: &mut [u8], offset: u64) -> bool {
        let Some(end) = offset.checked_add(buf.len() as u64) else {
            return false;
        };
        for _ in 0..2 {
            {
                let guard = self.map.read().unwrap_or_else(|p| p.into_inner());
                // Checked under the guard: `set_len` lowers `known_len`
                // under the write lock, so it cannot drop below `end`
                // until this copy is done.
                if end > self.known_len.load(Ordering::Acquire) {
                    return false;
                }
                if let Some(m) = guard.as_ref().filter(|m| end <= m.len as u64) {
                    // SAFETY: `[offset, end)` lies inside the mapping and
                    // below `known_len`, so inside the file, which cannot
                    // shrink while this read guard is held. The bytes are
                    // copied through raw pointers (no `&[u8]` is formed
                    // over memory a concurrent write may change), and the
                    // caller checks the record's CRC.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            (m.ptr as *const u8).add(offset as usize),
                            buf.as_mut_ptr(),
                            buf.len(),
                        );
                    }
                    return true;
                }
            }
            // No map yet, or the file grew past it: map again, covering
            // the reserve, so that appends do not force a new map each time.
            let mut guard = self.map.write().unwrap_or_else(|p| p.into_inner());
            let known = self.known_len.load(Ordering::Acquire);
            if end > known {
                return false;
            }
            if guard.as_ref().is_none_or(|m| end > m.len as u64) {
                *guard = None;
                match Mapping::new(file, known.max(self.reserve) as usize) {
                    Ok(m) => *guard = Some(m),
                    Err(_) => return false,
                }
            }
        }
        false
    }

    /// Unmaps the file for good: later reads use `pread`. Called when the
    /// log is closed, since its directory lock then goes, and with it the
    /// guarantee that no other writer shortens the file.
    pub(crate) fn unmap(&self) {
        let mut guard = self.map.write().unwrap_or_else(|p| p.into_inner());
        *guard = None;
        self.known_len.store(0, Ordering::Release);
        self.closed.store(true, Ordering::Release);
    }
}
