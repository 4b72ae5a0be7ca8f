"""The injector: builds and sends the HTTP requests that deliver messages to a server (sandbox
route, the baseline's /inbound, or signed Cloud API webhooks), at a fixed rate or as fast as
possible, and records in the run which ones were acknowledged."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bookkeeping import Run
from errors import BenchError
from httpclient import HttpPool
from payloads import baseline_request, body_text, phone_of, sandbox_request, webhook_request
from procfs import now_us
from servers import Tenant


@dataclass
class Injector:
    """Builds and sends the HTTP requests that deliver messages (sandbox route or signed webhook)."""

    pool: HttpPool
    target: str            # "condorito" | "baseline"
    kind: str              # "sandbox" | "webhook"
    tenants: list[Tenant]
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    def request(self, t: Tenant, k: int, tag: str = "bx") -> bytes:
        body = body_text(t.index, k, now_us(), tag)
        phone = phone_of(t.index, k)
        wa_id = f"wamid.{tag}{self.run_id}.{t.index}.{k}"
        if self.kind == "webhook":
            return webhook_request(self.pool, t, phone, [(wa_id, body)])
        if self.target == "condorito":
            return sandbox_request(self.pool, t, phone, body, wa_id)
        return baseline_request(self.pool, t, phone, body, wa_id)

    async def warmup(self, per_tenant: int) -> int:
        """Unmeasured messages (one per customer phone) so contacts and caches exist."""
        ok = 0

        async def one(t: Tenant, k: int) -> None:
            nonlocal ok
            status, _ = await self.pool.send_raw(self.request(t, k, "bw"))
            ok += status in (200, 202)

        await asyncio.gather(*(one(t, k) for k in range(per_tenant) for t in self.tenants))
        return ok

    def _record(self, run: Run, t: Tenant, k: int, status: int, body: bytes) -> None:
        if status in (200, 202):
            run.acked[t.index][k] = 1
        else:
            run.note_post_failure(f"HTTP {status} {body[:160]!r}")

    async def fixed_rate(self, run: Run, rate: float, total: int) -> None:
        """Send `total` messages at `rate`/s (tenants alternate); waits for free connections."""
        pending: set[asyncio.Future[Any]] = set()
        t0 = time.monotonic()
        run.first_send = now_us()
        n_t = len(self.tenants)
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            conn = await self.pool.acquire()
            t = self.tenants[i % n_t]
            k = i // n_t
            fut = conn.send(self.request(t, k))
            pending.add(fut)
            fut.add_done_callback(self._done_cb(run, conn, t, k, pending))
            run.sent += 1
        run.last_send = now_us()
        if pending:
            await asyncio.wait(pending)

    def _done_cb(self, run: Run, conn: Any, t: Tenant, k: int,
                 pending: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
        def done(fut: asyncio.Future[Any]) -> None:
            pending.discard(fut)
            self.pool.release(conn)
            exc = fut.exception()
            if exc is not None:
                run.note_post_failure(repr(exc))
                return
            status, body = fut.result()
            self._record(run, t, k, status, body)
        return done

    async def as_fast_as_possible(self, run: Run, total: int, inflight: int) -> None:
        """`inflight` workers, each sending its next message as soon as the previous answered."""
        counter = itertools.count()
        n_t = len(self.tenants)
        run.first_send = now_us()

        async def worker() -> None:
            while True:
                i = next(counter)
                if i >= total:
                    return
                t = self.tenants[i % n_t]
                k = i // n_t
                run.sent += 1
                try:
                    status, body = await self.pool.send_raw(self.request(t, k))
                except (ConnectionError, BenchError) as exc:
                    run.note_post_failure(repr(exc))
                    continue
                self._record(run, t, k, status, body)

        await asyncio.gather(*(worker() for _ in range(inflight)))
        run.last_send = now_us()

    async def inject(self, run: Run, total: int, rate: float | None, inflight: int) -> None:
        """`total` messages at `rate`/s when given, else as fast as possible, `inflight` at most."""
        if rate:
            await self.fixed_rate(run, rate, total)
        else:
            await self.as_fast_as_possible(run, total, inflight)
