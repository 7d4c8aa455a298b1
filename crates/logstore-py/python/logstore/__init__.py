"""logstore: an embedded, durable, append-only log store.

A :class:`Log` is an ordered sequence of records (non-empty byte strings),
each at an integer *position*, given in increasing order, that never
changes while its record is in the log::

    import logstore

    with logstore.Log("events") as log:
        first = log.append(b"hello")              # 0
        batch = log.append_batch([b"a", b"b"])    # range(1, 3), atomic
        assert log[1] == b"a" and log[1:3] == [b"a", b"b"]
        log.truncate_front(1)                     # drop position 0
        for position, record in log.iter():
            print(position, record)

With ``sync="always"`` (the default) an append returns once its record is
on disk; threads appending at once share the syncs. Errors are subclasses
of :class:`Error`, one per kind. ``python -m logstore tour DIR`` shows the
rest.
"""

from ._errors import (
    ClosedError,
    CorruptionError,
    Error,
    InternalError,
    InvalidArgumentError,
    IoError,
    LockedError,
    OutOfRangeError,
    PoisonedError,
    ReadOnlyError,
    TruncatedError,
)
from ._native import (
    DEFAULT_MAX_RECORD_SIZE,
    DEFAULT_SEGMENT_SIZE,
    MAX_RECORD_SIZE_LIMIT,
    Log,
    LogIterator,
    repair_meta,
)
from ._types import (
    Cut,
    MetaRepair,
    Problem,
    RecoveryReport,
    SegmentStats,
    Stats,
    VerifyReport,
)

__version__ = "0.1.0"

__all__ = [
    "Log",
    "LogIterator",
    "repair_meta",
    "DEFAULT_MAX_RECORD_SIZE",
    "DEFAULT_SEGMENT_SIZE",
    "MAX_RECORD_SIZE_LIMIT",
    "Stats",
    "SegmentStats",
    "VerifyReport",
    "Problem",
    "RecoveryReport",
    "Cut",
    "MetaRepair",
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
