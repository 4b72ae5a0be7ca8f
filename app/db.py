"""SQLite access: one writer thread with group commit, a small pool of read connections.

Writes: `await db.write(fn)` runs `fn(tx)` on the single write connection inside
`BEGIN IMMEDIATE`. Several queued writes share one transaction (group commit), each inside its
own SAVEPOINT, so each stays atomic on its own: a failing `fn` rolls back only its own changes
and gets its exception back. Events appended through `tx` are handed to the publisher after the
COMMIT, in commit order, which is `seq` order.

Reads: `await db.read(fn)` runs `fn(conn)` in one read transaction on a pooled connection, so a
list and the stream head it reports come from the same snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.private_files import private_database
from app.sqlite import BUSY_TIMEOUT_MS, apply_schema, connect
from app.wal import WAL_LIMIT, WalKeeper

log = logging.getLogger("condorito.db")

T = TypeVar("T")

# Writes queued while a transaction runs join the next one; past this many the batch is cut so
# one commit never holds the early callers for long.
MAX_GROUP = 256
# Light jobs run on the event loop for at most this long per batch (a message costs ~0.3 ms).
INLINE_BUDGET = 0.004
BACKGROUND_MAX_WAIT = 0.05  # seconds background writes wait at most behind foreground ones
READERS = 3


@dataclass(slots=True)
class Tx:
    """What a write function gets: the connection and the events it appends.

    `cache` is the writer's own memory across transactions (e.g. stream heads). Steps in
    `before_commit` run right before COMMIT if this job succeeded; steps in
    `batch_before_commit` (deduplicated through `batch_keys`) belong to the whole batch and run
    whether or not the job that registered them was rolled back.
    """

    conn: sqlite3.Connection
    events: list[Any] = field(default_factory=list)  # stream events, published after COMMIT
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    before_commit: list[Callable[[sqlite3.Connection], Any]] = field(default_factory=list)
    on_rollback: list[Callable[[], None]] = field(default_factory=list)  # undo `cache` changes
    cache: dict[str, Any] = field(default_factory=dict)
    batch_before_commit: list[Callable[[sqlite3.Connection], Any]] = field(default_factory=list)
    batch_keys: set[Any] = field(default_factory=set)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run one statement on the write connection."""
        return self.conn.execute(sql, params)

    def undo(self, mark: int = 0) -> None:
        """Run the rollback steps registered since `mark`, newest first."""
        while len(self.on_rollback) > mark:
            self.on_rollback.pop()()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested atomic step: on error its rows, events and steps are undone, the rest stays."""
        self.conn.execute("SAVEPOINT step")
        marks = len(self.events), len(self.after_commit), len(self.before_commit), len(self.on_rollback)
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            self.undo(marks[3])
            del self.events[marks[0]:], self.after_commit[marks[1]:], self.before_commit[marks[2]:]
            raise
        self.conn.execute("RELEASE step")


Publisher = Callable[[list[Any]], None]


@dataclass(slots=True)
class _WriteJob:
    fn: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    heavy: bool
    background: bool
    durable: bool = True


@dataclass(slots=True)
class _Batch:
    jobs: list[_WriteJob]
    outcomes: list[tuple[_WriteJob, bool, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    before_commit: list[Callable[[sqlite3.Connection], Any]] = field(default_factory=list)
    keys: set[Any] = field(default_factory=set)


class Database:
    """The single writer and the read pool of one SQLite file.

    Light writes (the hot path: a message and its events, a few statements of microseconds
    each) run on the event loop, where they cost no thread hand-off; only BEGIN when the lock
    is taken, and COMMIT with its fsync, go to the writer thread, and while it syncs the next
    batch gathers. Heavy writes (`heavy=True`: indexing, retention, figures) run whole on the
    writer thread so they never stall the loop.
    """

    def __init__(self, path: Path | str, *, wal_limit: int = WAL_LIMIT) -> None:
        self.path = Path(path)
        self.wal = WalKeeper(self.path, wal_limit)
        self._pending: deque[_WriteJob] = deque()
        self._background: deque[_WriteJob] = deque()
        self._background_ran = 0.0  # loop time of the last background batch
        self._busy: Callable[[], bool] = lambda: False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._conn: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._publisher: Publisher = lambda events: None
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="db-read")
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed (for benchmarks)
        self.jobs = 0
        self.longest_hold = 0.0  # seconds, the longest BEGIN..COMMIT so far (for benchmarks)
        self.holds: list[float] | None = None  # a benchmark sets a list: every BEGIN..COMMIT
        self._cache: dict[str, Any] = {}  # the writer's memory across transactions
        # Told (seconds BEGIN..COMMIT, writes in the batch) after each commit: /metrics.
        self.on_batch: Callable[[float, int], None] | None = None

    def set_busy_probe(self, busy: Callable[[], bool]) -> None:
        """Tell the writer when requests are in progress (background writes then wait)."""
        self._busy = busy

    def set_publisher(self, publisher: Publisher) -> None:
        """Route committed events (called on the event loop, in commit order)."""
        self._publisher = publisher

    async def open(self) -> None:
        """Apply the schema and start the writer."""
        # 0600 before SQLite writes a byte; its -wal and -shm inherit the mode.
        private_database(self.path)
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._writer, self._open_writer)
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run_writer())
        self.wal.start()

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path)
        apply_schema(conn)
        # Commits never copy the WAL back themselves: app/wal.py does it beside them.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        self.wal.configure(conn)
        return conn

    async def close(self) -> None:
        """Let queued writes commit, then stop the writer and close every connection."""
        await self.wal.stop()
        if self._task is not None:
            self._closing = True
            assert self._wake is not None
            self._wake.set()
            await self._task
            self._task = None
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._conn.close)
            self._conn = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()

    async def write(self, fn: Callable[[Tx], T], *, heavy: bool = False,
                    background: bool = False, durable: bool = True) -> T:
        """Run `fn(tx)` atomically on the write connection; return its result.

        `background` jobs (applying stored webhooks, figures, indexing, retention) yield to
        requests: they run when no other write waits and no burst of requests is in progress,
        and at least every BACKGROUND_MAX_WAIT seconds, so a burst is acknowledged at full
        speed and background work still progresses.

        `durable=False` (heavy jobs): when no job of its batch needs it, the COMMIT does not wait
        for the disk (synchronous=NORMAL). A power cut may then undo it, never a commit before
        it: the WAL is written in order, and the next durable commit syncs it with its own. For
        work that is simply redone if lost, such as retention, whose commits otherwise wait on
        the fsync of every slice.
        """
        assert self._wake is not None and not self._closing, "database not open"
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        (self._background if background else self._pending).append(
            _WriteJob(fn, future, heavy, background, durable))
        self._wake.set()
        return await future

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one read transaction (a consistent snapshot)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    # -- reads -------------------------------------------------------------------------------

    def _reader_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._read_conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader_conn()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    # -- the writer --------------------------------------------------------------------------

    def _take(self, now: float) -> tuple[list[_WriteJob], bool]:
        """The next batch: consecutive light jobs, or consecutive heavy ones, from the
        foreground unless the background has waited too long or nothing else is queued."""
        source = self._pending
        idle = not self._pending and not self._busy()
        if self._background and (idle or now - self._background_ran >= BACKGROUND_MAX_WAIT):
            source = self._background
            self._background_ran = now
        heavy = source[0].heavy
        jobs: list[_WriteJob] = []
        while source and len(jobs) < MAX_GROUP and source[0].heavy == heavy:
            jobs.append(source.popleft())
        return jobs, heavy

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None and self._conn is not None
        conn = self._conn
        while True:
            if not self._pending and not self._background:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            now = loop.time()
            wait = BACKGROUND_MAX_WAIT - (now - self._background_ran)
            if not self._pending and self._busy() and wait > 0:
                # Only background work is queued, and a burst of requests is in progress: give
                # them the writer first, for a little while.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            jobs, heavy = self._take(now)
            batch = _Batch(jobs)
            began = time.perf_counter()
            try:
                if heavy:
                    await loop.run_in_executor(self._writer, self._run_locked, conn, batch)
                else:
                    await self._begin(conn)
                    self._run_jobs(conn, batch, deadline=time.perf_counter() + INLINE_BUDGET)
                    _before_commit(conn, batch)
                    await loop.run_in_executor(self._writer, _commit, conn)
            except BaseException as exc:  # BEGIN or COMMIT failed: nothing in the batch happened
                log.exception("write batch failed", extra={"fields": {"jobs": len(jobs)}})
                self._cache.clear()  # it may describe rows that were never committed
                if conn.in_transaction:
                    await loop.run_in_executor(self._writer, conn.execute, "ROLLBACK")
                for job in jobs:
                    _set_exception(job.future, exc if isinstance(exc, Exception) else RuntimeError())
                if not isinstance(exc, Exception):
                    raise
                continue
            self.batches += 1
            self.jobs += len(batch.outcomes)
            held = time.perf_counter() - began
            self.longest_hold = max(self.longest_hold, held)
            if self.holds is not None:
                self.holds.append(held)
            if self.on_batch is not None:
                self.on_batch(held, len(batch.outcomes))
            self._finish_batch(batch)
            await self.wal.after_batch(conn)

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE on the loop; only when another process holds the lock, wait off it."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            pass  # locked by another process (the CLI): wait for it on the writer thread
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not conn.in_transaction:
            await asyncio.get_running_loop().run_in_executor(self._writer, conn.execute,
                                                             "BEGIN IMMEDIATE")

    def _run_locked(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """A whole batch on the writer thread (heavy jobs)."""
        lazy = not any(job.durable for job in batch.jobs)
        if lazy:
            conn.execute("PRAGMA synchronous = NORMAL")  # not inside a transaction: SQLite refuses
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._run_jobs(conn, batch, deadline=None)
            _before_commit(conn, batch)
            _commit(conn)
        finally:
            if lazy:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("PRAGMA synchronous = FULL")

    def _run_jobs(self, conn: sqlite3.Connection, batch: _Batch, deadline: float | None) -> None:
        """Each job in its own savepoint: a failing job undoes only itself.

        Past the deadline the rest of the batch goes back to the queue, so one long batch never
        holds the loop for long.
        """
        for i, job in enumerate(batch.jobs):
            if deadline is not None and i and time.perf_counter() > deadline:
                rest = batch.jobs[i:]
                (self._background if job.background else self._pending).extendleft(reversed(rest))
                del batch.jobs[i:]
                break
            tx = Tx(conn, cache=self._cache, batch_before_commit=batch.before_commit,
                    batch_keys=batch.keys)
            conn.execute("SAVEPOINT job")
            try:
                result = job.fn(tx)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                tx.undo()
                batch.outcomes.append((job, False, exc))
                continue
            conn.execute("RELEASE job")
            batch.outcomes.append((job, True, result))
            batch.events.extend(tx.events)
            batch.callbacks.extend(tx.after_commit)
            batch.before_commit.extend(tx.before_commit)

    def _finish_batch(self, batch: _Batch) -> None:
        """After COMMIT: publish the events, run hooks, answer the callers (in that order, so a
        REST reply never overtakes its own event)."""
        if batch.events:
            try:
                self._publisher(batch.events)
            except Exception:
                log.exception("publishing committed events failed")
        for cb in batch.callbacks:
            try:
                cb()
            except Exception:
                log.exception("after-commit hook failed")
        for job, ok, value in batch.outcomes:
            if ok:
                _set_result(job.future, value)
            else:
                _set_exception(job.future, value)


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _before_commit(conn: sqlite3.Connection, batch: _Batch) -> None:
    for step in batch.before_commit:
        step(conn)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
