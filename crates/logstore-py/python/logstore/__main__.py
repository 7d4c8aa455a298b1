"""``python -m logstore tour DIR``: a short tour of logstore from Python.

``python -m logstore bench`` runs the benchmark (see ``logstore.bench``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import List, Optional, Sequence

from . import Log, TruncatedError

THREADS = 4
SMALL_PER_THREAD = 200
LARGE = 1 << 20
SEGMENT_SIZE = 4 << 20


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _step(name: str, text: str) -> None:
    for i, line in enumerate(text.splitlines()):
        print(f"{name if i == 0 else '':<10}{line}")


def tour(directory: str) -> None:
    """Runs the tour in ``directory`` (created if missing; a second run
    goes on with the same log)."""
    print(f"logstore tour: an embedded, durable, append-only log, in {directory}\n")
    log = Log(directory, sync="always", segment_size=SEGMENT_SIZE)
    first, nxt = log.first_position, log.next_position
    if nxt == 0:
        _step("open", "a new, empty log: the first record will get position 0")
    else:
        _step("open", f"the log an earlier run left: positions {first}..{nxt}; appends continue at {nxt}")
    torn = log.recovery_report.torn_tail
    if torn is not None:
        _step("", f"(a crash had left an incomplete append: {torn.bytes} bytes cut at position {torn.from_position})")

    got: List[List[int]] = [[] for _ in range(THREADS)]
    large: List[int] = [0] * THREADS

    def appender(t: int) -> None:
        for i in range(SMALL_PER_THREAD):
            if i == SMALL_PER_THREAD // 2:
                large[t] = log.append(bytes([ord("a") + t]) * LARGE)
            got[t].append(log.append(f"thread {t} record {i}".encode()))

    start = time.perf_counter()
    threads = [threading.Thread(target=appender, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    count = sum(len(g) for g in got) + THREADS
    lines = [
        f"{THREADS} Python threads append at once, each {SMALL_PER_THREAD} small records and one of {_human(LARGE)}",
        "each append returns once its record is on disk (fsync); the GIL is released,",
        "so the threads share the syncs (group commit)",
        f"{count} records in {elapsed:.2f} s; positions are given in order and never reused:",
    ]
    for t in range(THREADS):
        some = ", ".join(str(p) for p in got[t][:5])
        lines.append(f"  thread {t}: {some}, ...  its {_human(LARGE)} record is at {large[t]}")
    _step("append", "\n".join(lines))

    before = log.stats()
    _step(
        "stat",
        f"positions {before.first_position}..{before.next_position}: {_human(before.retained_bytes)} "
        f"of records kept, {_human(before.disk_bytes)} on disk, in {len(before.segments)} segment files",
    )

    cut = max(large)
    log.truncate_front(cut)
    log.wait_reclaimed()
    after = log.stats()
    _step(
        "truncate",
        f"truncate_front({cut}) drops every record before {cut} at once, durably, copying nothing\n"
        f"disk space given back: {_human(max(0, before.disk_bytes - after.disk_bytes))}; "
        f"{_human(after.disk_bytes)} on disk now",
    )
    try:
        log.read(cut - 1)
    except TruncatedError as e:
        _step("", f"reading position {cut - 1} now raises {type(e).__name__} (an IndexError)")

    sizes: List[int] = []
    n = log.replay(cut, lambda p, r: sizes.append(len(r)))
    _step(
        "replay",
        f"replay({cut}, fn) calls fn(position, record) for the {n} records kept, in order;\n"
        f"the first is {_human(sizes[0])}, then small ones; log[{cut + 1}] is {log[cut + 1]!r}",
    )

    follower = log.iter(log.next_position, follow=True)
    threading.Timer(0.05, log.append, (b"appended by another thread",)).start()
    pos, rec = next(follower)
    _step("follow", f"log.iter(follow=True) waited for the next append: {pos} {rec!r}")

    end = log.next_position
    log.close()
    with Log(directory, create=False) as again:
        ok = again.verify().ok
        _step(
            "reopen",
            f"closed and opened again: positions {again.first_position}..{again.next_position} "
            f"(was ..{end}); verify() found {'no problem' if ok else 'problems'}",
        )
    print(
        "\ntry next:\n"
        "  python -c 'import logstore; help(logstore.Log)'\n"
        "  python -m logstore bench --quick"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line: ``tour DIR`` or ``bench [options]``."""
    parser = argparse.ArgumentParser(prog="python -m logstore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tour", help="a short tour of logstore in DIR")
    t.add_argument("dir", help="directory of the log (created if missing)")
    sub.add_parser("bench", help="the benchmark against sqlite3 and lmdb", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "tour":
        if rest:
            parser.error(f"unknown arguments: {' '.join(rest)}")
        tour(args.dir)
        return 0
    from . import bench

    return bench.main(rest)


if __name__ == "__main__":
    sys.exit(main())
