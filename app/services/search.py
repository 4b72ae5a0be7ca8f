"""The full-text index of message bodies, kept current in batches off the ingest path.

A search first catches the index up (one write), so results never miss a committed message.
"""

from __future__ import annotations

import asyncio
import logging

from app.db import Database, Tx

log = logging.getLogger("condorito.search")

BATCH = 2000        # rows per indexing transaction
DELAY = 0.5         # seconds a burst of new messages waits to be indexed together


def index_pending(tx: Tx, limit: int = BATCH) -> int:
    """Index up to `limit` messages not indexed yet; return how many."""
    last = tx.execute("SELECT last_id FROM search_index WHERE id = 1").fetchone()[0]
    top, count = tx.execute(
        "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)",
        (last, limit),
    ).fetchone()
    if not count:
        return 0
    # One document per conversation of the batch, in rowid order: FTS5 starts a new segment
    # whenever a rowid is not above the previous one, and messages come in any conversation's
    # order (a segment per message made the index slow to write and to read).
    tx.execute(
        "INSERT INTO conversations_fts (rowid, body)"
        " SELECT conversation_id, group_concat(body, ' ') FROM messages WHERE id > ? AND id <= ?"
        " GROUP BY conversation_id ORDER BY conversation_id",
        (last, top),
    )
    tx.execute("UPDATE search_index SET last_id = ? WHERE id = 1", (top,))
    return int(count)


class SearchIndexer:
    """Indexes new messages shortly after they commit, and on demand before a search."""

    def __init__(self, db: Database, delay: float = DELAY) -> None:
        self._db = db
        self.delay = delay
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def touch(self) -> None:
        """New messages committed: index them soon, together with whatever follows."""
        if self._closed or self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.catch_up()
        except Exception:
            log.exception("indexing failed")

    async def catch_up(self) -> None:
        """Index everything committed so far."""
        while await self._db.write(index_pending, heavy=True, background=True) >= BATCH:
            pass

    async def close(self) -> None:
        """Stop scheduling; finish a running pass."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
