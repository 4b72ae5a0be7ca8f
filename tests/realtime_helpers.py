"""Helpers shared by the realtime tests: stream setup, read hooks, barriers and raw sockets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from app import keys
from app.db import Database, Tx
from app.realtime import stream
from app.realtime.stream import StreamState
from tests.conftest import FRAME_TIMEOUT, next_frame


async def append_events(client: TestClient, tenant_id: int, n: int, *, name: str = "message:new",
                        key: object | None = None, data: Callable[[int], Any] | None = None) -> list[int]:
    """Append `n` events to a tenant's stream in ONE write (one commit, one publish pass)."""
    make = data or (lambda i: {"i": i})

    def write(tx: Tx) -> list[int]:
        return [stream.append(tx, tenant_id, name, make(i), key=key) for i in range(n)]

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


async def send(ws: ClientWebSocketResponse, frame: Any) -> None:
    """Send one JSON frame."""
    await ws.send_str(orjson.dumps(frame).decode())


async def barrier(ws: ClientWebSocketResponse, call_id: int) -> list[Any]:
    """Send a presence call; return every frame that arrived before its result.

    Frames are queued in order on one socket, so whatever the server had queued before it read
    the call comes first: an empty answer proves nothing else was pending.
    """
    await send(ws, {"type": "call", "id": call_id, "method": "presence"})
    seen: list[Any] = []
    while True:
        frame = await next_frame(ws)
        if isinstance(frame, dict) and frame.get("type") == "result" and frame.get("id") == call_id:
            assert frame["ok"] is True, frame
            return seen
        seen.append(frame)


def events_of(frames: list[Any]) -> list[dict[str, Any]]:
    """The `event` frames among `frames` (batched arrays flattened)."""
    flat: list[Any] = []
    for f in frames:
        flat.extend(f if isinstance(f, list) else [f])
    return [f for f in flat if f.get("type") == "event"]


def assert_strictly_increasing(events: list[dict[str, Any]]) -> list[int]:
    """Every event has an int seq, each greater than the one before; return the seqs."""
    seqs = [e["seq"] for e in events]
    assert all(isinstance(s, int) for s in seqs), seqs
    assert all(a < b for a, b in itertools.pairwise(seqs)), seqs
    return seqs


async def raw_ws(client: TestClient, path: str = "/ws?v=1", **kw: Any) -> ClientWebSocketResponse:
    """An upgraded socket that has not said hello."""
    return await client.ws_connect(path, **kw)


async def next_message(ws: ClientWebSocketResponse, timeout: float = FRAME_TIMEOUT) -> Any:
    """The next WebSocket message decoded as JSON (an object, or an array with `batch`)."""
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type is WSMsgType.TEXT, (msg.type, msg.data, ws.close_code)
    return orjson.loads(msg.data)


def error_codes(frames: list[Any]) -> list[str]:
    """Codes of the `error` frames among `frames`."""
    return [f["error"]["code"] for f in frames if isinstance(f, dict) and f.get("type") == "error"]
