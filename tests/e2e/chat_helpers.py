"""Helpers for the chat and realtime browser tests: API calls beside the browser, sign-in."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from tests.e2e.conftest import PASSWORD, Live


async def api_token(live: Live, email: str | None = None) -> str:
    """A bearer token for the tenant's admin (or another user)."""
    async with aiohttp.ClientSession() as s, s.post(
        live.base + "/api/v1/auth/login", json={"email": email or live.email, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


async def api(live: Live, token: str, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One REST call; returns (status, JSON body or None)."""
    hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with aiohttp.ClientSession() as s, s.request(
        method, live.base + path, json=body, headers=hdrs
    ) as r:
        data = await r.json() if r.content_type == "application/json" else None
        return r.status, data


async def inbound(live: Live, token: str, phone: str, body: str, name: str | None = None) -> dict[str, Any]:
    """The sandbox phone `phone` writes to the tenant."""
    payload: dict[str, Any] = {"from": phone, "body": body}
    if name is not None:
        payload["name"] = name
    status, data = await api(live, token, "POST", "/api/v1/sandbox/inbound", payload)
    assert status == 202, data
    return dict(data)


async def sign_in(page: Page, live: Live, path: str = "/", email: str | None = None) -> None:
    """Log in through the form and land on `path`."""
    await page.goto(live.base + "/login?next=" + path)
    await page.fill("input[name=email]", email or live.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live.base + path)


async def pair_sandbox(live: Live, token: str, phone: str = "56900000001") -> None:
    """Connect the tenant's sandbox WhatsApp as `phone` (what scanning the QR does)."""
    async with aiohttp.ClientSession() as s, s.ws_connect(
        live.base + "/ws?v=1", headers={"Origin": live.base}
    ) as ws:
        await ws.send_json({"type": "hello", "v": 1, "token": token})
        status, _ = await api(live, token, "POST", "/api/v1/whatsapp/connect")
        assert status == 202
        qr = None
        async with asyncio.timeout(10):
            while qr is None:   # the QR comes as an event once the link is up
                frame = await ws.receive_json()
                if frame.get("type") == "event" and frame["event"] == "whatsapp_qr":
                    qr = frame["data"]
        async with s.post(live.base + "/sandbox/pair/" + qr["value"].rsplit("/", 1)[1],
                          data={"phone": phone}) as r:
            assert r.status == 200, await r.text()
    status, link = await api(live, token, "GET", "/api/v1/whatsapp")
    assert link["state"] == "connected", link


def watch_errors(page: Page) -> list[str]:
    """Collect page errors and console errors (a favicon 404 aside) for a final assertion."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "favicon" not in msg.location.get("url", "") else None)
    return errors


async def seed_inbound(live: Live, items: list[tuple[str, str, str]], start_ms: int | None = None,
                       step_ms: int = 1000) -> None:
    """Store many inbound messages (phone, name, body) in one write, as a provider delivery.

    Item i is stamped start_ms + i * step_ms (the store stamps messages with its clock, which is
    swapped for the duration of the write) so a seeded inbox can span days.
    """
    import time

    from app import keys
    from app.services import messages
    from app.services.messages import TenantRef
    from app.whatsapp.base import InboundMessage

    base = start_ms or int(time.time() * 1000) - len(items) * step_ms
    stamps = [base + i * step_ms for i in range(len(items))]
    msgs = [InboundMessage(f"seed-{base}-{i}-{phone}", phone, name, "text", body, stamps[i])
            for i, (phone, name, body) in enumerate(items)]
    inbox = live.app[keys.INBOX]
    ref = TenantRef(live.tenant_id, "acme")

    def write(tx):  # type: ignore[no-untyped-def]
        clock = iter(stamps)
        real = messages.now_ms
        messages.now_ms = lambda: next(clock)  # type: ignore[assignment]
        try:
            return inbox.ingest_items(tx, ref, msgs, [])
        finally:
            messages.now_ms = real  # type: ignore[assignment]

    await live.app[keys.DB].write(write)
