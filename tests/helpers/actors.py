"""Tenants, users and logins for tests: the Actor a test drives the API and sockets as."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from app import keys
from app.auth import passwords, users
from app.services import tenants
from tests.helpers.frames import next_frame

PASSWORD = "correct horse battery"


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
