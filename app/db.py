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
import logging
import queue
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("condorito.db")

T = TypeVar("T")

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 2
# Writes queued while a transaction runs join the next one; past this many the batch is cut so
# one commit never holds the early callers for long.
MAX_GROUP = 256
READERS = 3


@dataclass(slots=True)
class Tx:
    """What a write function gets: the connection and the events it appends."""

    conn: sqlite3.Connection
    events: list[Any] = field(default_factory=list)  # stream events, published after COMMIT
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run one statement on the write connection."""
        return self.conn.execute(sql, params)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested atomic step: on error its rows and events are undone, the rest stays."""
        self.conn.execute("SAVEPOINT step")
        mark = len(self.events)
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            del self.events[mark:]
            raise
        self.conn.execute("RELEASE step")


Publisher = Callable[[list[Any]], None]


def fold(text: str | None) -> str | None:
    """Case- and accent-insensitive form of a text ("José Ñúñez" -> "jose nunez")."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the pragmas and functions every connection needs."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=10.0
    )
    conn.row_factory = sqlite3.Row
    conn.create_function("fold", 1, fold, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        # FULL: a webhook we acknowledged must survive a power cut (Meta does not resend);
        # group commit makes the extra fsync cheap.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def apply_schema(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema (idempotent)."""
    conn.execute("PRAGMA journal_mode = WAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {version} is newer than this program ({SCHEMA_VERSION})")
    if version < SCHEMA_VERSION:
        conn.executescript(SCHEMA_PATH.read_text())


@dataclass(slots=True)
class _WriteJob:
    fn: Callable[[Tx], Any]
    future: asyncio.Future[Any]


_STOP = object()


class Database:
    """The single writer and the read pool of one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publisher: Publisher = lambda events: None
        self._thread: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="db-read")
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed (for benchmarks)
        self.jobs = 0

    def set_publisher(self, publisher: Publisher) -> None:
        """Route committed events (called on the event loop, in commit order)."""
        self._publisher = publisher

    async def open(self) -> None:
        """Apply the schema and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run_writer, args=(ready,), name="db-writer", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        """Let queued writes commit, then stop the writer and close every connection."""
        if self._thread is not None:
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` atomically on the write connection; return its result."""
        assert self._loop is not None, "database not open"
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_WriteJob(fn, future))
        return await future

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one read transaction (a consistent snapshot)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    # -- threads -----------------------------------------------------------------------------

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

    def _run_writer(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = connect(self.path)
            apply_schema(conn)
        except BaseException as exc:  # report start-up failure to open()
            loop.call_soon_threadsafe(_set_exception, ready, exc)
            return
        loop.call_soon_threadsafe(_set_result, ready, None)
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs = [first]
            while len(jobs) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                jobs.append(nxt)
            self._run_batch(conn, jobs)
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_WriteJob]) -> None:
        loop = self._loop
        assert loop is not None
        outcomes: list[tuple[_WriteJob, bool, Any]] = []
        events: list[Any] = []
        callbacks: list[Callable[[], None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                tx = Tx(conn)
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(tx)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, False, exc))
                    continue
                conn.execute("RELEASE job")
                outcomes.append((job, True, result))
                events.extend(tx.events)
                callbacks.extend(tx.after_commit)
            conn.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed: nothing in the batch happened
            log.exception("write batch failed", extra={"fields": {"jobs": len(jobs)}})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in jobs:
                loop.call_soon_threadsafe(_set_exception, job.future, exc)
            return
        self.batches += 1
        self.jobs += len(jobs)
        # One wake-up of the loop per batch; publishing comes first, so a REST reply never
        # overtakes its own event.
        loop.call_soon_threadsafe(self._finish_batch, events, callbacks, outcomes)

    def _finish_batch(
        self,
        events: list[Any],
        callbacks: list[Callable[[], None]],
        outcomes: list[tuple[_WriteJob, bool, Any]],
    ) -> None:
        """On the loop: publish the batch's events, run hooks, answer the callers."""
        if events:
            try:
                self._publisher(events)
            except Exception:
                log.exception("publishing committed events failed")
        for cb in callbacks:
            try:
                cb()
            except Exception:
                log.exception("after-commit hook failed")
        for job, ok, value in outcomes:
            if ok:
                _set_result(job.future, value)
            else:
                _set_exception(job.future, value)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def backup(source: Path | str, target: Path | str) -> None:
    """Copy a live database consistently with SQLite's online backup API."""
    src = connect(source, readonly=True)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
