"""The outbox worker: claims queued sends, calls the provider, records the outcome.

A row is marked `sending` before the provider call. After a crash, a `sending` row is never
re-sent blindly (the Cloud API has no idempotency key): it becomes `unconfirmed` and its
message `failed`, so an agent decides.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable

from app.clock import now_ms
from app.db import Database, Tx
from app.services import messages
from app.services.providers import ProviderRegistry
from app.tasks import cancel_and_wait
from app.whatsapp.base import OutboundMessage, ProviderError

log = logging.getLogger("condorito.outbox")

CLAIM_BATCH = 50
SEND_CONCURRENCY = 8  # sends in flight at once across tenants


def claim(tx: Tx, limit: int = CLAIM_BATCH) -> list[tuple[int, OutboundMessage]]:
    """Take queued rows (oldest first) and mark them `sending`."""
    rows = tx.execute(
        "SELECT o.id, o.tenant_id, o.message_id, m.body, ct.phone FROM outbox o"
        " JOIN messages m ON m.id = o.message_id AND m.tenant_id = o.tenant_id"
        " JOIN conversations c ON c.id = m.conversation_id AND c.tenant_id = o.tenant_id"
        " JOIN contacts ct ON ct.id = c.contact_id AND ct.tenant_id = o.tenant_id"
        " WHERE o.state = 'queued' ORDER BY o.id LIMIT ?",
        (limit,),
    ).fetchall()
    now = now_ms()
    for row in rows:
        tx.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ? AND tenant_id = ?",
            (now, row[0], row[1]),
        )
    return [(r[1], OutboundMessage(outbox_id=r[0], message_id=r[2], to=r[4], body=r[3])) for r in rows]


def accepted(tx: Tx, tenant_id: int, msg: OutboundMessage, wa_id: str) -> None:
    """The provider took the message: remember its id so receipts find it."""
    tx.execute("UPDATE outbox SET state = 'accepted', updated_at = ? WHERE id = ? AND tenant_id = ?",
               (now_ms(), msg.outbox_id, tenant_id))
    tx.execute("UPDATE messages SET wa_id = ? WHERE id = ? AND tenant_id = ?",
               (wa_id, msg.message_id, tenant_id))
    messages.adopt_orphans(tx, tenant_id, msg.message_id, wa_id)


def failed(tx: Tx, tenant_id: int, msg: OutboundMessage, code: str) -> None:
    """The provider refused the message."""
    tx.execute("UPDATE outbox SET state = 'failed', updated_at = ? WHERE id = ? AND tenant_id = ?",
               (now_ms(), msg.outbox_id, tenant_id))
    messages.set_status(tx, tenant_id, msg.message_id, "failed", code)


def depth(conn: sqlite3.Connection) -> int:
    """Sends queued or in flight over every tenant (/metrics; a count, no tenant's data)."""
    return conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')").fetchone()[0]


def recover(tx: Tx) -> int:
    """At start-up: sends interrupted mid-call are flagged, not repeated."""
    rows = tx.execute("SELECT id, tenant_id, message_id FROM outbox WHERE state = 'sending'").fetchall()
    for outbox_id, tenant_id, message_id in rows:
        tx.execute("UPDATE outbox SET state = 'unconfirmed' WHERE id = ? AND tenant_id = ?",
                   (outbox_id, tenant_id))
        messages.set_status(tx, tenant_id, message_id, "failed", "send_unconfirmed")
    return len(rows)


class OutboxWorker:
    """One background task draining the outbox whenever it is woken."""

    def __init__(self, db: Database, providers: ProviderRegistry,
                 files: Callable[[int, OutboundMessage], Awaitable[OutboundMessage]] | None = None) -> None:
        self._db = db
        self._providers = providers
        self._files = files  # adds an attachment's bytes (app/services/media_out.py)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(SEND_CONCURRENCY)
        self._inflight: set[asyncio.Task[None]] = set()
        self.on_failed: Callable[[str], None] = lambda code: None  # /metrics counts by code

    def wake(self) -> None:
        """New rows are queued."""
        self._wake.set()

    async def start(self) -> None:
        """Recover interrupted sends, then start draining (queued rows from before included)."""
        n = await self._db.write(recover)
        if n:
            log.warning("unconfirmed sends after restart", extra={"fields": {"count": n}})
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; let sends in flight finish."""
        await cancel_and_wait(self._task)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                batch = await self._db.write(claim)
                if not batch:
                    break
                for tenant_id, msg in batch:
                    await self._sem.acquire()
                    task = asyncio.get_running_loop().create_task(self._send(tenant_id, msg))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)

    async def _send(self, tenant_id: int, msg: OutboundMessage) -> None:
        try:
            provider = await self._providers.for_tenant(tenant_id)
            if self._files is not None:
                msg = await self._files(tenant_id, msg)
            wa_id = await provider.send(tenant_id, msg)
        except ProviderError as exc:
            code = exc.code
            self.on_failed(code)
            await self._db.write(lambda tx: failed(tx, tenant_id, msg, code))
            log.info("send refused", extra={"fields": {"tenant": tenant_id, "outbox": msg.outbox_id,
                                                       "code": code}})
            return
        except Exception:
            log.exception("send crashed", extra={"fields": {"tenant": tenant_id, "outbox": msg.outbox_id}})
            self.on_failed("provider_error")
            await self._db.write(lambda tx: failed(tx, tenant_id, msg, "provider_error"))
            return
        finally:
            self._sem.release()
        await self._db.write(lambda tx: accepted(tx, tenant_id, msg, wa_id))
