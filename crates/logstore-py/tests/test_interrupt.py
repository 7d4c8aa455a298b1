"""Ctrl-C (SIGINT) interrupts a blocking wait_for or tail loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import logstore

CHILD = r"""
import sys, time, logstore
log = logstore.Log(sys.argv[1], sync="never")
print("waiting", flush=True)
start = time.monotonic()
try:
    if sys.argv[2] == "wait_for":
        log.wait_for(10)
    elif sys.argv[2] == "follow":
        for _ in log.iter(follow=True):
            pass
    else:
        log.iter().next_timeout()
except KeyboardInterrupt:
    print("interrupted after %.2f s" % (time.monotonic() - start), flush=True)
    log.close()
    sys.exit(3)
"""


@pytest.mark.parametrize("how", ["wait_for", "follow", "next_timeout"])
def test_ctrl_c_interrupts_a_child_waiting(tmp_path: Path, how: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "waiting\n"
    time.sleep(0.3)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 3, out
    assert out.startswith("interrupted")
    assert time.monotonic() - sent < 2


def test_sigint_interrupts_wait_for_in_this_process(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            log.wait_for(0)
        assert time.monotonic() - start < 2
        timer.join()
        # The log is fine afterwards.
        assert log.append(b"a") == 0 and log.wait_for(0, timeout=0)


def test_other_threads_run_while_one_waits(tmp_path: Path) -> None:
    with logstore.Log(tmp_path, sync="never") as log:
        got = []
        waiter = threading.Thread(target=lambda: got.append(log.wait_for(100, timeout=5)))
        waiter.start()
        # The waiting thread holds no GIL: this one appends meanwhile.
        for i in range(101):
            log.append(b"%d" % i)
        waiter.join()
        assert got == [True]
