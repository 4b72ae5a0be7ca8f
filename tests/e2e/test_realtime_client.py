"""static/js/realtime.js in a real browser: the indicator is honest, broken frames are dropped."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.e2e.chat_helpers import api_token, inbound, sign_in
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_polling_is_shown_as_polling_and_no_timer_flips_it(page: Page, live: Live) -> None:
    # Every /ws upgrade is refused by the network: the client must fall back to long-polling.
    async def refuse(ws: WebSocketRoute) -> None:
        await ws.close()

    await page.route_web_socket("**/ws*", refuse)
    await page.clock.install()
    await sign_in(page, live)
    status = page.locator("#live-indicator")
    await expect(status).to_have_attribute("data-state", "polling")
    await expect(status).to_have_text("Conexión de respaldo")
    # The old client left a 5 s "reconnecting" timer armed while polling worked.
    banner = page.locator(".live-banner")
    await expect(banner).to_have_count(0)
    await page.clock.run_for(11_000)
    await expect(status).to_have_attribute("data-state", "polling")
    # After 10 s without a socket the page says so in words (DESIGN "Connection").
    await expect(banner).to_have_text("Sin conexión en vivo: los mensajes llegan cada pocos segundos.")
    token = await api_token(live)
    await inbound(live, token, "56977778888", "por long-poll")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    await expect(status).to_have_attribute("data-state", "polling")


async def test_a_frame_that_is_not_json_is_dropped_and_the_client_lives_on(page: Page, live: Live) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "favicon" not in msg.location.get("url", "") else None)
    routes: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        routes.append(ws)

    await page.route_web_socket("**/ws*", through)
    await sign_in(page, live)
    status = page.locator("#live-indicator")
    await expect(status).to_have_attribute("data-state", "live")
    dropped = page.wait_for_event("console", lambda m: "not JSON" in m.text)
    routes[0].send("{this is not json")
    await dropped
    token = await api_token(live)
    await inbound(live, token, "56911112222", "sigue vivo")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    await expect(status).to_have_attribute("data-state", "live")
    await expect(page.locator(".live-banner")).to_have_count(0)
    assert len(routes) == 1   # the same socket: no reconnect was needed
    assert errors == []
