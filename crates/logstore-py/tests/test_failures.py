"""A write that fails (the file-size limit of the process, EFBIG) raises
IoError with errno and path; the log is then poisoned, close() reports it,
and reopening recovers every acknowledged record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import logstore

CHILD = r"""
import resource, signal, sys, logstore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = logstore.Log(sys.argv[1], sync="always", segment_size=1 << 20)
acked = [log.append(b"before")]
resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, resource.RLIM_INFINITY))
try:
    for i in range(1000):
        acked.append(log.append(b"x" * 4096))
    sys.exit("no error")
except logstore.IoError as e:
    assert e.errno == 27 and e.path and e.path.endswith(".seg"), (e.errno, e.path)
    assert isinstance(e, OSError)
try:
    log.append(b"y")
    sys.exit("appended to a poisoned log")
except logstore.PoisonedError:
    pass
assert log.read(0) == b"before"  # reads go on
try:
    log.close()
    sys.exit("close reported nothing")
except logstore.PoisonedError:
    pass
print(acked[-1])
"""


def test_failed_write_poisons_and_close_reports_it(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    last = int(out.stdout)
    with logstore.Log(tmp_path) as log:
        assert log.next_position > last
        assert log[0] == b"before"
        assert all(r == b"x" * 4096 for r in log[1 : last + 1])
        assert log.append(b"after") == log.next_position - 1
