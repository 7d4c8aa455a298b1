"""The benchmark script runs (a few milliseconds per case) and prints its table."""

from __future__ import annotations

import subprocess
import sys


def test_bench_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "logstore.bench", "--seconds", "0.02", "--replay-records", "2000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "| 100 B durable appends/s, 8 threads |" in out.stdout
    assert "| replay, 100 B records/s |" in out.stdout
