"""A child process appending durably is killed with SIGKILL; the log
reopens with every acknowledged record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import logstore

CHILD = r"""
import sys, logstore
log = logstore.Log(sys.argv[1], sync=sys.argv[2], segment_size=64 * 1024)
i = log.next_position
while True:
    # A mix of sizes, and batches, so that the kill lands anywhere.
    if i % 7 == 0:
        r = log.append_batch([b"%d:%d" % (i, j) * 20 for j in range(3)])
        i = r.stop
        print(r.stop - 1, flush=True)
    else:
        p = log.append(b"%d:" % i * (1 + i % 50))
        i = p + 1
        print(p, flush=True)
"""


def valid(p: int) -> list:
    """What the child (or an earlier round) may have written at ``p``."""
    single = b"%d:" % p * (1 + p % 50)
    batch = [b"%d:%d" % (p - j, j) * 20 for j in range(3)]
    return [single, *batch, b"after"]


def run_and_kill(directory: Path, sync: str, after: float) -> int:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), sync],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.strip().isdigit(), first
    time.sleep(after)
    os.kill(child.pid, signal.SIGKILL)
    acked = int(first)
    for line in child.stdout:
        if line.endswith("\n"):
            acked = int(line)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    return acked


def test_sigkill_of_an_appending_child(tmp_path: Path) -> None:
    for round_, sync in enumerate(["always", "never", "always"]):
        acked = run_and_kill(tmp_path, sync, 0.3 + 0.2 * round_)
        with logstore.Log(tmp_path, create=False) as log:
            # A killed process loses nothing it wrote, durable or not: the
            # operating system has it.
            assert log.next_position > acked
            report = log.recovery_report
            assert report.dropped is None
            assert log.verify().ok
            for p, rec in log.iter():
                assert rec in valid(p), (p, rec)
            n = log.next_position
        # Appends go on after the recovery.
        with logstore.Log(tmp_path) as log:
            assert log.append(b"after") == n
