"""Dashboard figures: read from counters kept with every change, announced at most a few times per second."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import Database, Tx
from app.realtime import stream

log = logging.getLogger("condorito.stats")

# A burst of 1 000 inbound messages becomes ~4 stats events per second, the last one true.
MIN_INTERVAL = 0.25
BUCKET_MS = 15 * 60 * 1000  # message_counts granularity: every UTC offset is a multiple of it
KEEP_BUCKETS_MS = 3 * 24 * 3600 * 1000  # "today" anywhere on Earth lies within this
HOUR_MS = 3600 * 1000


def count_message(tx: Tx, tenant_id: int, direction: str, created_at: int) -> None:
    """Count one new message for the dashboard, in the transaction that stores it."""
    tx.execute(
        "INSERT INTO message_counts (tenant_id, bucket, direction, n) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (tenant_id, bucket, direction) DO UPDATE SET n = n + 1",
        (tenant_id, created_at // BUCKET_MS, direction),
    )


def prune_counts(tx: Tx, now: int, limit: int = 2000) -> int:
    """Forget quarter hours no dashboard can ask for any more, about `limit` rows at a time
    (the first pass on an old database finds years of them); each slice is a primary-key range."""
    cutoff = (now - KEEP_BUCKETS_MS) // BUCKET_MS
    removed = 0
    for (tenant_id,) in tx.execute("SELECT id FROM tenants").fetchall():
        if removed >= limit:
            break
        row = tx.execute(
            "SELECT bucket FROM message_counts WHERE tenant_id = ? AND bucket < ?"
            " ORDER BY bucket LIMIT 1 OFFSET ?", (tenant_id, cutoff, limit - removed - 1),
        ).fetchone()
        removed += tx.execute(
            "DELETE FROM message_counts WHERE tenant_id = ? AND bucket <= ?",
            (tenant_id, row[0] if row else cutoff - 1),
        ).rowcount
    return removed


def _day_start_ms(timezone: str) -> int:
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    now = datetime.now(tz)
    return int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def compute(conn: sqlite3.Connection, tenant_id: int) -> dict[str, Any]:
    """The GET /stats object (without seq), read inside the caller's transaction."""
    tz_row = conn.execute("SELECT timezone FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    since = _day_start_ms(tz_row[0] if tz_row else "UTC")
    # Kept by triggers (schema.sql, tenant_counts) in the transaction of each change.
    counts = conn.execute(
        "SELECT conversations_open, unread, contacts FROM tenant_counts WHERE tenant_id = ?",
        (tenant_id,),
    ).fetchone()
    open_count, unread, contacts = counts if counts is not None else (0, 0, 0)
    today = dict(
        conn.execute(
            "SELECT direction, SUM(n) FROM message_counts WHERE tenant_id = ? AND bucket >= ?"
            " GROUP BY direction",
            (tenant_id, since // BUCKET_MS),
        ).fetchall()
    )
    return {
        "conversations_open": open_count,
        "unread": unread,
        "messages_today_in": today.get("in", 0),
        "messages_today_out": today.get("out", 0),
        "contacts": contacts,
        "bulk_active": conn.execute(
            "SELECT COUNT(*) FROM campaigns WHERE status = 'running' AND tenant_id = ?", (tenant_id,)
        ).fetchone()[0],
    }


def emit(tx: Tx, tenant_id: int) -> dict[str, Any]:
    """Compute the figures and append them as stats:updated in the same transaction.

    The data is the whole GET /stats object (PROTOCOL §3.2): its `seq` is the event's own seq,
    the stream head at which a GET /stats would read the same figures.
    """
    data = {**compute(tx.conn, tenant_id), "seq": stream.next_seq(tx, tenant_id)}
    seq = stream.append(tx, tenant_id, "stats:updated", data)
    assert seq == data["seq"], (seq, data["seq"])  # one writer: nothing appends in between
    return data


class StatsCoalescer:
    """Turns many 'stats may have changed' touches into few stats:updated events.

    The figures are computed inside the write that emits them, and a touch arriving while one is
    being emitted schedules another, so the last event always carries the true value.
    """

    def __init__(self, db: Database, min_interval: float = MIN_INTERVAL) -> None:
        self._db = db
        self._interval = min_interval
        self._next_allowed: dict[int, float] = {}
        self._scheduled: dict[int, asyncio.TimerHandle] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self._closed = False

    def touch(self, tenant_id: int) -> None:
        """Something that feeds the stats changed and has committed."""
        if self._closed or tenant_id in self._scheduled:
            return
        if tenant_id in self._running:
            self._again.add(tenant_id)
            return
        delay = max(0.0, self._next_allowed.get(tenant_id, 0.0) - time.monotonic())
        loop = asyncio.get_running_loop()
        self._scheduled[tenant_id] = loop.call_later(delay, self._fire, tenant_id)

    def _fire(self, tenant_id: int) -> None:
        self._scheduled.pop(tenant_id, None)
        self._running[tenant_id] = asyncio.get_running_loop().create_task(self._emit(tenant_id))

    async def _emit(self, tenant_id: int) -> None:
        try:
            await self._db.write(lambda tx: emit(tx, tenant_id), heavy=True, background=True)
        except Exception:
            log.exception("stats emit failed", extra={"fields": {"tenant": tenant_id}})
        finally:
            self._next_allowed[tenant_id] = time.monotonic() + self._interval
            del self._running[tenant_id]
            if tenant_id in self._again:
                self._again.discard(tenant_id)
                self.touch(tenant_id)

    async def close(self) -> None:
        """Stop scheduling; let running emits finish."""
        self._closed = True
        for handle in self._scheduled.values():
            handle.cancel()
        self._scheduled.clear()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


def unread_total(conn: sqlite3.Connection, tenant_id: int) -> int:
    """Unread messages over open conversations: the count on the "Chats" tab (as GET /stats)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(unread_count), 0) FROM conversations WHERE tenant_id = ? AND status = 'open'",
        (tenant_id,),
    ).fetchone()
    return int(row[0])


def hourly(conn: sqlite3.Connection, tenant_id: int) -> dict[str, Any]:
    """Today's messages in and out per hour (the tenant's day, as the "today" figures)."""
    tz_row = conn.execute("SELECT timezone FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    since = _day_start_ms(tz_row[0] if tz_row else "UTC")
    hours = [{"start": since + h * HOUR_MS, "in": 0, "out": 0} for h in range(24)]
    rows = conn.execute(
        "SELECT bucket, direction, n FROM message_counts WHERE tenant_id = ? AND bucket >= ?"
        " AND bucket < ?",
        (tenant_id, since // BUCKET_MS, (since + 24 * HOUR_MS) // BUCKET_MS),
    ).fetchall()
    for bucket, direction, n in rows:
        # A day with a DST change has 23 or 25 hours: the extra hour counts in the last slot.
        slot = min(23, max(0, (bucket * BUCKET_MS - since) // HOUR_MS))
        hours[slot][direction] += n
    return {"day_start": since, "hours": hours}
