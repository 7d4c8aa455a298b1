"""A model test: random operations on a log and on a list, compared."""

from __future__ import annotations

import shutil
import tempfile
from typing import List, Optional

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import logstore

records = st.binary(min_size=1, max_size=300)


class LogVsList(RuleBasedStateMachine):
    """The log holds ``model[first:]`` at positions ``first..``."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.log: Optional[logstore.Log] = None
        self.open()
        self.first = 0
        self.model: List[bytes] = []  # records at positions first..

    def open(self) -> None:
        # Small segments, so that runs cross segment boundaries.
        self.log = logstore.Log(self.dir, sync="never", segment_size=4096)

    @property
    def next(self) -> int:
        return self.first + len(self.model)

    @rule(data=records)
    def append(self, data: bytes) -> None:
        assert self.log is not None
        assert self.log.append(data) == self.next
        self.model.append(data)

    @rule(batch=st.lists(records, max_size=8))
    def append_batch(self, batch: List[bytes]) -> None:
        assert self.log is not None
        assert self.log.append_batch(batch) == range(self.next, self.next + len(batch))
        self.model.extend(batch)

    @rule(k=st.integers(min_value=0, max_value=40))
    def truncate_front(self, k: int) -> None:
        assert self.log is not None
        to = self.first + k
        self.log.truncate_front(to)
        if to >= self.next:
            self.first, self.model = to, []
        else:
            self.model = self.model[k:]
            self.first = to

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def truncate_back(self, data: st.DataObject) -> None:
        assert self.log is not None
        keep = data.draw(st.integers(min_value=0, max_value=len(self.model)))
        self.log.truncate_back(self.first + keep)
        del self.model[keep:]

    @rule()
    def reopen(self) -> None:
        assert self.log is not None
        self.log.close()
        self.open()

    @rule(data=st.data())
    def read_one(self, data: st.DataObject) -> None:
        assert self.log is not None
        pos = data.draw(st.integers(min_value=max(0, self.first - 3), max_value=self.next + 3))
        if pos < self.first:
            try:
                self.log.read(pos)
                raise AssertionError("read a truncated position")
            except logstore.TruncatedError as e:
                assert e.position == pos
        elif pos >= self.next:
            try:
                self.log[pos]
                raise AssertionError("read past the end")
            except logstore.OutOfRangeError:
                pass
        else:
            assert self.log[pos] == self.model[pos - self.first]

    @invariant()
    def same(self) -> None:
        assert self.log is not None
        assert self.log.first_position == self.first
        assert self.log.next_position == self.next
        assert self.log[:] == self.model
        assert [r for _, r in self.log.iter()] == self.model

    def teardown(self) -> None:
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


LogVsList.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
TestLogVsList = LogVsList.TestCase
