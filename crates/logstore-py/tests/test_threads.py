"""Python threads appending at once, durably: unique positions, all read back."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, List

import logstore

THREADS = 8
PER_THREAD = 250


def test_eight_threads_append_durably(tmp_path: Path) -> None:
    got: Dict[int, List[int]] = {t: [] for t in range(THREADS)}
    errors: List[BaseException] = []
    barrier = threading.Barrier(THREADS)
    with logstore.Log(tmp_path, sync="always") as log:

        def run(t: int) -> None:
            try:
                barrier.wait()
                for i in range(PER_THREAD):
                    got[t].append(log.append(b"t%d-%d" % (t, i)))
            except BaseException as e:  # noqa: B036 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        everything = [p for ps in got.values() for p in ps]
        assert len(everything) == len(set(everything)) == THREADS * PER_THREAD
        assert sorted(everything) == list(range(THREADS * PER_THREAD))
        for t, ps in got.items():
            assert ps == sorted(ps)  # one thread's appends are in order
            for i, p in enumerate(ps):
                assert log[p] == b"t%d-%d" % (t, i)
    with logstore.Log(tmp_path) as log:
        assert log.next_position == THREADS * PER_THREAD
        assert log.verify().ok


def test_readers_run_while_writers_append(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        done = threading.Event()
        seen: List[int] = []

        def reader() -> None:
            it = log.iter()
            while not done.is_set() or it.position < log.next_position:
                item = it.next_timeout(0.05)
                if item is not None:
                    seen.append(item[0])

        r = threading.Thread(target=reader)
        r.start()
        writers = [
            threading.Thread(target=lambda: [log.append(b"x" * 100) for _ in range(2000)])
            for _ in range(4)
        ]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        done.set()
        r.join()
        assert seen == list(range(8000))


def rate(log: logstore.Log, threads: int, seconds: float) -> float:
    stop = threading.Event()
    counts = [0] * threads

    def run(t: int) -> None:
        while not stop.is_set():
            log.append(b"r" * 100)
            counts[t] += 1

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    stop.wait(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def test_threads_share_syncs(tmp_path: Path) -> None:
    """With the GIL released during the sync, threads that append while
    one syncs are carried by the next sync: 8 threads append several
    times faster than one. (Where a sync costs nothing, as on tmpfs, there
    is nothing to share and the test is skipped.)"""
    import pytest

    with logstore.Log(tmp_path, sync="always") as log:
        one = rate(log, 1, 0.5)
        if one > 20_000:
            pytest.skip(f"syncs are too cheap here to share ({one:.0f} appends/s from one thread)")
        eight = rate(log, 8, 0.5)
    assert eight > 2 * one, (one, eight)
