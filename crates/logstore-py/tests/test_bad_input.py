"""Bad input of every kind raises a clear exception and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import logstore


@pytest.fixture
def log(tmp_path: Path) -> Any:
    with logstore.Log(tmp_path / "log", sync="never", max_record_size=1000) as log:
        log.append(b"kept")
        yield log


def unchanged(log: logstore.Log) -> None:
    assert (log.first_position, log.next_position) == (0, 1)
    assert log[:] == [b"kept"]


def test_empty_record(log: logstore.Log) -> None:
    for empty in (b"", bytearray(), memoryview(b"")):
        with pytest.raises(logstore.InvalidArgumentError, match="empty"):
            log.append(empty)
    with pytest.raises(ValueError):
        log.append_batch([b"a", b""])
    unchanged(log)


def test_oversize_record(log: logstore.Log) -> None:
    with pytest.raises(logstore.InvalidArgumentError):
        log.append(b"x" * 1001)
    with pytest.raises(logstore.InvalidArgumentError):
        log.append_batch([b"a", b"x" * 1001, b"c"])
    assert log.append(b"x" * 1000) == 1
    log.truncate_back(1)
    unchanged(log)


@pytest.mark.parametrize("bad", ["text", 5, None, 1.5, [1, 2], object(), True])
def test_wrong_type_of_record(log: logstore.Log, bad: Any) -> None:
    with pytest.raises(TypeError):
        log.append(bad)
    with pytest.raises(TypeError):
        log.append_batch([b"a", bad])
    unchanged(log)


@pytest.mark.parametrize("bad", [b"one record", "text", 5, None, bytearray(b"ab")])
def test_wrong_type_of_batch(log: logstore.Log, bad: Any) -> None:
    with pytest.raises(TypeError):
        log.append_batch(bad)
    unchanged(log)


def test_batch_whose_iteration_fails(log: logstore.Log) -> None:
    def records() -> Any:
        yield b"a"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        log.append_batch(records())
    unchanged(log)


def test_other_buffers_are_records(log: logstore.Log) -> None:
    import array

    pos = log.append(array.array("i", [1, 2]))
    assert log[pos] == array.array("i", [1, 2]).tobytes()
    assert log[log.append(memoryview(b"abcdef")[::2])] == b"ace"


@pytest.mark.parametrize("pos", [1, 2, 10**6, 2**64 - 1])
def test_read_past_the_end(log: logstore.Log, pos: int) -> None:
    with pytest.raises(logstore.OutOfRangeError) as e:
        log.read(pos)
    assert isinstance(e.value, IndexError) and e.value.position == pos


@pytest.mark.parametrize("pos", [-1, -(2**70), 2**64, 2**70])
def test_positions_outside_u64(log: logstore.Log, pos: int) -> None:
    with pytest.raises(IndexError):
        log.read(pos)
    with pytest.raises(IndexError):
        log[pos]
    for call in (log.truncate_front, log.truncate_back, log.wait_for):
        with pytest.raises(logstore.InvalidArgumentError):
            call(pos)
    unchanged(log)


@pytest.mark.parametrize("pos", ["0", 1.0, None, b"0", True])
def test_positions_of_the_wrong_type(log: logstore.Log, pos: Any) -> None:
    for call in (log.read, log.truncate_front, log.truncate_back, log.wait_for):
        with pytest.raises(TypeError):
            call(pos)
    with pytest.raises(TypeError):
        log.iter(pos if pos is not None else "x")
    unchanged(log)


def test_truncated_position(log: logstore.Log) -> None:
    log.append(b"second")
    log.truncate_front(1)
    with pytest.raises(logstore.TruncatedError) as e:
        log.read(0)
    assert e.value.position == 0 and isinstance(e.value, IndexError)
    with pytest.raises(logstore.TruncatedError):
        log.replay(0, lambda p, r: None)
    with pytest.raises(logstore.TruncatedError):
        next(log.iter(0))
    with pytest.raises(logstore.OutOfRangeError):
        log.truncate_back(0)
    assert log[:] == [b"second"]


def test_bad_slices(log: logstore.Log) -> None:
    with pytest.raises(ValueError):
        log[::0]
    with pytest.raises(ValueError):
        log[-1:]
    with pytest.raises(TypeError):
        log["a":]  # type: ignore[misc]
    assert log[5:2] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sync": "sometimes"},
        {"sync": 0},
        {"sync": -1.0},
        {"sync": float("nan")},
        {"segment_size": 100},
        {"segment_size": -1},
        {"max_record_size": 0},
        {"max_record_size": 2**31},
        {"recovery": "lenient"},
    ],
)
def test_bad_options(tmp_path: Path, kwargs: Any) -> None:
    with pytest.raises(logstore.InvalidArgumentError):
        logstore.Log(tmp_path / "new", **kwargs)


@pytest.mark.parametrize("kwargs", [{"sync": b"always"}, {"sync": True}, {"segment_size": "1"}])
def test_options_of_the_wrong_type(tmp_path: Path, kwargs: Any) -> None:
    with pytest.raises(TypeError):
        logstore.Log(tmp_path / "new", **kwargs)


def test_bad_timeouts(log: logstore.Log) -> None:
    for t in (-1, float("nan"), float("inf")):
        with pytest.raises(logstore.InvalidArgumentError):
            log.wait_for(5, timeout=t)
    with pytest.raises(TypeError):
        log.wait_for(5, timeout="1")  # type: ignore[arg-type]


def test_missing_log_without_create(tmp_path: Path) -> None:
    with pytest.raises(logstore.Error):
        logstore.Log(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


def test_locked_directory(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        log.append(b"a")
        with pytest.raises(logstore.LockedError) as e:
            logstore.Log(tmp_path)
        assert e.value.path is not None
        # A reader needs no lock.
        with logstore.Log(tmp_path, read_only=True) as reader:
            assert reader[0] == b"a"
    with logstore.Log(tmp_path) as log:  # released by close
        assert log.next_position == 1


def test_closed_log(tmp_path: Path) -> None:
    log = logstore.Log(tmp_path)
    log.append(b"a")
    log.close()
    for call in (lambda: log.append(b"b"), lambda: log.read(0), log.sync, lambda: log.truncate_front(1)):
        with pytest.raises(logstore.ClosedError):
            call()
    with logstore.Log(tmp_path) as again:
        assert again[:] == [b"a"]


def segment_files(d: Path) -> list:
    return sorted(p for p in d.iterdir() if p.suffix == ".seg")


def test_corrupt_file(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, segment_size=4096) as log:
        for i in range(200):
            log.append(b"record %03d " % i * 4)
    segs = segment_files(tmp_path)
    assert len(segs) > 2
    victim = segs[1]
    data = bytearray(victim.read_bytes())
    at = 200
    data[at] ^= 0xFF
    victim.write_bytes(bytes(data))
    # Damage to acknowledged records is found when it is read (or at open):
    # a CorruptionError naming the file, never a torn tail.
    found = None
    try:
        with logstore.Log(tmp_path) as log:
            report = log.verify()
            assert not report.ok
            assert report.problems[0].path == str(victim)
            for p in range(log.first_position, log.next_position):
                try:
                    log.read(p)
                except logstore.CorruptionError as e:
                    found = e
                    break
    except logstore.CorruptionError as e:
        found = e
    assert found is not None
    assert found.path == str(victim) and found.offset is not None
    # The tolerant mode opens it, cutting the damage away and reporting it.
    with logstore.Log(tmp_path, recovery="tolerant") as log:
        assert log.recovery_report.dropped is not None or not log.verify().ok


def test_garbage_instead_of_a_segment(tmp_path: Path) -> None:
    with logstore.Log(tmp_path) as log:
        log.append(b"a")
    for seg in segment_files(tmp_path):
        seg.write_bytes(os.urandom(8192))
    with pytest.raises(logstore.CorruptionError) as e:
        with logstore.Log(tmp_path) as log:
            log.read(0)
    assert e.value.path is not None
