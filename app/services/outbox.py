"""The outbox worker: starts due sends as the governor allows, calls the provider, records the
outcome.

A row is marked `sending` in its own commit right before the provider call. After a crash, a
`sending` row is never re-sent blindly (the Cloud API has no idempotency key): it becomes
`unconfirmed` and its message `failed`, so an agent decides. Rows waiting for a token or for
their retry time stay `queued`, so a crash never loses or repeats them.

Retryable refusals (throttling, 5xx, timeouts) go back to `queued` with a next-attempt time
(exponential back-off with jitter, MAX_ATTEMPTS in all); the worker sleeps until the earliest
due row, the next token of a busy number, or a wake. A refusal that needs an admin (an expired
token, a restricted number) fails the link with that reason and holds the tenant's other sends
until the link is connected again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable

import orjson

from app.clock import now_ms
from app.db import Database, Tx
from app.services import link, messages
from app.services.governor import Governor
from app.services.providers import ProviderRegistry
from app.tasks import cancel_and_wait
from app.whatsapp.base import OutboundMessage, ProviderError

log = logging.getLogger("condorito.outbox")

SEND_CONCURRENCY = 8   # sends in flight at once across tenants
MAX_ATTEMPTS = 6       # provider calls per message before a retryable error becomes final
BACKOFF_BASE = 1.0     # seconds before the 2nd attempt; doubles per attempt
BACKOFF_CAP = 60.0
# Link reasons that hold a tenant's sends until an admin connects again.
PAUSE_REASONS = ("auth_error", "restricted")


def backoff(attempt: int, min_delay: float = 0.0) -> float:
    """Seconds before attempt `attempt + 1`: exponential, capped, half of it random (jitter)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return max(min_delay, ceiling / 2 + random.uniform(0, ceiling / 2))


