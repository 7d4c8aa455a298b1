"""Durability that does not block: submit, callbacks, waits, asyncio."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import logstore

THREADS = 8
PER_THREAD = 100


def test_submitted_records_become_durable(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        assert log.submit(b"a") == 0
        assert log.submit_batch([b"b", bytearray(b"c"), memoryview(b"d")]) == range(1, 4)
        assert log.wait_durable(3, timeout=10)
        assert log.durable_position == log.next_position == 4
        assert log[0:4] == [b"a", b"b", b"c", b"d"]
        with pytest.raises(logstore.InvalidArgumentError):
            log.submit(b"")
        with pytest.raises(TypeError):
            log.submit_batch(b"one")
        with pytest.raises(logstore.InvalidArgumentError):
            log.submit_batch([b"ok", b""])
        with pytest.raises(TypeError):
            log.submit_batch_then([b"x"], 42)  # type: ignore[arg-type]
        assert log.next_position == 4  # nothing written by the refusals


def test_wait_durable_of_a_position_not_appended(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        with pytest.raises(logstore.OutOfRangeError) as e:
            log.wait_durable(0)
        assert e.value.position == 0
        log.append(b"a")
        assert log.wait_durable(0, timeout=0)
        with pytest.raises(logstore.OutOfRangeError):
            log.wait_durable(1, timeout=1)
        with pytest.raises(logstore.InvalidArgumentError):
            log.wait_durable(-1)


def test_eight_threads_submit_with_callbacks(tmp_path: Path) -> None:
    calls: Dict[int, List[Any]] = {}
    returned: Dict[int, range] = {}
    lock = threading.Lock()
    errors: List[BaseException] = []
    barrier = threading.Barrier(THREADS)
    with logstore.Log(tmp_path, sync="always") as log:

        def callback(r: Optional[range], e: Optional[BaseException]) -> None:
            assert r is not None and e is None, e
            with lock:
                calls.setdefault(r.start, []).append(r)

        def run(t: int) -> None:
            try:
                barrier.wait()
                for i in range(PER_THREAD):
                    r = log.submit_batch_then([b"t%d-%d" % (t, i), b"x"], callback)
                    with lock:
                        returned[r.start] = r
            except BaseException as e:  # noqa: B036 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert log.wait_durable(log.next_position - 1, timeout=10)
        deadline = time.monotonic() + 10
        while len(calls) < THREADS * PER_THREAD and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(returned) == THREADS * PER_THREAD
        assert {s: [r] for s, r in returned.items()} == calls  # each once, its range
        assert log.durable_position == log.next_position == 2 * THREADS * PER_THREAD


def test_a_callback_that_raises_does_not_stop_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    seen: List[range] = []

    def bad(r: Optional[range], e: Optional[BaseException]) -> None:
        raise RuntimeError("callback failed")

    def good(r: Optional[range], e: Optional[BaseException]) -> None:
        assert r is not None
        seen.append(r)

    log = logstore.Log(tmp_path)
    log.submit_batch_then([b"a"], bad)
    log.submit_batch_then([b"b"], good)
    log.submit_batch_then([b"c"], bad)
    log.submit_batch_then([b"d"], good)
    log.close()
    assert seen == [range(1, 2), range(3, 4)]
    assert len(unraisable) == 2
    assert all(isinstance(u.exc_value, RuntimeError) for u in unraisable)
    # The log's threads are still fine: a new handle gets its callbacks.
    with logstore.Log(tmp_path) as log:
        log.submit_batch_then([b"e"], good)
    assert seen[-1] == range(4, 5)


def test_close_settles_every_callback_before_it_returns(tmp_path: Path) -> None:
    results: List[Any] = []
    log = logstore.Log(tmp_path, sync="never")
    for i in range(500):
        log.submit_batch_then([b"%d" % i], lambda r, e: results.append((r, e)))
    log.close()
    assert len(results) == 500  # counted right after close
    assert all(e is None for _, e in results)
    assert sorted(r.start for r, _ in results) == list(range(500))
    with pytest.raises(logstore.ClosedError):
        log.submit(b"late")


def test_await_durable_does_not_block_the_loop(tmp_path: Path) -> None:
    big = b"x" * (1 << 20)

    async def main() -> int:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        with logstore.Log(tmp_path, sync="never") as log:
            task = asyncio.ensure_future(ticker())
            r = log.submit_batch([big] * 16)
            await log.durable_async(r.stop - 1)
            assert log.durable_position >= r.stop
            await asyncio.gather(*(log.durable_async(p) for p in r))
            with pytest.raises(logstore.OutOfRangeError):
                await log.durable_async(log.next_position)
            done = True
            await task
        return ticks

    assert asyncio.run(main()) > 0


def test_durable_async_needs_a_running_loop(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        log.append(b"a")
        with pytest.raises(RuntimeError):
            log.durable_async(0)


def test_sigint_interrupts_wait_durable(tmp_path: Path) -> None:
    # The wait lasts as long as the sync of what was submitted; the signal
    # comes 10 ms after the wait starts. More data until it lands inside.
    record = b"x" * (1 << 20)
    interrupted = False
    with logstore.Log(tmp_path, sync="never", segment_size=1 << 30) as log:
        for megabytes in (128, 256, 512, 1024):
            end = log.submit_batch([record] * megabytes).stop
            timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT))
            start = time.monotonic()
            timer.start()
            try:
                log.wait_durable(end - 1)
            except KeyboardInterrupt:
                interrupted = True
                assert time.monotonic() - start < 2
            timer.join()
            if interrupted:
                break
            try:  # the signal came after the wait: let it pass
                time.sleep(1)
            except KeyboardInterrupt:
                pass
            log.truncate_front(log.next_position)
        assert interrupted
        # The log is fine afterwards.
        assert log.wait_durable(log.next_position - 1, timeout=30)
