//! The one public error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, for callers to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system call failed.
    Io,
    /// Bytes on disk are not what logstore wrote: a bad checksum, length or
    /// header, a foreign or missing segment.
    Corruption,
    /// The caller passed something unacceptable (an empty or oversize
    /// record, a bad option); nothing was changed.
    InvalidArgument,
    /// A position outside the records the log holds.
    OutOfRange,
    /// The position was dropped by `truncate_front` (possibly while a reader
    /// was on its way to it).
    Truncated,
    /// Another handle (in this or another process) holds the directory's
    /// writer lock.
    Locked,
    /// An earlier write or sync failed; the log refuses writes until reopened.
    Poisoned,
    /// The log was closed.
    Closed,
    /// The handle was opened read-only.
    ReadOnly,
}

/// The error type of every fallible logstore call.
///
/// Its `Display` names the file or position concerned. It converts into
/// [`std::io::Error`] for callers that deal in those.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    path: Option<PathBuf>,
    offset: Option<u64>,
    position: Option<u64>,
    source: Option<io::Error>,
}

/// `Result` with logstore's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            path: None,
            offset: None,
            position: None,
            source: None,
        }
    }

    /// An I/O failure of `op` on `path`.
    pub(crate) fn io(op: &str, path: &Path, source: io::Error) -> Self {
        let mut e = Error::new(ErrorKind::Io, format!("{op} failed"));
        e.path = Some(path.to_path_buf());
        e.source = Some(source);
        e
    }

    /// A state of the files that stops an operation, though no call
    /// failed: `path` is missing or not ready, `what` says how. An I/O
    /// error whose cause has `kind` (say, `NotFound`) and no OS error.
    pub(crate) fn io_state(what: &str, path: &Path, kind: io::ErrorKind) -> Self {
        let mut e = Error::new(ErrorKind::Io, what);
        e.path = Some(path.to_path_buf());
        e.source = Some(io::Error::from(kind));
        e
    }

    /// Bytes at `offset` of `path` are not what logstore wrote; `what`
    /// says why (a string, or a typed reason such as
    /// [`crate::frame::FrameError`]).
    pub(crate) fn corruption(path: &Path, offset: u64, what: impl fmt::Display) -> Self {
        let mut e = Error::new(ErrorKind::Corruption, what.to_string());
        e.path = Some(path.to_path_buf());
        e.offset = Some(offset);
        e
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, what)
    }

    pub(crate) fn at_position(mut self, position: u64) -> Self {
        self.position = Some(position);
        self
    }

    pub(crate) fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub(crate) fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file concerned, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The byte offset within [`Error::path`] concerned (for corruption).
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The record position concerned, if any.
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    /// The underlying operating-system error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }

    /// The message without the path, offset or cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(path) = &self.path {
            write!(f, ": {}", path.display())?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        if let Some(position) = self.position {
            write!(f, " (position {position})")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::Io => e.source.as_ref().map_or(io::ErrorKind::Other, |s| s.kind()),
            ErrorKind::Corruption => io::ErrorKind::InvalidData,
            ErrorKind::InvalidArgument => io::ErrorKind::InvalidInput,
            ErrorKind::OutOfRange | ErrorKind::Truncated => io::ErrorKind::NotFound,
            ErrorKind::Locked => io::ErrorKind::WouldBlock,
            ErrorKind::ReadOnly => io::ErrorKind::PermissionDenied,
            ErrorKind::Poisoned | ErrorKind::Closed => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_offset_and_cause() {
        let e = Error::corruption(Path::new("d/00000000000000000000.seg"), 80, "bad checksum");
        assert_eq!(
            e.to_string(),
            "bad checksum: d/00000000000000000000.seg at byte 80"
        );
        let e = Error::io("fdatasync", Path::new("x"), io::Error::other("boom"));
        assert_eq!(e.to_string(), "fdatasync failed: x: boom");
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
