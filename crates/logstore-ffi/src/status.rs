//! Status codes, the per-thread last-error message, and the guard that
//! keeps Rust panics from crossing into C.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use logstore::{Error, ErrorKind};

/// What a logstore function returns: `LOGSTORE_OK` (0) on success, else
/// the kind of error. On an error, `logstore_last_error_message()` gives a
/// description on the same thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum logstore_status {
    /// Success.
    LOGSTORE_OK = 0,
    /// An operating-system call failed. Writes may have poisoned the log.
    LOGSTORE_ERR_IO = 1,
    /// Bytes on disk are not what logstore wrote.
    LOGSTORE_ERR_CORRUPTION = 2,
    /// A bad argument: a null pointer, an empty or oversize record, a bad
    /// option. Nothing was changed.
    LOGSTORE_ERR_INVALID_ARGUMENT = 3,
    /// A position at or after the next position (or, for truncate_back,
    /// before the first position).
    LOGSTORE_ERR_OUT_OF_RANGE = 4,
    /// A position before the first position: dropped by truncate_front.
    LOGSTORE_ERR_TRUNCATED = 5,
    /// Another handle, in this or another process, holds the directory's
    /// writer lock.
    LOGSTORE_ERR_LOCKED = 6,
    /// An earlier write or sync failed; writes fail until the log is
    /// reopened.
    LOGSTORE_ERR_POISONED = 7,
    /// The log was closed with logstore_close().
    LOGSTORE_ERR_CLOSED = 8,
    /// The log was opened read-only.
    LOGSTORE_ERR_READ_ONLY = 9,
    /// A bug inside logstore (a Rust panic, caught at the boundary). The
    /// handle may still be used, but the failed call's effect is unknown.
    LOGSTORE_ERR_PANIC = 10,
    /// An error kind newer than this header.
    LOGSTORE_ERR_UNKNOWN = 11,
}

pub(crate) use logstore_status::*;

impl From<ErrorKind> for logstore_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Io => LOGSTORE_ERR_IO,
            ErrorKind::Corruption => LOGSTORE_ERR_CORRUPTION,
            ErrorKind::InvalidArgument => LOGSTORE_ERR_INVALID_ARGUMENT,
            ErrorKind::OutOfRange => LOGSTORE_ERR_OUT_OF_RANGE,
            ErrorKind::Truncated => LOGSTORE_ERR_TRUNCATED,
            ErrorKind::Locked => LOGSTORE_ERR_LOCKED,
            ErrorKind::Poisoned => LOGSTORE_ERR_POISONED,
            ErrorKind::Closed => LOGSTORE_ERR_CLOSED,
            ErrorKind::ReadOnly => LOGSTORE_ERR_READ_ONLY,
            _ => LOGSTORE_ERR_UNKNOWN,
        }
    }
}

/// A failure on its way to C: the status and the message to keep.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: logstore_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure {
            status: LOGSTORE_ERR_INVALID_ARGUMENT,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            status: e.kind().into(),
            message: e.to_string(),
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message holding a NUL (from a path, say) would be cut short in C;
    // show it instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Runs the body of an exported function: converts its error to a status
/// and records the message, and turns a panic into `LOGSTORE_ERR_PANIC` so
/// that no unwinding reaches the C caller.
pub(crate) fn guard(body: impl FnOnce() -> FfiResult) -> logstore_status {
    // The handle's state is protected by logstore's own locks, which
    // recover from poisoning, so observing it after a panic is sound.
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let failure = match outcome {
        Ok(Ok(())) => return LOGSTORE_OK,
        Ok(Err(failure)) => failure,
        Err(payload) => Failure {
            status: LOGSTORE_ERR_PANIC,
            message: panic_message(payload.as_ref()),
        },
    };
    set_last_error(&failure.message);
    failure.status
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown cause");
    format!("internal error in logstore (a bug): {what}")
}

/// The message of the most recent failed logstore call on the calling
/// thread, or "" if none has failed. Successful calls leave it unchanged.
///
/// The string is owned by logstore: do not free it. It stays valid until
/// the next failing logstore call on the same thread (or the thread's end).
#[no_mangle]
pub extern "C" fn logstore_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|last| last.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// A constant name for a status code, such as "LOGSTORE_ERR_LOCKED";
/// "LOGSTORE_ERR_UNKNOWN" for a value that is no status. Static storage:
/// do not free it.
#[no_mangle]
pub extern "C" fn logstore_status_name(status: i32) -> *const c_char {
    status_name(status).as_ptr()
}

fn status_name(status: i32) -> &'static CStr {
    match status {
        0 => c"LOGSTORE_OK",
        1 => c"LOGSTORE_ERR_IO",
        2 => c"LOGSTORE_ERR_CORRUPTION",
        3 => c"LOGSTORE_ERR_INVALID_ARGUMENT",
        4 => c"LOGSTORE_ERR_OUT_OF_RANGE",
        5 => c"LOGSTORE_ERR_TRUNCATED",
        6 => c"LOGSTORE_ERR_LOCKED",
        7 => c"LOGSTORE_ERR_POISONED",
        8 => c"LOGSTORE_ERR_CLOSED",
        9 => c"LOGSTORE_ERR_READ_ONLY",
        10 => c"LOGSTORE_ERR_PANIC",
        _ => c"LOGSTORE_ERR_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_message() -> String {
        // SAFETY: the pointer is to this thread's NUL-terminated message,
        // valid until the next failing call on this thread.
        unsafe { CStr::from_ptr(logstore_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom {}", 7));
        assert_eq!(status, LOGSTORE_ERR_PANIC);
        assert_eq!(last_message(), "internal error in logstore (a bug): boom 7");
    }

    #[test]
    fn success_keeps_the_previous_message() {
        assert_eq!(last_message(), "");
        assert_eq!(
            guard(|| Err(Failure::invalid("bad\0thing"))),
            LOGSTORE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(guard(|| Ok(())), LOGSTORE_OK);
        assert_eq!(last_message(), "bad\\0thing");
    }

    #[test]
    fn every_status_has_its_own_name() {
        let statuses = [
            LOGSTORE_OK,
            LOGSTORE_ERR_IO,
            LOGSTORE_ERR_CORRUPTION,
            LOGSTORE_ERR_INVALID_ARGUMENT,
            LOGSTORE_ERR_OUT_OF_RANGE,
            LOGSTORE_ERR_TRUNCATED,
            LOGSTORE_ERR_LOCKED,
            LOGSTORE_ERR_POISONED,
            LOGSTORE_ERR_CLOSED,
            LOGSTORE_ERR_READ_ONLY,
            LOGSTORE_ERR_PANIC,
            LOGSTORE_ERR_UNKNOWN,
        ];
        for s in statuses {
            assert_eq!(status_name(s as i32).to_str().unwrap(), format!("{s:?}"));
        }
        assert_eq!(status_name(-1), c"LOGSTORE_ERR_UNKNOWN");
    }

    #[test]
    fn error_kinds_map_to_distinct_statuses() {
        let kinds = [
            ErrorKind::Io,
            ErrorKind::Corruption,
            ErrorKind::InvalidArgument,
            ErrorKind::OutOfRange,
            ErrorKind::Truncated,
            ErrorKind::Locked,
            ErrorKind::Poisoned,
            ErrorKind::Closed,
            ErrorKind::ReadOnly,
        ];
        let mut codes: Vec<i32> = kinds
            .iter()
            .map(|&k| logstore_status::from(k) as i32)
            .collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes, (1..=9).collect::<Vec<_>>());
    }
}
