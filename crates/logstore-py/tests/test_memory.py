"""No leak: RSS stays bounded over a million appends and reads."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import logstore

N = 1_000_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_rss_bounded_over_a_million_appends_and_reads(tmp_path: Path) -> None:
    record = b"m" * 64
    view = memoryview(bytearray(record))
    with logstore.Log(tmp_path, sync="never", segment_size=16 << 20) as log:
        # Warm up: caches, allocator pools, the first segments.
        for _ in range(50_000):
            log.append(record)
        gc.collect()
        base = rss_bytes()
        samples = []
        for i in range(N):
            # bytes, another buffer, batches and reads, each a path that
            # could leak a reference or a buffer.
            if i % 3 == 0:
                log.append(view)
            else:
                log.append(record)
            if i % 1000 == 0:
                log.append_batch([record, record])
            assert len(log.read(i)) == 64
            if i % 100_000 == 0:
                log.truncate_front(max(0, log.next_position - 200_000))
                samples.append(rss_bytes())
        n = log.replay(log.next_position - 100_000, lambda p, r: None)
        assert n == 100_000
        gc.collect()
        growth = rss_bytes() - base
    # Records live on disk and in the page cache, not in this process: a
    # leak of the 64-byte records alone would be over 60 MiB.
    print(f"RSS {base >> 20} MiB after warm-up, grew {growth / 2**20:.1f} MiB; samples {[s >> 20 for s in samples]}")
    assert growth < 48 << 20, (base, samples, growth)
