//! Public configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::fs::real::RealFs;
use crate::fs::sim::SimFs;
use crate::fs::Fs;

/// When appended records are made durable (fdatasync'ed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `append` returns only once the record is durable. Concurrent
    /// appenders share syncs (group commit). The default.
    Always,
    /// Durability is left to the operating system (and to explicit
    /// [`crate::Log::sync`] calls): records survive a crash of the process
    /// once written to the OS, but not a power loss.
    Never,
    /// A background thread syncs at this interval; a power loss loses at
    /// most about one interval of appends.
    Interval(Duration),
    /// The append that brings the unsynced bytes to at least this many syncs
    /// them (and waits for it).
    Bytes(u64),
}

/// How recovery treats damage found when opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Damage anywhere but in the unsealed tail is a
    /// [`crate::ErrorKind::Corruption`] error. The default.
    Strict,
    /// The log is cut at the first damage; what was dropped is reported in
    /// [`crate::RecoveryReport`].
    Tolerant,
}

/// Options for [`crate::Log::open`]. Build with the `with`-style methods:
///
/// ```
/// use logstore::{Options, SyncPolicy};
/// let opts = Options::default()
///     .sync_policy(SyncPolicy::Never)
///     .segment_size(16 << 20);
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) create: bool,
    pub(crate) read_only: bool,
    pub(crate) sync_policy: SyncPolicy,
    pub(crate) segment_size: u64,
    pub(crate) max_record_size: usize,
    pub(crate) write_buffer: usize,
    pub(crate) mmap_reads: bool,
    pub(crate) preallocate: bool,
    pub(crate) index_cache_bytes: usize,
    pub(crate) recovery: Recovery,
    pub(crate) background_reclaim: bool,
    pub(crate) file_mode: u32,
    pub(crate) dir_mode: u32,
    pub(crate) fs: Arc<dyn Fs>,
}

/// Largest accepted [`Options::max_record_size`]: the frame's length field
/// keeps its top bit for the batch flag.
pub const MAX_RECORD_SIZE_LIMIT: usize = 1 << 30;

/// Default [`Options::max_record_size`]: 32 MiB.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 32 << 20;

