"""Bulk test helpers: a counting fake provider in place of the sandbox, campaign shortcuts."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from app import keys
from app.whatsapp.base import OutboundMessage, ProviderError, QrCode
from tests.helpers.actors import Actor
from tests.helpers.api import json_ok


@dataclass
class Send:
    """One provider call: who, what, and when by the provider's own clock."""

    tenant_id: int
    to: str
    body: str
    at: float
    accepted: bool


@dataclass
class CountingProvider:
    """Stands in for the sandbox for every sandbox tenant: counts every send per phone, can
    refuse chosen phones with a code, and lets a test await a number of sends."""

    name: str = "sandbox"
    sends: list[Send] = field(default_factory=list)
    refuse: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    hold: asyncio.Event | None = None  # when set (not None), sends wait on it before answering

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()

    def install(self, client: TestClient) -> CountingProvider:
        client.app[keys.PROVIDERS].add(self)
        return self

    def accepted(self, tenant_id: int | None = None) -> list[Send]:
        return [s for s in self.sends if s.accepted and (tenant_id is None or s.tenant_id == tenant_id)]

    def per_phone(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for s in self.accepted():
            counts[s.to] += 1
        return dict(counts)

    async def wait_sends(self, n: int, timeout: float = 20.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sends) >= n)
        await asyncio.wait_for(wait(), timeout)

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        at = time.monotonic()
        codes = self.refuse.get(msg.to)
        code = codes.popleft() if codes else None
        self.sends.append(Send(tenant_id, msg.to, msg.body, at, code is None))
        async with self._changed:
            self._changed.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        if code is not None:
            raise ProviderError(code)
        return f"fake.{next(self._ids)}"

    async def connect(self, tenant_id: int, public_base: str) -> None:
        return None

    async def logout(self, tenant_id: int) -> None:
        return None

    def current_qr(self, tenant_id: int) -> QrCode | None:
        return None


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    """n valid Chilean mobile numbers with names and a variable."""
    return [{"phone": f"+56 9 8{(start + i):07d}", "name": f"Cliente {start + i}",
             "vars": {"Cupón": f"C{start + i}"}} for i in range(n)]


def digits(i: int) -> str:
    """The stored form of people()'s i-th phone."""
    return f"5698{i:07d}"


async def create(actor: Actor, n: int = 5, rate: float = 80.0, **extra: Any) -> dict[str, Any]:
    body = {"name": "Oferta", "body": "Hola {{nombre}}, tu cupón {{cupon}}",
            "recipients": people(n), "pacing": {"rate": rate}, **extra}
    return await json_ok(await actor.post("/api/v1/bulk", body), 201)


async def act(actor: Actor, campaign_id: str, action: str, status: int = 202) -> dict[str, Any]:
    return await json_ok(await actor.post(f"/api/v1/bulk/{campaign_id}/{action}"), status)


async def campaign(actor: Actor, campaign_id: str) -> dict[str, Any]:
    return await json_ok(await actor.get(f"/api/v1/bulk/{campaign_id}"))


async def recipients(actor: Actor, campaign_id: str, **query: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "100", **query, **({"cursor": cursor} if cursor else {})}
        page = await json_ok(await actor.get(f"/api/v1/bulk/{campaign_id}/recipients", params=params))
        out += page["items"]
        cursor = page["next"]
        if cursor is None:
            return out
