"""The dashboard in a real browser: login, live figures, reconnect with resume, long-poll."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page, expect

from app import keys
from app.realtime import const
from tests.e2e.conftest import PASSWORD, Live

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def api_token(live: Live) -> str:
    async with aiohttp.ClientSession() as s, s.post(
        live.base + "/api/v1/auth/login", json={"email": live.email, "password": PASSWORD}
    ) as r:
        return (await r.json())["token"]


async def inbound(live: Live, token: str, phone: str, body: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(
        live.base + "/api/v1/sandbox/inbound", json={"from": phone, "body": body},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        assert r.status == 202, await r.text()


async def sign_in(page: Page, live: Live) -> None:
    await page.goto(live.base + "/")
    await expect(page).to_have_url(live.base + "/login?next=/")
    await page.fill("input[name=email]", live.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live.base + "/")


async def test_login_then_figures_update_live(page: Page, live: Live) -> None:
    await sign_in(page, live)
    status = page.locator("#live-indicator")
    await expect(status).to_have_attribute("data-state", "live")
    await expect(status).to_have_text("En vivo")
    token = await api_token(live)
    await inbound(live, token, "56911112222", "hola")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    await inbound(live, token, "56933334444", "buenas")
    await expect(page.locator("#stat-contacts")).to_have_text("2")
    await expect(page.locator("#stat-messages_today_in")).to_have_text("2")


async def test_reconnects_and_resumes_after_a_drop(page: Page, live: Live) -> None:
    await sign_in(page, live)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    hub = live.app[keys.HUB]
    conns = hub.tenant_connections(live.tenant_id)
    assert len(conns) == 1
    (first,) = conns
    # Cut the socket (a reconnect code), then change the figures while it is away.
    hub.close(first, const.CLOSE_SLOW_CONSUMER, "test drop")
    token = await api_token(live)
    await inbound(live, token, "56955556666", "mientras tanto")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    (second,) = hub.tenant_connections(live.tenant_id)
    assert second is not first


async def test_falls_back_to_long_polling_when_websocket_fails(page: Page, live: Live) -> None:
    # A network that breaks WebSockets: the constructor works but nothing ever opens.
    await page.add_init_script(
        "window.WebSocket = class { constructor() { this.readyState = 0; } send() {} "
        "close() { setTimeout(() => this.onclose && this.onclose({code: 1006}), 0); } };"
    )
    await sign_in(page, live)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "polling", timeout=10_000)
    token = await api_token(live)
    await inbound(live, token, "56977778888", "por long-poll")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    assert live.app[keys.HUB].tenant_connections(live.tenant_id) == set()


async def test_english_interface(page: Page, live: Live) -> None:
    await page.goto(live.base + "/login?lang=en")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.fill("input[name=email]", live.email)
    await page.fill("input[name=password]", "wrong password")
    await page.click("button[type=submit]")
    await expect(page.locator(".error")).to_have_text("Wrong e-mail or password.")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#live-indicator")).to_have_text("Live")
