"""The bulk runner: one task (owned by a cleanup_ctx) that feeds running campaigns to the outbox
at each number's pace, finishes them, and announces their progress.

Everything it knows is in the database, so a restart (or a crash) resumes every running
campaign by itself; a recipient left `sending` is reconciled first, never sent again blindly.
Pause and cancel withdraw the sends still queued, and the outbox asks `gate` right before each
provider call, so after the answer to a pause or cancel no send of that campaign starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from app.clock import now_ms
from app.db import Database, Tx
from app.services import bulk, bulk_send, pacing
from app.services.messages import TenantRef
from app.services.pacing import Pacer
from app.services.search import SearchIndexer
from app.services.stats import StatsCoalescer
from app.services.tenants import Directory
from app.tasks import cancel_and_wait
from app.whatsapp.base import OutboundMessage

log = logging.getLogger("condorito.bulk")

TICK = 0.25          # seconds between looks while a campaign runs (outcomes arrive meanwhile)
IDLE = 30.0          # seconds between looks with nothing running (actions wake it at once)
PROGRESS_INTERVAL = 0.5  # a campaign's progress events at most twice a second
CAP_RECHECK = 60.0   # a number at its 24 h cap looks again this often


class BulkRunner:
    """Serves every tenant's running campaigns."""

    def __init__(self, db: Database, tenants: Directory, stats: StatsCoalescer, search: SearchIndexer,
                 wake_outbox: Callable[[], None], rng: random.Random | None = None) -> None:
        self._db = db
        self._tenants = tenants
        self._stats = stats
        self._search = search
        self._wake_outbox = wake_outbox
        self._rng = rng or random.Random()
        self._pacers: dict[int, Pacer] = defaultdict(Pacer)
        self._turn: dict[int, int] = defaultdict(int)   # tenant -> next campaign to serve
        self._last_emit: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._queued: dict[int, tuple[int, int]] = {}  # message id -> (tenant, campaign) in the outbox
        self._stopped: dict[tuple[int, int], str] = {}  # paused/cancelled here -> refusal code
        self._passes = 0
        self._passed = asyncio.Condition()  # tests await passes instead of sleeping

    async def start(self) -> None:
        """Reconcile sends a crash interrupted (after the outbox's own recovery), then serve."""
        fixed = await self._db.write(bulk_send.reconcile)
        if fixed:
            log.warning("bulk sends reconciled after restart", extra={"fields": {"count": fixed}})
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop handing out sends (those in the outbox finish there)."""
        await cancel_and_wait(self._task)

    def wake(self) -> None:
        """Something changed (a campaign started, resumed...): look now."""
        self._wake.set()

    async def passes(self, n: int = 2) -> None:
        """Return after `n` more passes of the loop (each looks at every campaign once)."""
        for _ in range(n):
            async with self._passed:
                target = self._passes + 1
                self.wake()
                await self._passed.wait_for(lambda t=target: self._passes >= t)

    # -- the outbox asks, right before a provider call ------------------------------------------

    async def gate(self, tenant_id: int, msg: OutboundMessage) -> str | None:
        """None to let the send go, or the code to refuse it with (its campaign was paused or
        cancelled since it was queued). From memory, without suspending: the outbox calls it
        right before the provider call, and `control` marks a campaign stopped before its write,
        so after the answer to a pause or cancel no send of that campaign starts."""
        campaign = self._queued.get(msg.message_id)  # kept: a retried send asks again
        return None if campaign is None else self._stopped.get(campaign)

    # -- actions -------------------------------------------------------------------------------

    async def create(self, tenant_id: int, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """A draft campaign (POST /bulk)."""
        tenant = await self._tenants.get(tenant_id)
        return await self._db.write(lambda tx: bulk.create(
            tx, tenant_id, user_id, data, tenant.provider, tenant.default_country))

    async def control(self, tenant_id: int, campaign_id: int, action: str) -> dict[str, Any]:
        """start / pause / resume / cancel; the answer is the campaign after the move."""
        key = (tenant_id, campaign_id)  # the caller's tenant: another's campaign is never hit
        code = {"pause": "bulk_paused", "cancel": "bulk_cancelled"}.get(action)
        before = self._stopped.get(key)
        if code is not None:
            self._stopped[key] = code  # before the write: the gate refuses from now on

        def write(tx: Tx) -> dict[str, Any]:
            obj, _ = bulk.move(tx, tenant_id, campaign_id, action)
            if code is not None:
                for message_id in bulk_send.withdraw(tx, tenant_id, campaign_id, code):
                    self._queued.pop(message_id, None)
                obj = bulk.emit(tx, tenant_id, campaign_id)
            tx.after_commit.append(lambda: self._stats.touch(tenant_id))
            return obj
        try:
            obj = await self._db.write(write)
        except BaseException:
            if before is None:
                self._stopped.pop(key, None)
            else:
                self._stopped[key] = before
            raise
        if obj["status"] in ("running", "scheduled"):
            self._stopped.pop(key, None)
        self._last_emit[campaign_id] = time.monotonic()
        log.info("campaign", extra={"fields": {"tenant": tenant_id, "campaign": campaign_id,
                                               "action": action, "status": obj["status"]}})
        self.wake()
        return obj

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                delay = await self._tick()
            except Exception:
                log.exception("bulk runner tick failed")
                delay = 1.0
            async with self._passed:
                self._passes += 1
                self._passed.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.005, delay))
            self._wake.clear()

    async def _tick(self) -> float:
        """One pass: start what is due, feed each number, finish, announce. Returns the seconds
        until the next pass is needed."""
        campaigns = await self._db.read(bulk_send.active)
        now = now_ms()
        delay = IDLE
        running: dict[int, list[bulk_send.Active]] = defaultdict(list)
        for c in campaigns:
            if c.status == "scheduled":
                if c.start_at is not None and c.start_at > now:
                    delay = min(delay, (c.start_at - now) / 1000)
                    continue
                if await self._db.write(lambda tx, c=c: bulk_send.promote(tx, c.tenant_id, c.id)):
                    self._stats.touch(c.tenant_id)
            running[c.tenant_id].append(c)
        for tenant_id, camps in running.items():
            delay = min(delay, TICK, await self._feed(tenant_id, camps))
        return min(delay, await self._progress())

    async def _feed(self, tenant_id: int, camps: list[bulk_send.Active]) -> float:
        """Hand this number's due sends to the outbox, campaigns in turn; finish empty ones."""
        first = self._turn[tenant_id] % len(camps)
        order = camps[first:] + camps[:first]
        settings = order[0].pacing
        pacer = self._pacers[tenant_id]
        mono = time.monotonic()
        due = pacer.due(settings, mono)
        if due and settings.get("mode") == "human" and await self._at_cap(tenant_id, settings):
            return CAP_RECHECK
        tenant = await self._tenants.get(tenant_id)
        ref = TenantRef(tenant.id, tenant.code)
        handed = 0
        for c in order:
            if handed >= due:
                break
            queued, taken = await self._db.write(
                lambda tx, c=c, n=due - handed: self._queue(tx, ref, c.id, n))
            handed += taken
            if taken:
                self._turn[tenant_id] += 1
            if queued:
                self._wake_outbox()
            if not taken:
                await self._finish_or_wait(tenant_id, c.id)
        pacer.took(settings, handed, mono, self._rng)
        if not handed:  # nothing to hand over now: outcomes of sends in flight are awaited
            return TICK
        return max(0.0, pacer.next_at - time.monotonic())

    def _queue(self, tx: Tx, ref: TenantRef, campaign_id: int, limit: int) -> tuple[list[int], int]:
        queued, taken = bulk_send.queue_batch(tx, ref, campaign_id, limit)
        if queued:
            def known() -> None:  # at commit, before the outbox can start any of them
                for message_id in queued:
                    self._queued[message_id] = (ref.id, campaign_id)
                self._stats.touch(ref.id)
            tx.after_commit.append(known)
            tx.after_commit.append(self._search.touch)
        return queued, taken

    async def _finish_or_wait(self, tenant_id: int, campaign_id: int) -> None:
        if await self._db.write(lambda tx: bulk_send.finish_if_done(tx, tenant_id, campaign_id)):
            self._last_emit[campaign_id] = time.monotonic()
            done = (tenant_id, campaign_id)
            for message_id in [m for m, c in self._queued.items() if c == done]:
                del self._queued[message_id]
            self._stats.touch(tenant_id)
            log.info("campaign completed", extra={"fields": {"tenant": tenant_id,
                                                             "campaign": campaign_id}})

    async def _at_cap(self, tenant_id: int, settings: dict[str, Any]) -> bool:
        """Human pacing: the number sent its 24 h allowance (with the warm-up ramp) already."""
        def read(conn: sqlite3.Connection) -> bool:
            now = now_ms()
            cap = pacing.cap_today(settings, bulk_send.linked_since(conn, tenant_id), now)
            return cap is not None and bulk_send.sent_since(conn, tenant_id, now - pacing.DAY_MS) >= cap
        return bool(await self._db.read(read))

    async def _progress(self) -> float:
        """Announce campaigns whose counts changed, each at most every PROGRESS_INTERVAL; the
        counts are read in the write that appends the event, so the last one is true."""
        changed = await self._db.read(bulk_send.dirty)
        if not changed:
            return IDLE
        mono = time.monotonic()
        ready = [(cid, tid) for cid, tid in changed
                 if mono - self._last_emit.get(cid, 0.0) >= PROGRESS_INTERVAL]
        if ready:
            def write(tx: Tx) -> None:
                for cid, tid in ready:
                    bulk.emit(tx, tid, cid)
            await self._db.write(write, background=True)
            for cid, _ in ready:
                self._last_emit[cid] = mono
        waits = [PROGRESS_INTERVAL - (mono - self._last_emit.get(cid, 0.0)) for cid, _ in changed]
        return max(0.01, min(waits))
