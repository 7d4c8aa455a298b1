"""An example program, type-checked with ``mypy --strict`` by the tests."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from typing import List, Optional, Tuple

import logstore


def main(directory: str) -> int:
    records: List[bytes] = []
    with logstore.Log(directory, sync="never", segment_size=1 << 20) as log:
        first: int = log.append(b"one")
        batch: range = log.append_batch([b"two", bytearray(b"three"), memoryview(b"four")])
        one: bytes = log[first]
        some: List[bytes] = log[batch.start : batch.stop]
        records.extend([one, *some])
        for position, record in log.iter(first):
            assert log.read(position) == record
        seen = log.replay(None, lambda position, record: records.append(record))
        got: Optional[Tuple[int, bytes]] = log.iter(log.next_position).next_timeout(0.01)
        assert got is None
        assert not log.wait_for(log.next_position, timeout=timedelta(milliseconds=1))
        stats: logstore.Stats = log.stats()
        report: logstore.VerifyReport = log.verify()
        recovery: logstore.RecoveryReport = log.recovery_report
        torn: Optional[logstore.Cut] = recovery.torn_tail
        log.truncate_front(1)
        log.truncate_back(log.next_position - 1)
        log.sync()
        try:
            log.read(0)
        except logstore.TruncatedError as e:
            where: Optional[int] = e.position
            assert where == 0
        print(stats.records, report.ok, torn, seen, log.first_position)
    with logstore.Log(directory, sync="always") as log:
        submitted: int = log.submit(b"five")
        more: range = log.submit_batch([b"six"])
        ranges: List[range] = []

        def on_durable(positions: Optional[range], error: Optional[BaseException]) -> None:
            if positions is not None:
                ranges.append(positions)

        log.submit_batch_then([b"seven"], on_durable)
        durable: bool = log.wait_durable(more.stop - 1, timeout=timedelta(seconds=10))
        assert durable and log.durable_position >= more.stop

        async def wait(position: int) -> None:
            await log.durable_async(position)

        asyncio.run(wait(submitted))
        log.truncate_back(log.next_position - 3)
    assert ranges == [range(more.stop, more.stop + 1)]
    with logstore.Log(directory, sync=0.5, read_only=True) as reader:
        reader.refresh()
        return reader.next_position


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        sys.exit(0 if main(sys.argv[1] if len(sys.argv) > 1 else d) == 3 else 1)
