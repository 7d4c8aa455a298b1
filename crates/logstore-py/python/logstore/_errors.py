"""The exceptions logstore raises: one class per kind of error.

Every class derives from :class:`Error`, which carries what the engine
knows about the failure: the file (``path``), the byte offset in it
(``offset``) and the record position (``position``) concerned, each
``None`` when it does not apply. Where Python has a habit, the class also
derives from the built-in exception that code already catches:
:class:`InvalidArgumentError` and :class:`ClosedError` are
:class:`ValueError`, :class:`OutOfRangeError` and :class:`TruncatedError`
are :class:`IndexError`, :class:`IoError` is :class:`OSError` (with
``errno`` set), and :class:`ReadOnlyError` is :class:`PermissionError`.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "Error",
    "IoError",
    "CorruptionError",
    "InvalidArgumentError",
    "OutOfRangeError",
    "TruncatedError",
    "LockedError",
    "PoisonedError",
    "ClosedError",
    "ReadOnlyError",
    "InternalError",
]


class Error(Exception):
    """Base class of every logstore error.

    Attributes:
        message: What went wrong, without the path, offset or cause.
        kind: The engine's name for the kind of error (``"Corruption"``...).
        path: The file or directory concerned, or ``None``.
        offset: The byte offset within ``path`` concerned, or ``None``.
        position: The record position concerned, or ``None``.
    """

    kind: str = "Error"

    def __init__(
        self,
        text: str,
        *,
        message: Optional[str] = None,
        path: Optional[str] = None,
        offset: Optional[int] = None,
        position: Optional[int] = None,
    ) -> None:
        super().__init__(text)
        self.message: str = text if message is None else message
        self.path: Optional[str] = path
        self.offset: Optional[int] = offset
        self.position: Optional[int] = position

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message


class IoError(Error, OSError):
    """An operating-system call failed; ``errno`` and ``filename`` are set
    when known. After a failed write or sync the log is poisoned."""

    kind = "Io"

    def __str__(self) -> str:
        return Error.__str__(self)


class CorruptionError(Error):
    """Bytes on disk are not what logstore wrote (bad checksum, length or
    header; a foreign or missing segment). ``path`` and ``offset`` say where."""

    kind = "Corruption"


class InvalidArgumentError(Error, ValueError):
    """The caller passed something unacceptable (an empty or oversize
    record, a bad option, a negative position); nothing was changed."""

    kind = "InvalidArgument"


class OutOfRangeError(Error, IndexError):
    """A position outside the records the log holds."""

    kind = "OutOfRange"


class TruncatedError(Error, IndexError):
    """The position was dropped by ``truncate_front``."""

    kind = "Truncated"


class LockedError(Error):
    """Another handle, in this or another process, holds the directory's
    writer lock."""

    kind = "Locked"


class PoisonedError(Error):
    """An earlier write or sync failed; the log refuses writes until it is
    reopened."""

    kind = "Poisoned"


class ClosedError(Error, ValueError):
    """The log was closed (like I/O on a closed file, a ``ValueError``)."""

    kind = "Closed"


class ReadOnlyError(Error, PermissionError):
    """A write on a handle opened with ``read_only=True``."""

    kind = "ReadOnly"

    def __str__(self) -> str:
        return Error.__str__(self)


class InternalError(Error):
    """A bug in logstore itself (an internal panic, caught before it could
    reach Python). Please report it."""

    kind = "Internal"


# Shown (and pickled) under the package that exports them.
for _name in __all__:
    globals()[_name].__module__ = "logstore"
del _name
