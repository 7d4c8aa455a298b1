//! The C options struct and its translation to [`logstore::Options`].

use std::time::Duration;

use logstore::{Options, Recovery, SyncPolicy};

use crate::status::{Failure, FfiResult};

/// `sync_policy`: append returns once the record is durable (the default).
pub const LOGSTORE_SYNC_ALWAYS: u32 = 0;
/// `sync_policy`: durability is left to the OS and to logstore_sync().
pub const LOGSTORE_SYNC_NEVER: u32 = 1;
/// `sync_policy`: a background thread syncs every `sync_interval_ms`.
pub const LOGSTORE_SYNC_INTERVAL: u32 = 2;
/// `sync_policy`: an append that brings the unsynced bytes to at least
/// `sync_bytes` syncs them.
pub const LOGSTORE_SYNC_BYTES: u32 = 3;

/// `recovery`: damage outside the unsealed tail fails the open (default).
pub const LOGSTORE_RECOVERY_STRICT: u32 = 0;
/// `recovery`: the log is cut at the first damage found when opening.
pub const LOGSTORE_RECOVERY_TOLERANT: u32 = 1;

/// Options for logstore_open(). Start from logstore_options_default() and
/// change the fields you need; unknown enum values are rejected with
/// `LOGSTORE_ERR_INVALID_ARGUMENT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct logstore_options {
    /// Create the directory and a new log if none exists (default true).
    pub create: bool,
    /// Open without the writer lock, for reading a log that another handle
    /// may be writing; writes fail with `LOGSTORE_ERR_READ_ONLY`
    /// (default false).
    pub read_only: bool,
    /// One of the `LOGSTORE_SYNC_*` values (default `LOGSTORE_SYNC_ALWAYS`).
    pub sync_policy: u32,
    /// Milliseconds between syncs under `LOGSTORE_SYNC_INTERVAL` (> 0).
    pub sync_interval_ms: u64,
    /// Unsynced bytes that trigger a sync under `LOGSTORE_SYNC_BYTES`.
    pub sync_bytes: u64,
    /// Target segment file size in bytes (default 64 MiB, 4 KiB to 1 TiB).
    pub segment_size: u64,
    /// Largest record accepted, in bytes (default 32 MiB, at most 1 GiB).
    pub max_record_size: u64,
    /// Bytes of small records that may wait in the process before reaching
    /// the OS (default 0). Ignored under `LOGSTORE_SYNC_ALWAYS`.
    pub write_buffer: u64,
    /// One of the `LOGSTORE_RECOVERY_*` values (default strict).
    pub recovery: u32,
}

/// The default options: create if missing, read-write, sync always,
/// 64 MiB segments, 32 MiB records, strict recovery.
#[no_mangle]
pub extern "C" fn logstore_options_default() -> logstore_options {
    logstore_options {
        create: true,
        read_only: false,
        sync_policy: LOGSTORE_SYNC_ALWAYS,
        sync_interval_ms: 1000,
        sync_bytes: 1 << 20,
        segment_size: logstore::DEFAULT_SEGMENT_SIZE,
        max_record_size: logstore::DEFAULT_MAX_RECORD_SIZE as u64,
        write_buffer: 0,
        recovery: LOGSTORE_RECOVERY_STRICT,
    }
}

impl logstore_options {
    /// The Rust options these describe; ranges are checked by
    /// [`logstore::Log::open`].
    pub(crate) fn to_options(self) -> FfiResult<Options> {
        let sync_policy = match self.sync_policy {
            LOGSTORE_SYNC_ALWAYS => SyncPolicy::Always,
            LOGSTORE_SYNC_NEVER => SyncPolicy::Never,
            LOGSTORE_SYNC_INTERVAL => {
                SyncPolicy::Interval(Duration::from_millis(self.sync_interval_ms))
            }
            LOGSTORE_SYNC_BYTES => SyncPolicy::Bytes(self.sync_bytes),
            other => return Err(Failure::invalid(format!("unknown sync_policy {other}"))),
        };
        let recovery = match self.recovery {
            LOGSTORE_RECOVERY_STRICT => Recovery::Strict,
            LOGSTORE_RECOVERY_TOLERANT => Recovery::Tolerant,
            other => return Err(Failure::invalid(format!("unknown recovery {other}"))),
        };
        Ok(Options::default()
            .create(self.create)
            .read_only(self.read_only)
            .sync_policy(sync_policy)
            .segment_size(self.segment_size)
            .max_record_size(to_usize(self.max_record_size, "max_record_size")?)
            .write_buffer(to_usize(self.write_buffer, "write_buffer")?)
            .recovery(recovery))
    }
}

fn to_usize(value: u64, what: &str) -> FfiResult<usize> {
    usize::try_from(value).map_err(|_| Failure::invalid(format!("{what} {value} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_rust_defaults() {
        let rust = format!("{:?}", Options::default());
        let ours = format!("{:?}", logstore_options_default().to_options().unwrap());
        assert_eq!(ours, rust);
    }

    #[test]
    fn unknown_enum_values_are_invalid_arguments() {
        let mut o = logstore_options_default();
        o.sync_policy = 4;
        let e = o.to_options().unwrap_err();
        assert_eq!(e.message, "unknown sync_policy 4");
        let mut o = logstore_options_default();
        o.recovery = 9;
        assert_eq!(o.to_options().unwrap_err().message, "unknown recovery 9");
    }

    #[test]
    fn each_policy_is_translated() {
        let mut o = logstore_options_default();
        o.sync_policy = LOGSTORE_SYNC_INTERVAL;
        o.sync_interval_ms = 250;
        let text = format!("{:?}", o.to_options().unwrap());
        assert!(text.contains("Interval(250ms)"), "{text}");
        o.sync_policy = LOGSTORE_SYNC_BYTES;
        o.sync_bytes = 4096;
        let text = format!("{:?}", o.to_options().unwrap());
        assert!(text.contains("Bytes(4096)"), "{text}");
    }
}
