"""Isolation and auth test helpers: routes, forged tokens, refusals, activity."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any

import jwt
import orjson
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from app import keys
from tests.helpers.actors import Actor
from tests.helpers.api import json_ok
from tests.helpers.frames import closed_with, drain_until, is_event

API_PREFIX = "/api/v1/"
_PARAM = re.compile(r"\{[^}]+\}")
MISSING = object()


# -- the router --------------------------------------------------------------------------------

def api_routes(client: TestClient) -> dict[tuple[str, str], Any]:
    """Every (method, path template) under /api/v1 with its handler (HEAD twins left out)."""
    out: dict[tuple[str, str], Any] = {}
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(API_PREFIX) and route.method != "HEAD":
            out[(route.method, path)] = route.handler
    return out


def fill(path: str, value: str) -> str:
    """A path template with every {param} replaced by `value`."""
    return _PARAM.sub(value, path)


# -- tokens ------------------------------------------------------------------------------------

def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a token, unverified (to build forgeries from a real one)."""
    return orjson.loads(b64d(token.split(".")[1]))


def secret_of(client: TestClient) -> str:
    return client.app[keys.CONFIG].secret


def sign(client: TestClient, claims: dict[str, Any], *, key: str | None = None,
         algorithm: str = "HS256") -> str:
    """A token signed with the server's secret (or `key`)."""
    return jwt.encode(claims, key if key is not None else secret_of(client), algorithm=algorithm)


def tamper(token: str, **changes: Any) -> str:
    """Change claims of a signed token and keep its old signature."""
    header, payload, signature = token.split(".")
    claims = {**orjson.loads(b64d(payload)), **changes}
    return f"{header}.{b64e(orjson.dumps(claims))}.{signature}"


def alg_none(token: str, *, keep_signature: bool = False) -> str:
    """The same claims under an `alg: none` header (unsigned, or with the old signature kept)."""
    unsigned = jwt.encode(claims_of(token), None, algorithm="none")
    return unsigned + token.split(".")[2] if keep_signature else unsigned


def expired(client: TestClient, token: str, *, seconds_ago: int = 60) -> str:
    """The same session's claims, correctly signed, with exp in the past."""
    now = int(time.time())
    return sign(client, {**claims_of(token), "iat": now - 3600, "exp": now - seconds_ago})


def without(client: TestClient, token: str, claim: str) -> str:
    """The same claims minus one, correctly signed."""
    claims = claims_of(token)
    del claims[claim]
    return sign(client, claims)


# -- refusals ----------------------------------------------------------------------------------

async def rest_error(client: TestClient, token: str, *, status: int = 401,
                     path: str = "/api/v1/me") -> dict[str, Any]:
    """GET `path` with a bearer token; assert a JSON error with `status`; return error."""
    resp = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == status, (resp.status, await resp.text())
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert isinstance(error["code"], str) and error["message"]
    return error


async def ws_hello(client: TestClient, token: Any = MISSING, **hello: Any) -> ClientWebSocketResponse:
    """Open /ws and send hello with `token` (omitted when MISSING)."""
    ws = await client.ws_connect("/ws?v=1")
    frame: dict[str, Any] = {"type": "hello", "v": 1, **hello}
    if token is not MISSING:
        frame["token"] = token
    await ws.send_str(orjson.dumps(frame).decode())
    return ws


async def ws_refused(client: TestClient, token: Any, *, code: int = 4501,
                     name: str = "unauthorized") -> None:
    """Hello with `token` gets exactly one error frame naming the close code, then that close."""
    ws = await ws_hello(client, token)
    close_code, seen = await closed_with(ws)
    assert close_code == code, (close_code, seen)
    assert len(seen) == 1 and seen[0]["type"] == "error", seen
    assert seen[0]["error"]["code"] == name, seen


async def assert_closed(ws: ClientWebSocketResponse, code: int = 4501, name: str = "unauthorized") -> None:
    """A live socket is closed by the server with `code`, its error frame among the last frames."""
    close_code, seen = await closed_with(ws)
    assert close_code == code, (close_code, seen)
    errors = [f for f in seen if isinstance(f, dict) and f.get("type") == "error"]
    assert errors and errors[-1]["error"]["code"] == name, seen


# -- realtime ----------------------------------------------------------------------------------



async def stats_now(actor: Actor) -> dict[str, Any]:
    """GET /stats of the actor's tenant, without its seq (the figures alone)."""
    body = await json_ok(await actor.get("/api/v1/stats"))
    body.pop("seq")
    return body




async def tenant_barrier(ws: ClientWebSocketResponse, actor: Actor, *, phone: str, body: str) -> list[Any]:
    """The actor's tenant does something of its own; its socket's next event must be that.

    Everything queued for the socket before it arrives first, so this proves nothing else came.
    Only the tenant's own late stats_updated (equal to its current figures) may precede it.
    """
    own_stats = await stats_now(actor)
    mine = await actor.inbound(phone=phone, body=body)
    frames = await drain_until(ws, is_event("new_message"))
    *before, last = frames
    for frame in before:
        assert frame["type"] == "event" and frame["event"] == "stats_updated", frame
        figures = {k: v for k, v in frame["data"].items() if k != "seq"}
        assert figures == own_stats, (frame, own_stats)
    assert last["data"]["clientCode"] == actor.code, last
    assert last["data"]["message"]["id"] == mine["message_id"], last
    return frames


def assert_clean(frames: list[Any], markers: list[str]) -> None:
    """None of the other tenant's identifying strings appears in any frame."""
    for frame in frames:
        text = orjson.dumps(frame).decode().lower()
        for marker in markers:
            assert marker.lower() not in text, (marker, frame)


class ParkSignal:
    """Wraps hub.park so a test can await 'this tenant's long-poll is waiting now'."""

    def __init__(self, client: TestClient) -> None:
        self.hub = client.app[keys.HUB]
        self._orig = self.hub.park
        self._events: dict[int, asyncio.Event] = {}
        self.hub.park = self._park  # type: ignore[method-assign]

    def _park(self, principal: Any) -> Any:
        waiter = self._orig(principal)
        self._events.setdefault(principal.tenant_id, asyncio.Event()).set()
        return waiter

    def expect(self, tenant_id: int) -> asyncio.Event:
        event = self._events[tenant_id] = asyncio.Event()
        return event

    def restore(self) -> None:
        self.hub.park = self._orig  # type: ignore[method-assign]


async def poll_while_parked(actor: Actor, signal: ParkSignal, since: int, epoch: str,
                            timeout: int = 10) -> asyncio.Task[Any]:
    """Start a long-poll and return once the server has parked it."""
    parked = signal.expect(actor.tenant_id)

    async def poll() -> Any:
        resp = await actor.get(f"/api/v1/events?since={since}&epoch={epoch}&timeout={timeout}")
        assert resp.status == 200, await resp.text()
        return await resp.json()

    task = asyncio.get_running_loop().create_task(poll())
    await asyncio.wait_for(parked.wait(), 5)
    return task


async def stream_position(actor: Actor) -> tuple[str, int]:
    """The actor's tenant's (epoch, head) from a long-poll without `since`."""
    resp = await actor.get("/api/v1/events")
    assert resp.status == 200
    body = await resp.json()
    assert body["events"] == []
    return body["epoch"], body["head"]
