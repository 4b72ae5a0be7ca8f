"""The retention task: keeps each tenant's stream to its window (>= 24 h and >= 10 000 events)."""

from __future__ import annotations

import asyncio
import logging

from app.clock import now_ms
from app.db import Database, Tx
from app.realtime import stream
from app.services import messages, stats
from app.tasks import cancel_and_wait

log = logging.getLogger("condorito.retention")

ORPHAN_MAX_AGE_MS = 24 * 3600 * 1000  # a receipt whose message never appeared in a day never will
# Rows removed per transaction: a few ms of work and a small commit (one pass after downtime deleted
# 512 000 events in one 8.8 s transaction, every request waiting behind it).
SLICE = 500


class Retention:
    """Prunes the event log every `period` seconds."""

    def __init__(self, db: Database, *, max_age_ms: int, keep_events: int, period: float) -> None:
        self._db = db
        self.max_age_ms = max_age_ms
        self.keep_events = keep_events
        self._period = period
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin pruning in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the task."""
        await cancel_and_wait(self._task)

    async def prune_now(self) -> int:
        """One pass, in slices of at most SLICE events, each its own background write (requests
        get the writer between them); returns the number of events removed."""
        def housekeeping(tx: Tx) -> int:
            messages.prune_orphans(tx, ORPHAN_MAX_AGE_MS)
            return stats.prune_counts(tx, now_ms(), SLICE)

        def prune_slice(tx: Tx) -> int:
            return stream.prune(tx, max_age_ms=self.max_age_ms, keep_events=self.keep_events,
                                max_rows=SLICE)

        # Not durable: a slice a power cut undoes is pruned again by the next pass.
        while await self._db.write(housekeeping, heavy=True, background=True,
                                   durable=False) >= SLICE:
            pass
        removed = 0
        while True:
            n = await self._db.write(prune_slice, heavy=True, background=True, durable=False)
            removed += n
            if n < SLICE:
                return removed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._period)
            try:
                removed = await self.prune_now()
            except Exception:
                log.exception("retention pass failed")
                continue
            if removed:
                log.info("events pruned", extra={"fields": {"removed": removed}})
