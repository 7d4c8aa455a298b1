"""Type hints of the native part of logstore (see the docstrings at run time)."""

import asyncio
import os
import sys
from datetime import timedelta
from types import TracebackType
from typing import Callable, Iterable, Iterator, List, Literal, Optional, Tuple, Type, Union, overload

from ._types import MetaRepair, RecoveryReport, Stats, VerifyReport

# A record: anything with the buffer protocol (bytes, bytearray,
# memoryview, array...).
if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    Buffer = Union[bytes, bytearray, memoryview]

Seconds = Union[int, float, timedelta]
"""A duration: seconds or a ``datetime.timedelta``."""

DEFAULT_SEGMENT_SIZE: int
DEFAULT_MAX_RECORD_SIZE: int
MAX_RECORD_SIZE_LIMIT: int

class LogIterator(Iterator[Tuple[int, bytes]]):
    """An iterator of ``(position, record)`` over a log, from ``Log.iter``."""

    @property
    def position(self) -> int:
        """The position the next record will have."""
    @property
    def follow(self) -> bool:
        """Whether this iterator waits for appends at the end of the log."""
    def __iter__(self) -> "LogIterator": ...
    def __next__(self) -> Tuple[int, bytes]: ...
    def next_timeout(self, timeout: Optional[Seconds] = None) -> Optional[Tuple[int, bytes]]:
        """The next record, waiting up to ``timeout`` seconds; ``None`` if
        the time ran out."""

class Log:
    """An open log: an ordered sequence of records, each at a position."""

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        sync: Union[Literal["always", "never"], Seconds, None] = "always",
        *,
        create: bool = True,
        read_only: bool = False,
        segment_size: Optional[int] = None,
        max_record_size: Optional[int] = None,
        write_buffer: Optional[int] = None,
        mmap_reads: bool = False,
        preallocate: bool = True,
        recovery: Literal["strict", "tolerant"] = "strict",
        background_reclaim: bool = True,
        index_cache_bytes: Optional[int] = None,
    ) -> None: ...
    @property
    def path(self) -> str:
        """The log's directory."""
    @property
    def read_only(self) -> bool:
        """Whether the handle was opened read-only."""
    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
    @property
    def first_position(self) -> int:
        """The oldest position kept."""
    @property
    def next_position(self) -> int:
        """The position the next append will get."""
    @property
    def durable_position(self) -> int:
        """Every position below this one is durable."""
    @property
    def recovery_report(self) -> RecoveryReport:
        """What opening the log found and did."""
    def append(self, data: Buffer) -> int:
        """Appends one record; returns its position."""
    def append_batch(self, records: Iterable[Buffer]) -> range:
        """Appends records atomically; returns their positions."""
    def submit(self, data: Buffer) -> int:
        """Appends one record without waiting for it to be durable."""
    def submit_batch(self, records: Iterable[Buffer]) -> range:
        """Appends records atomically without waiting for them to be durable."""
    def submit_batch_then(
        self,
        records: Iterable[Buffer],
        callback: Callable[[Optional[range], Optional[BaseException]], object],
    ) -> range:
        """Appends records atomically; calls ``callback(range, None)`` once
        they are durable, or ``callback(None, exception)``."""
    def wait_durable(self, position: int, timeout: Optional[Seconds] = None) -> bool:
        """Blocks until ``position`` is durable or ``timeout`` passes."""
    def durable_async(self, position: int) -> "asyncio.Future[None]":
        """An asyncio future completed once ``position`` is durable."""
    def read(self, position: int) -> bytes:
        """The record at ``position``."""
    @overload
    def __getitem__(self, key: int) -> bytes: ...
    @overload
    def __getitem__(self, key: slice) -> List[bytes]: ...
    def truncate_front(self, position: int) -> None:
        """Drops every record before ``position``, durably."""
    def truncate_back(self, position: int) -> None:
        """Drops the records at ``position`` and after, durably."""
    def iter(self, from_: Optional[int] = None, *, follow: bool = False) -> LogIterator:
        """An iterator of ``(position, record)`` from ``from_`` on."""
    def __iter__(self) -> LogIterator: ...
    def replay(
        self, from_: Optional[int], fn: Callable[[int, bytes], Optional[bool]]
    ) -> int:
        """Calls ``fn(position, record)`` for each record until it returns
        ``False``; returns how many it was passed."""
    def wait_for(self, position: int, timeout: Optional[Seconds] = None) -> bool:
        """Blocks until a record exists at ``position`` or ``timeout`` passes."""
    def sync(self) -> None:
        """Makes every record appended so far durable."""
    def flush(self) -> None:
        """Writes records buffered in the process to the operating system."""
    def refresh(self) -> None:
        """Lets a read-only handle see the writer's changes."""
    def wait_reclaimed(self) -> None:
        """Waits until truncated space is given back to the file system."""
    def stats(self) -> Stats:
        """Figures about the log and its files."""
    def verify(self) -> VerifyReport:
        """Checks every kept record; returns what was found."""
    def close(self) -> None:
        """Syncs and closes the log; raises if the final sync fails."""
    def __enter__(self) -> "Log": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

def repair_meta(path: Union[str, "os.PathLike[str]"], write: bool = False) -> Optional[MetaRepair]:
    """Rebuilds a damaged or missing meta file (with ``write``)."""
