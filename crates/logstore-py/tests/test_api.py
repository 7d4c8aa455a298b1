"""The API as documented: each method, property and value type."""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from pathlib import Path

import pytest

import logstore


def test_append_read_slice_and_positions(tmp_path: Path) -> None:
    with logstore.Log(tmp_path / "log", sync="never") as log:
        assert (log.first_position, log.next_position) == (0, 0)
        assert log.append(b"zero") == 0
        assert log.append(bytearray(b"one")) == 1
        assert log.append(memoryview(b"xtwox")[1:4]) == 2
        assert log.append_batch([b"three", b"four", b"five"]) == range(3, 6)
        assert log.append_batch(iter([])) == range(6, 6)
        assert log.read(2) == b"two"
        assert log[0] == b"zero"
        assert log[1:4] == [b"one", b"two", b"three"]
        assert log[::2] == [b"zero", b"two", b"four"]
        assert log[4:100] == [b"four", b"five"]
        assert log[:] == [b"zero", b"one", b"two", b"three", b"four", b"five"]
        log.truncate_front(2)
        assert log[:3] == [b"two"]
        assert log.first_position == 2
        log.truncate_back(4)
        assert log.next_position == 4
        assert list(log) == [(2, b"two"), (3, b"three")]
        assert log.path == str(tmp_path / "log")
        assert "positions 2..4" in repr(log)
    assert log.closed
    assert "closed" in repr(log)
    log.close()  # closing again does nothing


def test_reopen_keeps_records_and_reports_recovery(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        log.append_batch([b"a", b"b"])
    with logstore.Log(tmp_path, create=False) as log:
        assert log[:] == [b"a", b"b"]
        report = log.recovery_report
        assert isinstance(report, logstore.RecoveryReport)
        assert report.clean and report.torn_tail is None


def test_iter_follows_appends(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        log.append(b"a")
        it = log.iter()
        assert next(it) == (0, b"a")
        assert next(it, None) is None
        log.append(b"b")
        assert next(it) == (1, b"b")  # the iterator sees later appends
        assert it.position == 2
        assert it.next_timeout(0.01) is None

        def later() -> None:
            time.sleep(0.1)
            log.append(b"c")

        t = threading.Thread(target=later)
        t.start()
        follower = log.iter(2, follow=True)
        assert next(follower) == (2, b"c")
        t.join()
        assert follower.follow and not it.follow


def test_follow_iterator_ends_with_closed_error(tmp_path: Path) -> None:
    log = logstore.Log(tmp_path, sync="never")
    it = log.iter(follow=True)
    threading.Timer(0.1, log.close).start()
    with pytest.raises(logstore.ClosedError):
        next(it)
    assert next(it, None) is None  # a failed iterator stays ended


def test_replay(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        log.append_batch([b"%d" % i for i in range(3000)])
        seen: list[tuple[int, bytes]] = []
        assert log.replay(None, lambda p, r: seen.append((p, r))) == 3000
        assert seen == [(i, b"%d" % i) for i in range(3000)]
        stop: list[int] = []

        def until(p: int, r: bytes) -> bool:
            stop.append(p)
            return p < 1500

        assert log.replay(1000, until) == 501
        assert stop[-1] == 1500
        assert log.replay(3000, lambda p, r: None) == 0

        class Boom(Exception):
            pass

        def boom(p: int, r: bytes) -> None:
            raise Boom

        with pytest.raises(Boom):
            log.replay(0, boom)
        with pytest.raises(TypeError):
            log.replay(0, "not callable")  # type: ignore[arg-type]


def test_wait_for(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        assert not log.wait_for(0, timeout=0.05)
        threading.Timer(0.1, log.append, (b"x",)).start()
        assert log.wait_for(0, timeout=10)
        assert log.wait_for(0)


def test_stats_and_verify(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never", segment_size=4096) as log:
        for i in range(100):
            log.append(b"x" * 100)
        s = log.stats()
        assert isinstance(s, logstore.Stats)
        assert (s.first_position, s.next_position, s.records) == (0, 100, 100)
        assert len(s.segments) > 1 and isinstance(s.segments[0], logstore.SegmentStats)
        assert s.retained_bytes >= 100 * 100
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.records = 0  # type: ignore[misc]
        v = log.verify()
        assert v.ok and v.records == 100 and v.problems == ()


def test_sync_policies_and_options(tmp_path: Path) -> None:
    from datetime import timedelta

    for i, sync in enumerate(["always", "never", 0.01, 1, timedelta(milliseconds=5), None]):
        with logstore.Log(tmp_path / str(i), sync=sync, write_buffer=4096, mmap_reads=True) as log:
            log.append(b"r")
            log.flush()
            log.sync()
            assert log.read(0) == b"r"


def test_read_only_handle_and_refresh(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as writer:
        writer.append(b"a")
        with logstore.Log(tmp_path, read_only=True) as reader:
            assert reader.read_only and reader.next_position == 1
            writer.append(b"b")
            writer.flush()
            reader.refresh()
            assert reader[:] == [b"a", b"b"]
            with pytest.raises(logstore.ReadOnlyError):
                reader.append(b"c")


def test_repair_meta_on_intact_log(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        log.append(b"a")
    assert logstore.repair_meta(tmp_path) is None


def test_exceptions_and_their_fields(tmp_path: Path) -> None:
    assert issubclass(logstore.InvalidArgumentError, ValueError)
    assert issubclass(logstore.OutOfRangeError, IndexError)
    assert issubclass(logstore.TruncatedError, IndexError)
    assert issubclass(logstore.ClosedError, ValueError)
    assert issubclass(logstore.IoError, OSError)
    for name in logstore._errors.__all__:
        assert issubclass(getattr(logstore, name), logstore.Error)
    with logstore.Log(tmp_path) as log:
        log.append(b"a")
        with pytest.raises(logstore.OutOfRangeError) as e:
            log.read(5)
        assert e.value.position == 5 and e.value.kind == "OutOfRange"
        assert "5" in str(e.value) and e.value.message


def test_docstrings_everywhere() -> None:
    missing = []
    for name in logstore.__all__:
        obj = getattr(logstore, name)
        if isinstance(obj, int):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj) and obj.__module__ == "logstore":
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__getitem__", "__enter__", "__exit__"):
                    continue
                if callable(member) or isinstance(member, property) or type(member).__name__ == "getset_descriptor":
                    if not (getattr(member, "__doc__", None) or "").strip():
                        missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_tour(tmp_path: Path) -> None:
    import subprocess
    import sys

    for _ in range(2):  # a second run goes on with the same log
        out = subprocess.run(
            [sys.executable, "-m", "logstore", "tour", str(tmp_path / "tour")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "append" in out.stdout and "replay" in out.stdout


def test_dropping_an_unclosed_log_releases_it(tmp_path: Path) -> None:
    import gc

    log = logstore.Log(tmp_path)
    log.append(b"a")
    del log
    gc.collect()
    with logstore.Log(tmp_path) as again:  # no LockedError: the drop closed it
        assert again[:] == [b"a"]


def test_log_and_iterators_shared_between_threads(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        log.append_batch([b"%d" % i for i in range(1000)])
        it = log.iter()
        out: list[int] = []
        lock = threading.Lock()

        def drain() -> None:
            for p, _ in it:
                with lock:
                    out.append(p)

        threads = [threading.Thread(target=drain) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(out) == list(range(1000))  # each record once
