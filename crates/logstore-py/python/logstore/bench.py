"""The benchmark: logstore against sqlite3 and lmdb, from Python.

``python -m logstore.bench`` (or ``python -m logstore bench``) runs every
case once, in this one process, and prints a Markdown table:

- appends per second of 100 B and 4 KiB records, non-durable and durable,
  from 1 and from 8 threads;
- records per second replayed (read back in order, each passed to a
  Python function).

The peers do the same work: ``sqlite3`` in WAL mode, one row per record
and one transaction per append (``synchronous=FULL`` when durable, ``OFF``
when not); ``lmdb`` (py-lmdb, if installed) with one write transaction per
append (``sync=True`` when durable, ``sync=False`` when not). Non-durable
means: the record survives a crash of the process, not of the machine.
Each case runs for a fixed time (``--seconds``) in a fresh directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import struct
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import Log

lmdb: Any
try:
    import lmdb
except ImportError:  # pragma: no cover - lmdb is optional
    lmdb = None

Appender = Callable[[bytes], None]


class Store:
    """One store under test: opens a fresh instance in a directory and
    gives each thread a function that appends one record."""

    name = ""

    def open(self, directory: str, durable: bool) -> None:
        raise NotImplementedError

    def appender(self) -> Tuple[Appender, Callable[[], None]]:
        """A function appending one record, and one releasing it."""
        raise NotImplementedError

    def replay(self, fn: Callable[[int, bytes], None]) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class LogstoreStore(Store):
    name = "logstore"

    def open(self, directory: str, durable: bool) -> None:
        self.log = Log(directory, sync="always" if durable else "never")

    def appender(self) -> Tuple[Appender, Callable[[], None]]:
        append = self.log.append
        return (lambda rec: (append(rec), None)[1]), (lambda: None)

    def replay(self, fn: Callable[[int, bytes], None]) -> int:
        return self.log.replay(None, fn)

    def close(self) -> None:
        self.log.close()


class SqliteStore(Store):
    name = "sqlite3"

    def open(self, directory: str, durable: bool) -> None:
        self.path = os.path.join(directory, "log.db")
        self.durable = durable
        conn = self._connect()
        conn.execute("CREATE TABLE IF NOT EXISTS log (pos INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=%s" % ("FULL" if self.durable else "OFF"))
        return conn

    def appender(self) -> Tuple[Appender, Callable[[], None]]:
        conn = self._connect()
        sql = "INSERT INTO log (data) VALUES (?)"

        def append(rec: bytes) -> None:
            conn.execute(sql, (rec,))  # autocommit: one transaction each

        return append, conn.close

    def replay(self, fn: Callable[[int, bytes], None]) -> int:
        conn = self._connect()
        n = 0
        for pos, data in conn.execute("SELECT pos, data FROM log ORDER BY pos"):
            fn(pos, data)
            n += 1
        conn.close()
        return n

    def close(self) -> None:
        pass


class LmdbStore(Store):
    name = "lmdb"

    def open(self, directory: str, durable: bool) -> None:
        assert lmdb is not None
        self.env = lmdb.open(
            directory, map_size=8 << 30, sync=durable, metasync=durable, max_spare_txns=16
        )

    def appender(self) -> Tuple[Appender, Callable[[], None]]:
        env = self.env
        pack = struct.Struct(">Q").pack
        unpack = struct.Struct(">Q").unpack

        def append(rec: bytes) -> None:
            with env.begin(write=True) as txn:
                cur = txn.cursor()
                pos = unpack(cur.key())[0] + 1 if cur.last() else 0
                txn.put(pack(pos), rec, append=True)

        return append, (lambda: None)

    def replay(self, fn: Callable[[int, bytes], None]) -> int:
        unpack = struct.Struct(">Q").unpack
        n = 0
        with self.env.begin(buffers=False) as txn:
            for key, value in txn.cursor():
                fn(unpack(key)[0], value)
                n += 1
        return n

    def close(self) -> None:
        self.env.close()


def stores() -> List[Store]:
    out: List[Store] = [LogstoreStore(), SqliteStore()]
    if lmdb is not None:
        out.append(LmdbStore())
    return out


def run_appends(store: Store, directory: str, size: int, durable: bool, threads: int, seconds: float) -> float:
    """Appends per second of `threads` threads for about `seconds`."""
    store.open(directory, durable)
    record = os.urandom(size)
    counts = [0] * threads
    start_line = threading.Barrier(threads + 1)
    stop = threading.Event()
    errors: List[BaseException] = []

    def work(t: int) -> None:
        append, release = store.appender()
        try:
            start_line.wait()
            n = 0
            while not stop.is_set():
                append(record)
                n += 1
            counts[t] = n
        except BaseException as e:  # reported by the caller
            errors.append(e)
        finally:
            release()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    start_line.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    store.close()
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def run_replay(store: Store, directory: str, records: int) -> float:
    """Records per second replayed, each passed to a Python function."""
    store.open(directory, False)
    append, release = store.appender()
    record = os.urandom(100)
    if isinstance(store, LogstoreStore):
        for i in range(0, records, 1000):
            store.log.append_batch([record] * min(1000, records - i))
    elif isinstance(store, SqliteStore):
        conn = store._connect()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO log (data) VALUES (?)", ((record,) for _ in range(records)))
        conn.execute("COMMIT")
        conn.close()
    else:
        assert isinstance(store, LmdbStore)
        pack = struct.Struct(">Q").pack
        with store.env.begin(write=True) as txn:
            for i in range(records):
                txn.put(pack(i), record, append=True)
    release()
    seen = [0]

    def fn(pos: int, rec: bytes) -> None:
        seen[0] += len(rec)

    t0 = time.perf_counter()
    n = store.replay(fn)
    elapsed = time.perf_counter() - t0
    store.close()
    assert n == records and seen[0] == 100 * records, (store.name, n)
    return n / elapsed


def fmt(rate: Optional[float]) -> str:
    if rate is None:
        return "n/a"
    if rate >= 100_000:
        return f"{rate / 1000:,.0f} k"
    if rate >= 1000:
        return f"{rate / 1000:,.1f} k"
    return f"{rate:,.0f}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints the table; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m logstore.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per append case (default 1)")
    parser.add_argument("--replay-records", type=int, default=200_000, help="records replayed (default 200000)")
    parser.add_argument("--quick", action="store_true", help="0.2 s per case, 20000 records replayed")
    parser.add_argument("--dir", help="where to make the stores (default: a temporary directory)")
    args = parser.parse_args(argv)
    seconds = 0.2 if args.quick else args.seconds
    replay_n = 20_000 if args.quick else args.replay_records
    base = tempfile.mkdtemp(prefix="logstore-bench-", dir=args.dir)
    names = [s.name for s in stores()]
    rows: List[Tuple[str, Dict[str, Optional[float]], bool]] = []
    try:
        case = 0
        for durable in (False, True):
            for size in (100, 4096):
                for threads in (1, 8):
                    label = "%s %s appends/s, %d thread%s" % (
                        "100 B" if size == 100 else "4 KiB",
                        "durable" if durable else "non-durable",
                        threads,
                        "s" if threads > 1 else "",
                    )
                    rates: Dict[str, Optional[float]] = {}
                    for store in stores():
                        case += 1
                        d = os.path.join(base, str(case))
                        os.makedirs(d)
                        rates[store.name] = run_appends(store, d, size, durable, threads, seconds)
                        shutil.rmtree(d)
                    rows.append((label, rates, durable and threads == 8))
                    print(f"  {label}: " + ", ".join(f"{k} {fmt(v)}" for k, v in rates.items()),
                          file=sys.stderr, flush=True)
        rates = {}
        for store in stores():
            case += 1
            d = os.path.join(base, str(case))
            os.makedirs(d)
            rates[store.name] = run_replay(store, d, replay_n)
            shutil.rmtree(d)
        rows.append(("replay, 100 B records/s", rates, False))
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"Python {platform.python_version()}, sqlite {sqlite3.sqlite_version}"
          + (f", py-lmdb {lmdb.__version__}" if lmdb is not None else ", no lmdb")
          + f"; {seconds:g} s per append case, {replay_n} records replayed\n")
    head = "| case | " + " | ".join(names) + " | vs sqlite3 | vs lmdb | target | met |"
    print(head)
    print("|" + "---|" * (len(names) + 5))
    met_all = True
    for label, r, group in rows:
        ours = r["logstore"] or 0.0
        theirs_s, theirs_l = r.get("sqlite3"), r.get("lmdb")
        vs_sqlite = ours / theirs_s if theirs_s else None
        vs_lmdb = ours / theirs_l if theirs_l else None
        need_s, need_l = (5.0, 5.0) if group else (2.0, 1.5)
        met = (vs_sqlite is not None and vs_sqlite >= need_s) and (vs_lmdb is None or vs_lmdb >= need_l)
        met_all &= met
        print(f"| {label} | " + " | ".join(fmt(r.get(n)) for n in names)
              + f" | {'%.1f×' % vs_sqlite if vs_sqlite else 'n/a'}"
              + f" | {'%.1f×' % vs_lmdb if vs_lmdb else 'n/a'}"
              + f" | ≥{need_s:g}× / ≥{need_l:g}× | {'yes' if met else 'no'} |")
    print(f"\nevery target met: {'yes' if met_all else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