/// Default [`Options::segment_size`]: 64 MiB (see docs/DESIGN.md).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            create: true,
            read_only: false,
            sync_policy: SyncPolicy::Always,
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            write_buffer: 0,
            mmap_reads: false,
            preallocate: true,
            index_cache_bytes: 32 << 20,
            recovery: Recovery::Strict,
            background_reclaim: true,
            file_mode: 0o600,
            dir_mode: 0o700,
            fs: Arc::new(RealFs::new()),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("create", &self.create)
            .field("read_only", &self.read_only)
            .field("sync_policy", &self.sync_policy)
            .field("segment_size", &self.segment_size)
            .field("max_record_size", &self.max_record_size)
            .field("write_buffer", &self.write_buffer)
            .field("mmap_reads", &self.mmap_reads)
            .field("preallocate", &self.preallocate)
            .field("index_cache_bytes", &self.index_cache_bytes)
            .field("recovery", &self.recovery)
            .field("background_reclaim", &self.background_reclaim)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Create the directory and a new log if none exists (default `true`).
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Open without the writer lock, for reading a log that another handle
    /// or process may be writing. Writes fail with
    /// [`crate::ErrorKind::ReadOnly`]; call [`crate::Log::refresh`] (or use
    /// the blocking waits, which refresh) to see new records.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// When records become durable (default [`SyncPolicy::Always`]).
    pub fn sync_policy(mut self, policy: SyncPolicy) -> Self {
        self.sync_policy = policy;
        self
    }

    /// Target segment file size in bytes (default 64 MiB). A segment may
    /// exceed it to hold one large record or batch.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Largest record accepted, in bytes (default 32 MiB, at most 1 GiB).
    /// Also the largest length believed when reading: no read allocates
    /// more. Opening a log that holds a larger record (written with a
    /// larger limit) fails with [`crate::ErrorKind::InvalidArgument`],
    /// naming the record and the limit needed, and changes nothing; so
    /// does reading such a record in a sealed segment (whose records
    /// opening does not read).
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = bytes;
        self
    }

    /// Bytes of small records that may wait in the process before being
    /// written to the operating system (default 0: every append reaches the
    /// OS before it returns). A larger buffer makes non-durable appends much
    /// faster, at a price: a *process* crash loses what is buffered (at most
    /// this many bytes). [`crate::Log::flush`], `sync`, `close` and
    /// dropping the log write it out. Ignored under [`SyncPolicy::Always`],
    /// where group commit does its own batching.
    pub fn write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// Serves [`crate::Log::read`] by copying from memory-mapped segments
    /// instead of a `pread` per record (default `false`). Random reads of
    /// small records from the page cache get about twice as fast
    /// (docs/BENCHMARKS.md, W8). The price is the one every memory-mapped
    /// store pays: a disk error while a mapped page is read in stops the
    /// process with `SIGBUS` instead of returning an [`crate::ErrorKind::Io`]
    /// error. Replay and iteration still read with `pread` in large chunks,
    /// and read-only handles never map (a writer in another process could
    /// shorten a mapped file). Only on the real file system.
    pub fn mmap_reads(mut self, on: bool) -> Self {
        self.mmap_reads = on;
        self
    }

    /// Keep the active segment written with zeros a little past its data
    /// (default `true`; only under a syncing policy, never with
    /// [`SyncPolicy::Never`]), so that a sync after an append overwrites
    /// space the file has instead of growing the file, which costs about
    /// half as much (docs/DESIGN.md, "Preallocation"). The background
    /// thread writes the zeros, at most 1.5 MiB past the data; a roll and
    /// [`crate::Log::close`] cut them off.
    pub fn preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Memory for cached per-segment indexes of sealed segments (default
    /// 32 MiB). Reads of segments whose index is not cached load it.
    pub fn index_cache_bytes(mut self, bytes: usize) -> Self {
        self.index_cache_bytes = bytes;
        self
    }

    /// How damage found at open is treated (default [`Recovery::Strict`]).
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// Release truncated space on a background thread (default `true`), so
    /// `truncate_front` returns as soon as the new first position is
    /// durable. [`crate::Log::wait_reclaimed`] waits for the release. With
    /// `false`, `truncate_front` releases the space before returning.
    pub fn background_reclaim(mut self, background: bool) -> Self {
        self.background_reclaim = background;
        self
    }

    /// Permission bits of created files (default `0o600`).
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode;
        self
    }

    /// Permission bits of a created directory (default `0o700`).
    pub fn dir_mode(mut self, mode: u32) -> Self {
        self.dir_mode = mode;
        self
    }

    /// Use a simulated file system instead of the real one (for tests of
    /// crash and failure handling; see [`crate::sim`]).
    pub fn simulated(mut self, fs: &SimFs) -> Self {
        self.fs = Arc::new(fs.clone());
        self
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        if self.max_record_size == 0 || self.max_record_size > MAX_RECORD_SIZE_LIMIT {
            return Err(crate::Error::invalid(format!(
                "max_record_size must be between 1 and {MAX_RECORD_SIZE_LIMIT} bytes, not {}",
                self.max_record_size
            )));
        }
        if self.segment_size < 4096 || self.segment_size > (1 << 40) {
            return Err(crate::Error::invalid(format!(
                "segment_size must be between 4 KiB and 1 TiB, not {}",
                self.segment_size
            )));
        }
        if let SyncPolicy::Interval(d) = self.sync_policy {
            if d.is_zero() {
                return Err(crate::Error::invalid(
                    "SyncPolicy::Interval must be non-zero",
                ));
            }
        }
        Ok(())
    }
}
