"""Event-stream test helpers: append, inspect and prune a tenant's stream; hook reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.db import Database, Tx
from app.realtime import stream
from app.realtime.stream import StreamState


async def append_events(client: TestClient, tenant_id: int, n: int, *, name: str = "message:new",
                        key: object | None = None, data: Callable[[int], Any] | None = None,
                        audience: str | None = None) -> list[int]:
    """Append `n` events to a tenant's stream in ONE write (one commit, one publish pass)."""
    make = data or (lambda i: {"i": i})

    def write(tx: Tx) -> list[int]:
        return [stream.append(tx, tenant_id, name, make(i), key=key, audience=audience) for i in range(n)]

    return await client.app[keys.DB].write(write)


async def stream_state(client: TestClient, tenant_id: int) -> StreamState:
    """The tenant's `rt_stream` row."""
    return await client.app[keys.DB].read(lambda c: stream.read_state(c, tenant_id))


async def stored_seqs(client: TestClient, tenant_id: int) -> list[int]:
    """Seqs of the events kept in the log, oldest first."""
    rows = await client.app[keys.DB].read(lambda c: c.execute(
        "SELECT seq FROM rt_event WHERE tenant_id = ? ORDER BY seq", (tenant_id,)).fetchall())
    return [r[0] for r in rows]


async def prune(client: TestClient, keep_events: int) -> int:
    """Retention with every row counted as old; keeps the newest `keep_events` per tenant."""
    return await client.app[keys.DB].write(
        lambda tx: stream.prune(tx, max_age_ms=-10**9, keep_events=keep_events))


def hook_reads(monkeypatch: pytest.MonkeyPatch, db: Database, *,
               before: Callable[[], Awaitable[None]] | None = None,
               after: Callable[[Any], None] | None = None) -> None:
    """Wrap `db.read` on this Database instance: await `before()` first, call `after(result)`."""
    original = db.read

    async def read(fn: Callable[[Any], Any]) -> Any:
        if before is not None:
            await before()
        result = await original(fn)
        if after is not None:
            after(result)
        return result

    monkeypatch.setattr(db, "read", read)
