"""Shared fixtures: the real app on a fresh SQLite file, tenants, logins and socket helpers."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from app import create_app, keys
from app.auth import passwords, users
from app.config import Config
from app.services import tenants

PASSWORD = "correct horse battery"
FRAME_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash with scrypt at a low cost; the stored format records it (production is 2^14)."""
    monkeypatch.setattr(passwords, "LOG_N", 4)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config on a fresh database file with a random strong secret."""
    return Config(db_path=tmp_path / "condorito.db", secret=secrets.token_urlsafe(48))


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient:
    """The real application behind a test server on 127.0.0.1."""
    return await aiohttp_client(create_app(config))


@dataclass
class Actor:
    """A logged-in user of one tenant."""

    client: TestClient
    code: str
    tenant_id: int
    user_id: int
    email: str
    token: str
    role: str
    sockets: list[ClientWebSocketResponse] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.client.post(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.client.patch(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def inbound(self, phone: str = "56911112222", body: str = "hola", **extra: Any) -> dict[str, Any]:
        resp = await self.post("/api/v1/sandbox/inbound", {"from": phone, "body": body, **extra})
        assert resp.status == 202, await resp.text()
        return await resp.json()

    async def ws(self, **hello: Any) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
        """Open /ws, say hello with this actor's token, return the socket and the welcome."""
        ws = await self.client.ws_connect("/ws?v=1")
        self.sockets.append(ws)
        await ws.send_str(orjson.dumps({"type": "hello", "v": 1, "token": self.token, **hello}).decode())
        welcome = await next_frame(ws)
        assert welcome["type"] == "welcome", welcome
        return ws, welcome


async def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["token"]


async def add_user(client: TestClient, tenant_id: int, email: str, role: str = "admin") -> int:
    db = client.app[keys.DB]
    pw_hash = passwords.hash_password(PASSWORD)
    user = await db.write(lambda tx: users.create_user(tx, tenant_id, email, "", role, pw_hash))
    return user.id


async def make_actor(client: TestClient, code: str, *, role: str = "admin",
                     email: str | None = None, provider: str = "sandbox") -> Actor:
    """Create tenant `code` (if new) and a user in it, and log in."""
    db = client.app[keys.DB]
    tenant = await db.read(lambda c: tenants.get_tenant_by_code(c, code))
    if tenant is None:
        tenant = await db.write(lambda tx: tenants.create_tenant(tx, code, code.title(), provider))
    email = email or f"{role}-{secrets.token_hex(3)}@{code}.test"
    user_id = await add_user(client, tenant.id, email, role)
    token = await login(client, email)
    return Actor(client, code, tenant.id, user_id, email, token, role)


@pytest.fixture
async def alice(client: TestClient) -> Actor:
    """Admin of tenant `acme`."""
    return await make_actor(client, "acme")


@pytest.fixture
async def bob(client: TestClient) -> Actor:
    """Admin of tenant `globex` (the other tenant of every isolation test)."""
    return await make_actor(client, "globex")


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
