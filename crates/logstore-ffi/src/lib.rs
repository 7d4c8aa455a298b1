//! The C API of logstore: an embedded, durable, append-only log store.
//!
//! This crate builds `liblogstore_ffi.so` and `liblogstore_ffi.a` (installed
//! as `liblogstore.so` and `liblogstore.a`) with the functions declared in
//! `include/logstore.h`, which cbindgen generates from this crate. The
//! header-only C++17 wrapper `include/logstore.hpp` builds on them.
//!
//! Conventions, stated again in the header:
//! - Every fallible function returns a [`logstore_status`]: 0 on success,
//!   a distinct code per error kind otherwise. The message of the last
//!   failure on the calling thread is [`logstore_last_error_message`].
//! - No Rust panic crosses the boundary: one becomes `LOGSTORE_ERR_PANIC`.
//! - Pointers passed in are borrowed for the call only. Records passed out
//!   are owned by the caller and released with [`logstore_record_free`];
//!   handles with [`logstore_free`] and [`logstore_iter_free`].
//! - A log handle may be used from many threads at once; an iterator from
//!   one thread at a time.

#![warn(missing_docs)]
#![allow(non_camel_case_types)]

// cbindgen writes the header in the order of these modules: status codes
// first, then opening, writing, reading, iterators and reports.
mod status;

mod options;

mod log;

mod write;

mod read;

mod record;

mod iter;

mod report;

mod args;
#[cfg(test)]
mod sim_tests;

pub use iter::{
    logstore_iter, logstore_iter_free, logstore_iter_new, logstore_iter_next,
    logstore_iter_position,
};
pub use log::{
    logstore_close, logstore_flush, logstore_free, logstore_log, logstore_open, logstore_refresh,
    logstore_sync, logstore_wait_reclaimed,
};
pub use options::{
    logstore_options, logstore_options_default, LOGSTORE_RECOVERY_STRICT,
    LOGSTORE_RECOVERY_TOLERANT, LOGSTORE_SYNC_ALWAYS, LOGSTORE_SYNC_BYTES, LOGSTORE_SYNC_INTERVAL,
    LOGSTORE_SYNC_NEVER,
};
pub use read::{
    logstore_first_position, logstore_next_position, logstore_read, logstore_replay,
    logstore_replay_fn, logstore_wait_for,
};
pub use record::{logstore_record, logstore_record_free};
pub use report::{
    logstore_log_stats, logstore_recovery_info, logstore_recovery_report, logstore_stats,
    logstore_verify, logstore_verify_report,
};
pub use status::{logstore_last_error_message, logstore_status, logstore_status_name};
pub use write::{
    logstore_append, logstore_append_batch, logstore_slice, logstore_truncate_back,
    logstore_truncate_front,
};

/// The version of this library, e.g. "0.1.0". Static storage: do not free.
#[no_mangle]
pub extern "C" fn logstore_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
