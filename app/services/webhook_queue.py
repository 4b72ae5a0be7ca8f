"""Provider webhooks: stored durably before the 200, processed right after.

Meta's guidance (reference: whatsapp-apis §1.7): verify, persist the raw body, acknowledge,
then process. The acknowledgement costs one small INSERT in a group commit, so bursts are
absorbed at the rate the HTTP layer allows; processing follows in batches, and a row is removed
in the same transaction that applied it, so each delivery is applied exactly once, including
across a crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from app.clock import now_ms
from app.db import Database, Tx
from app.services.inbox import Inbox
from app.services.messages import TenantRef
from app.tasks import cancel_and_wait
from app.whatsapp.cloud_webhook import parse_webhook

log = logging.getLogger("condorito.webhooks")

# Rows applied per write: ~0.3 ms each, so one job stays within the writer's inline budget.
BATCH = 12
MAX_PARSED = 10_000  # parsed bodies kept in memory for the processor; beyond, read from disk


def store(tx: Tx, tenant_id: int, provider: str, body: bytes) -> int:
    """Keep a verified delivery; return its id."""
    return tx.execute(
        "INSERT INTO webhook_inbox (tenant_id, provider, body, received_at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (tenant_id, provider, body, now_ms()),
    ).fetchone()[0]


class WebhookQueue:
    """Accepts deliveries and applies them in the background, oldest first."""

    def __init__(self, db: Database, inbox: Inbox) -> None:
        self._db = db
        self._inbox = inbox
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()  # set after each processing pass
        self._parsed: dict[int, Any] = {}  # delivery id -> its parsed body, until applied
        self._task: asyncio.Task[None] | None = None

    async def accept(self, tenant_id: int, provider: str, body: bytes, payload: Any = None) -> None:
        """Commit the raw delivery (the caller answers 200 after this returns).

        `payload`, the body already parsed, is kept in memory so the processor need not parse it
        again; after a restart it is parsed from the stored bytes.
        """
        def write(tx: Tx) -> None:
            row_id = store(tx, tenant_id, provider, body)
            if payload is not None and len(self._parsed) < MAX_PARSED:
                tx.after_commit.append(lambda: self._parsed.__setitem__(row_id, payload))
            tx.after_commit.append(self._wake.set)
        await self._db.write(write)

    def start(self) -> None:
        """Begin processing, deliveries left by a previous run first."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def stop(self) -> None:
        """Stop after the batch in progress; the rest waits in the table for the next start."""
        await cancel_and_wait(self._task)

    async def idle(self) -> None:
        """Wait until every delivery accepted so far has been applied (or marked failed)."""
        while True:
            self._passed.clear()  # before counting: a pass finishing after the count still wakes us
            if not await self._db.read(_pending_count):
                return
            await self._passed.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while await self._db.write(self._apply_batch, background=True):
                    pass
            except Exception:
                log.exception("webhook processing failed")
            self._passed.set()

    def _apply_batch(self, tx: Tx) -> int:
        """Apply up to BATCH deliveries; a delivery that cannot be applied is kept, marked."""
        rows = tx.execute(
            "SELECT id, tenant_id FROM webhook_inbox WHERE failed_at IS NULL ORDER BY id LIMIT ?",
            (BATCH,),
        ).fetchall()
        channels: dict[int, tuple[TenantRef, str] | None] = {}
        applied: list[int] = []
        for row_id, tenant_id in rows:
            payload = self._parsed.pop(row_id, None)
            try:
                with tx.savepoint():
                    if tenant_id not in channels:
                        channels[tenant_id] = _channel(tx, tenant_id)
                    channel = channels[tenant_id]
                    if channel is not None:
                        if payload is None:  # stored by an earlier run: parse it from disk
                            payload = orjson.loads(tx.execute(
                                "SELECT body FROM webhook_inbox WHERE id = ?", (row_id,)).fetchone()[0])
                        batch = parse_webhook(payload, channel[1])
                        self._inbox.ingest_items(tx, channel[0], batch.messages, batch.statuses)
                        if batch.skipped:
                            log.info("webhook items skipped", extra={"fields": {
                                "tenant": tenant_id, "delivery": row_id, "skipped": batch.skipped}})
                applied.append(row_id)
            except Exception as exc:
                log.exception("webhook delivery failed", extra={"fields": {"delivery": row_id}})
                tx.execute("UPDATE webhook_inbox SET failed_at = ?, error = ? WHERE id = ?",
                           (now_ms(), type(exc).__name__, row_id))
        if applied:
            # Removed in the transaction that applied them: each delivery applies exactly once.
            tx.execute(f"DELETE FROM webhook_inbox WHERE id IN ({','.join('?' * len(applied))})",
                       applied)
        return len(rows)


def _pending_count(conn: Any) -> int:
    return conn.execute("SELECT COUNT(*) FROM webhook_inbox WHERE failed_at IS NULL").fetchone()[0]


def _channel(tx: Tx, tenant_id: int) -> tuple[TenantRef, str] | None:
    """The tenant and its Cloud API number, or None when it no longer uses the Cloud API."""
    row: Any = tx.execute(
        "SELECT t.code, c.phone_number_id FROM tenants t JOIN whatsapp_configs c"
        " ON c.tenant_id = t.id WHERE t.id = ? AND t.provider = 'cloud'",
        (tenant_id,),
    ).fetchone()
    return (TenantRef(tenant_id, row[0]), row[1] or "") if row else None
