"""Keeping the write-ahead log small: a passive checkpoint every CHECKPOINT_PERIOD s beside the
commits, and a truncating one between two batches once the WAL passes half its limit.

Commits never copy the WAL back themselves (a copy and its fsync took up to half a second inside
a COMMIT); passive checkpoints copy pages but cannot restart the WAL while writes keep coming, so
under a sustained load it grew without end (8 GB during a bulk import) without the truncation.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.sqlite import BUSY_TIMEOUT_MS, connect
from app.tasks import cancel_and_wait

log = logging.getLogger("condorito.db")

CHECKPOINT_PERIOD = 1.0  # seconds; bounds the WAL to about a second of writes
WAL_LIMIT = 64 * 1024 * 1024  # bytes; CONDORITO_WAL_LIMIT_MB
# How long a truncating checkpoint waits for readers (they are short) before giving up until
# the next try, at most every WAL_RETRY seconds.
WAL_WAIT_MS = 1000
WAL_RETRY = 1.0


class WalKeeper:
    """The checkpoints of one database file, on their own thread and connection."""

    def __init__(self, path: Path, limit: int = WAL_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self._wal_path = Path(f"{path}-wal")
        self._tried = float("-inf")  # loop time of the last truncating checkpoint
        self.truncations = 0  # (for benchmarks and tests)
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-checkpoint")

    def configure(self, conn: sqlite3.Connection) -> None:
        """A WAL that restarts from the beginning is cut back to the limit (never, by default)."""
        conn.execute(f"PRAGMA journal_size_limit = {int(self.limit)}")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._thread.shutdown(wait=True)

    async def after_batch(self, conn: sqlite3.Connection) -> None:
        """Between two batches of the writer: truncate the WAL if it passed half its limit."""
        loop = asyncio.get_running_loop()
        if self._task is None or not self._over(loop.time()):
            return
        self._tried = loop.time()
        try:
            # On the checkpoint thread: after the passive checkpoint running there, if any (two
            # checkpoints at once: the second gives up at once, busy).
            await loop.run_in_executor(self._thread, self._truncate, conn)
        except sqlite3.Error:
            log.exception("WAL checkpoint failed")

    def _over(self, now: float) -> bool:
        """True when the WAL has passed half its limit (and the last attempt is not too recent).

        Half: the batches committed until the checkpoint runs, and those behind a reader that
        delays it, keep the peak under the limit itself.
        """
        if now - self._tried < WAL_RETRY:
            return False
        try:
            return self._wal_path.stat().st_size > self.limit // 2
        except FileNotFoundError:
            return False

    def _truncate(self, conn: sqlite3.Connection) -> None:
        """Copy the whole WAL into the database and cut it to zero. Holds the writer (it runs
        between batches) and waits briefly for the readers still on old pages."""
        conn.execute(f"PRAGMA busy_timeout = {WAL_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if busy:
            log.warning("WAL over its limit; readers kept it from being truncated",
                        extra={"fields": {"limit": self.limit}})
        else:
            self.truncations += 1

    async def _run(self) -> None:
        """Copy the WAL into the database every CHECKPOINT_PERIOD s, without blocking writers."""
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self._thread, connect, self.path)
        self.configure(conn)
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_PERIOD)
                try:
                    await loop.run_in_executor(self._thread, _passive, conn)
                except sqlite3.Error:
                    log.exception("checkpoint failed")
        finally:
            await loop.run_in_executor(self._thread, conn.close)


def _passive(conn: sqlite3.Connection) -> None:
    # PASSIVE: copies what no reader still needs and never waits for a lock.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
