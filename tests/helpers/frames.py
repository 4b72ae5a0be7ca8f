"""WebSocket test helpers: read frames, wait for events and closes, barriers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

FRAME_TIMEOUT = 5.0
_call_ids = itertools.count(1_000_000)  # call ids must increase per socket; one global counter does


async def send(ws: ClientWebSocketResponse, frame: Any) -> None:
    """Send one JSON frame."""
    await ws.send_str(orjson.dumps(frame).decode())


async def raw_ws(client: TestClient, path: str = "/ws?v=1", **kw: Any) -> ClientWebSocketResponse:
    """An upgraded socket that has not said hello."""
    return await client.ws_connect(path, **kw)


async def next_frame(ws: ClientWebSocketResponse, timeout: float = FRAME_TIMEOUT) -> Any:
    """The next JSON frame (object, or list with `batch`); fails on close or timeout."""
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type is WSMsgType.TEXT, (msg.type, msg.data, ws.close_code)
    return orjson.loads(msg.data)


async def next_event(ws: ClientWebSocketResponse, name: str | None = None,
                     timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
    """The next `event` frame (of `name`, skipping pings and other events)."""
    while True:
        frame = await next_frame(ws, timeout)
        if frame.get("type") == "event" and (name is None or frame["event"] == name):
            return frame


async def closed_with(ws: ClientWebSocketResponse, timeout: float = FRAME_TIMEOUT) -> tuple[int | None, list[Any]]:
    """Read until the server's close; return the code of its close frame and the frames before.

    The code comes from the close frame itself, as a browser reports it: aiohttp's client sets
    `close_code` to 1006 when the server dropped TCP right after its close frame (aiohttp#5180).
    """
    seen: list[Any] = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type is WSMsgType.TEXT:
            seen.append(orjson.loads(msg.data))
        elif msg.type is WSMsgType.CLOSE:
            return msg.data, seen
        else:
            return ws.close_code, seen


async def drain_until(ws: ClientWebSocketResponse, predicate: Any,
                      timeout: float = FRAME_TIMEOUT) -> list[dict[str, Any]]:
    """Collect frames until one satisfies `predicate` (inclusive)."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await next_frame(ws, timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


def is_event(name: str, pred: Callable[[dict[str, Any]], bool] = lambda d: True
             ) -> Callable[[dict[str, Any]], bool]:
    """A drain_until predicate: an event frame of `name` whose data satisfies `pred`."""
    return lambda f: f.get("type") == "event" and f.get("event") == name and pred(f["data"])


async def barrier(ws: ClientWebSocketResponse, call_id: int | None = None) -> list[Any]:
    """Send a presence call; return every frame that arrived before its result.

    Frames are queued in order on one socket, and events are pushed before the REST reply that
    caused them, so whatever the server had queued before it read the call comes first: an
    empty answer proves nothing else was pending. `call_id` must exceed the socket's last one
    (default: a global counter above any id a test writes by hand).
    """
    call_id = next(_call_ids) if call_id is None else call_id
    await send(ws, {"type": "call", "id": call_id, "method": "presence"})
    seen: list[Any] = []
    while True:
        frame = await next_frame(ws)
        if isinstance(frame, dict) and frame.get("type") == "result" and frame.get("id") == call_id:
            assert frame["ok"] is True, frame
            return seen
        seen.append(frame)


def events(frames: list[Any], name: str | None = None) -> list[dict[str, Any]]:
    """The `event` frames among `frames` (batched arrays flattened), of one wire name if given."""
    flat: list[Any] = []
    for f in frames:
        flat.extend(f if isinstance(f, list) else [f])
    return [f for f in flat if f.get("type") == "event" and (name is None or f["event"] == name)]


def assert_strictly_increasing(events: list[dict[str, Any]]) -> list[int]:
    """Every event has an int seq, each greater than the one before; return the seqs."""
    seqs = [e["seq"] for e in events]
    assert all(isinstance(s, int) for s in seqs), seqs
    assert all(a < b for a, b in itertools.pairwise(seqs)), seqs
    return seqs


def error_codes(frames: list[Any]) -> list[str]:
    """Codes of the `error` frames among `frames`."""
    return [f["error"]["code"] for f in frames if isinstance(f, dict) and f.get("type") == "error"]
