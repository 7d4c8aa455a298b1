"""The plain values logstore returns: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = [
    "Stats",
    "SegmentStats",
    "VerifyReport",
    "Problem",
    "RecoveryReport",
    "Cut",
    "MetaRepair",
]


@dataclass(frozen=True)
class SegmentStats:
    """One segment file's figures, from :meth:`logstore.Log.stats`.

    Attributes:
        path: The segment file.
        first_position: First kept position in it.
        end_position: Position after its last record.
        retained_bytes: Bytes of its kept records' frames.
        disk_bytes: Bytes the file (and its index, if any) occupy on disk.
    """

    path: str
    first_position: int
    end_position: int
    retained_bytes: int
    disk_bytes: int


@dataclass(frozen=True)
class Stats:
    """Figures about a log, from :meth:`logstore.Log.stats`.

    Attributes:
        first_position: The oldest position kept.
        next_position: The position the next append will get.
        records: Records kept (``next_position - first_position``).
        retained_bytes: Bytes of the kept records' frames (headers included).
        disk_bytes: Bytes the log's files occupy on disk (allocated blocks).
        segments: One entry per segment file, oldest first.
    """

    first_position: int
    next_position: int
    records: int
    retained_bytes: int
    disk_bytes: int
    segments: Tuple[SegmentStats, ...]


@dataclass(frozen=True)
class Problem:
    """One problem found by :meth:`logstore.Log.verify`.

    Attributes:
        path: The damaged file.
        offset: Byte offset of the damage.
        what: What is wrong.
    """

    path: str
    offset: int
    what: str


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`logstore.Log.verify` found.

    Attributes:
        segments: Segments read.
        records: Records whose checksum, length and position were checked.
        bytes: Bytes read.
        problems: Each problem found, in file order.
    """

    segments: int
    records: int
    bytes: int
    problems: Tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


@dataclass(frozen=True)
class Cut:
    """Where a log was cut when it was opened, and what was lost.

    Attributes:
        segment: The segment file where the cut was made.
        offset: Byte offset of the cut in that file.
        from_position: The first position no longer in the log.
        bytes: Bytes removed, in that segment and any later ones.
        removed_segments: Later segment files removed whole.
        reason: What was wrong at the cut.
    """

    segment: str
    offset: int
    from_position: int
    bytes: int
    removed_segments: Tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class RecoveryReport:
    """What opening a log found and did (:attr:`logstore.Log.recovery_report`).

    Attributes:
        torn_tail: An incomplete tail that was cut off (the expected result
            of a crash during appends that were not yet durable), or ``None``.
        dropped: With ``recovery="tolerant"``: damage that was cut away with
            everything after it, or ``None``.
        unknown_files: Files in the directory that are not logstore's.
        removed_segments: Segments removed because they held only
            truncated records.
        rebuilt_indexes: Segment indexes that were missing or damaged and
            were rebuilt.
    """

    torn_tail: Optional[Cut]
    dropped: Optional[Cut]
    unknown_files: Tuple[str, ...]
    removed_segments: Tuple[str, ...]
    rebuilt_indexes: Tuple[str, ...]

    @property
    def clean(self) -> bool:
        """Whether opening found nothing to cut, remove or rebuild."""
        return (
            self.torn_tail is None
            and self.dropped is None
            and not self.removed_segments
            and not self.rebuilt_indexes
        )


@dataclass(frozen=True)
class MetaRepair:
    """What :func:`logstore.repair_meta` found and wrote.

    Attributes:
        path: The meta file.
        problem: What was wrong with it.
        log_id: The log's identity, from the segment headers.
        first_position: The first position the rebuilt file names.
        first_segment: The segment holding it, or ``None``.
        first_offset: Its byte offset in that segment.
        written: Whether the file was written (else only described).
    """

    path: str
    problem: str
    log_id: str
    first_position: int
    first_segment: Optional[str]
    first_offset: int
    written: bool


# Shown (and pickled) under the package that exports them.
for _name in __all__:
    globals()[_name].__module__ = "logstore"
del _name