def due_tenants(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """Across tenants (the worker serves them all): who has queued rows, and the earliest due
    time of each; tenants whose sends are held are left out."""
    marks = ", ".join("?" * len(PAUSE_REASONS))
    rows = conn.execute(
        "SELECT o.tenant_id, MIN(o.next_attempt_at) FROM outbox o WHERE o.state = 'queued'"
        " AND NOT EXISTS (SELECT 1 FROM whatsapp_sessions s WHERE s.tenant_id = o.tenant_id"
        f" AND s.state = 'failed' AND s.reason IN ({marks})) GROUP BY o.tenant_id",
        PAUSE_REASONS,
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def due_rows(conn: sqlite3.Connection, tenant_id: int, now: int, limit: int,
             skip: set[int]) -> list[OutboundMessage]:
    """A tenant's due queued rows, oldest first, without those already being started."""
    rows = conn.execute(
        "SELECT o.id, o.message_id, m.body, ct.phone, r.wa_id, m.template FROM outbox o"
        " JOIN messages m ON m.id = o.message_id AND m.tenant_id = o.tenant_id"
        " LEFT JOIN messages r ON r.id = m.reply_to_id AND r.tenant_id = o.tenant_id"
        " JOIN conversations c ON c.id = m.conversation_id AND c.tenant_id = o.tenant_id"
        " JOIN contacts ct ON ct.id = c.contact_id AND ct.tenant_id = o.tenant_id"
        " WHERE o.tenant_id = ? AND o.state = 'queued' AND o.next_attempt_at <= ?"
        " ORDER BY o.id LIMIT ?",
        (tenant_id, now, limit + len(skip)),
    ).fetchall()
    out = [OutboundMessage(outbox_id=r[0], message_id=r[1], to=r[3], body=r[2], reply_to=r[4],
                           template=orjson.loads(r[5]) if r[5] else None)
           for r in rows if r[0] not in skip]
    return out[:limit]


def begin(tx: Tx, tenant_id: int, outbox_id: int) -> int | None:
    """Mark a queued row `sending` (one more attempt); None if it is no longer queued."""
    row = tx.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?"
        " WHERE id = ? AND tenant_id = ? AND state = 'queued' RETURNING attempts",
        (now_ms(), outbox_id, tenant_id),
    ).fetchone()
    return None if row is None else int(row[0])


def accepted(tx: Tx, tenant_id: int, msg: OutboundMessage, wa_id: str) -> None:
    """The provider took the message: it is `sent` now, and receipts find it by its id."""
    tx.execute("UPDATE outbox SET state = 'accepted', updated_at = ? WHERE id = ? AND tenant_id = ?",
               (now_ms(), msg.outbox_id, tenant_id))
    tx.execute("UPDATE messages SET wa_id = ? WHERE id = ? AND tenant_id = ?",
               (wa_id, msg.message_id, tenant_id))
    # Meta's 200 means accepted: the single tick shows now, not when a `sent` receipt comes.
    messages.set_status(tx, tenant_id, msg.message_id, "sent")
    messages.adopt_orphans(tx, tenant_id, msg.message_id, wa_id)


def retry_later(tx: Tx, tenant_id: int, msg: OutboundMessage, delay: float) -> None:
    """A retryable refusal: queued again with a due time; the message stays `queued`."""
    now = now_ms()
    tx.execute("UPDATE outbox SET state = 'queued', next_attempt_at = ?, updated_at = ?"
               " WHERE id = ? AND tenant_id = ?",
               (now + int(delay * 1000), now, msg.outbox_id, tenant_id))


def failed(tx: Tx, tenant_id: int, msg: OutboundMessage, code: str) -> None:
    """The provider refused the message for good."""
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
    """One background task starting sends whenever rows are due and tokens allow."""

    def __init__(self, db: Database, providers: ProviderRegistry,
                 files: Callable[[int, OutboundMessage], Awaitable[OutboundMessage]] | None = None,
                 governor: Governor | None = None) -> None:
        self._db = db
        self._providers = providers
        self._files = files  # adds an attachment's bytes (app/services/media_out.py)
        self.governor = governor or Governor()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(SEND_CONCURRENCY)
        self._inflight: set[asyncio.Task[None]] = set()
        self.on_failed: Callable[[str], None] = lambda code: None  # /metrics counts by code
        self._started: set[int] = set()  # outbox ids between dispatch and their last write
        self.on_paused: Callable[[int, str], None] = lambda tenant_id, reason: None
        # Asked right before each provider call: None lets the send go, a code refuses it (the
        # bulk runner refuses sends of a campaign paused or cancelled since they were queued).
        self.gate: Callable[[int, OutboundMessage], Awaitable[str | None]] | None = None

    def wake(self) -> None:
        """New rows are queued, or a held tenant may send again."""
        self._wake.set()

    async def start(self) -> None:
        """Recover interrupted sends, then start draining (queued rows from before included)."""
        n = await self._db.write(recover)
        if n:
            log.warning("unconfirmed sends after restart", extra={"fields": {"count": n}})
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def idle(self) -> None:
        """Until the sends started so far have recorded their outcome (tests, benchmarks)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def stop(self) -> None:
        """Stop starting sends; let sends in flight finish."""
        await cancel_and_wait(self._task)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a wake during dispatch is not lost
            try:
                delay = await self._dispatch()
            except Exception:
                log.exception("outbox dispatch failed")
                delay = BACKOFF_BASE
            if delay is not None and delay <= 0:
                await asyncio.sleep(0)  # let the sends just started run
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _dispatch(self) -> float | None:
        """Start every send that may go now; seconds until one more may (None: until woken)."""
        now = now_ms()
        waits: list[float] = []
        for tenant_id, earliest in await self._db.read(due_tenants):
            if earliest > now:
                waits.append((earliest - now) / 1000)
                continue
            allowed = self.governor.available(tenant_id)
            if allowed > 0:
                skip = set(self._started)
                rows = await self._db.read(
                    lambda c, t=tenant_id, n=allowed, s=skip: due_rows(c, t, now, n, s))
                for msg in rows:
                    if not self.governor.try_take(tenant_id):
                        break
                    await self._sem.acquire()
                    self._started.add(msg.outbox_id)
                    task = asyncio.get_running_loop().create_task(self._send(tenant_id, msg))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if len(rows) < allowed:
                    continue  # this tenant has nothing more due now
            waits.append(self.governor.wait(tenant_id))
        return min(waits) if waits else None

    async def _send(self, tenant_id: int, msg: OutboundMessage) -> None:
        attempt: int | None = None
        try:
            try:
                attempt = await self._db.write(lambda tx: begin(tx, tenant_id, msg.outbox_id))
                if attempt is None:
                    return
                provider = await self._providers.for_tenant(tenant_id)
                if self._files is not None:
                    msg = await self._files(tenant_id, msg)
                # Last thing before the call, with no suspension in between: a pause or cancel
                # answered before this is seen; one answered after finds the send started.
                refusal = await self.gate(tenant_id, msg) if self.gate is not None else None
                if refusal is not None:
                    raise ProviderError(refusal)
                wa_id = await provider.send(tenant_id, msg)
            finally:
                self._sem.release()  # the slot is for the call; recording the outcome is quick
        except ProviderError as exc:
            await self._refused(tenant_id, msg, attempt or 0, exc)
            return
        except Exception:
            log.exception("send crashed", extra={"fields": {"tenant": tenant_id, "outbox": msg.outbox_id}})
            self.on_failed("provider_error")
            await self._db.write(lambda tx: failed(tx, tenant_id, msg, "provider_error"))
            return
        finally:
            self._started.discard(msg.outbox_id)
        await self._db.write(lambda tx: accepted(tx, tenant_id, msg, wa_id))

    async def _refused(self, tenant_id: int, msg: OutboundMessage, attempt: int,
                       exc: ProviderError) -> None:
        code = exc.code
        fields = {"tenant": tenant_id, "outbox": msg.outbox_id, "code": code, "attempt": attempt}
        if exc.throttled:
            self.governor.throttled(tenant_id)
        if exc.retryable and attempt < MAX_ATTEMPTS:
            delay = backoff(attempt, exc.min_delay)
            await self._db.write(lambda tx: retry_later(tx, tenant_id, msg, delay))
            log.info("send retry", extra={"fields": {**fields, "delay": round(delay, 3)}})
            self.wake()  # the worker may be asleep for longer than this delay
            return
        reason = exc.pause
        self.on_failed(code)

        def write(tx: Tx) -> None:
            failed(tx, tenant_id, msg, code)
            if reason:
                link.set_state(tx, tenant_id, "failed", reason=reason)

        await self._db.write(write)
        if reason:
            log.warning("sends held", extra={"fields": {**fields, "reason": reason}})
            self.on_paused(tenant_id, reason)
        else:
            log.info("send refused", extra={"fields": fields})
