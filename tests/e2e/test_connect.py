"""Connecting WhatsApp from the dashboard in a real browser: the QR appears, is replaced by the
next one, the pairing URL opened on a "phone" links the number, and the card says so, live."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, Route, expect

from app.whatsapp import sandbox
from tests.e2e.chat_helpers import api, api_token, inbound, sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import PHONE, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_connect_whatsapp_from_the_dashboard(page: Page, browser: Browser, live: Live,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "QR_ROTATE", 1.0)  # codes rotate fast, so the test sees one replaced
    await sign_in(page, live)  # through the login form
    card = page.locator("#wa-card")
    await expect(card.locator("#wa-state")).to_have_text("Sin vincular")
    await expect(page.locator("#check-whatsapp")).not_to_have_class("done")
    await shot(page, "dashboard-before-es-1280", full_page=True)

    await page.click("#wa-connect")
    qr = page.locator("#wa-qr")
    await expect(qr.locator("svg path")).to_have_count(1)
    first = await qr.get_attribute("data-value")
    assert first and first.startswith(live.base + "/sandbox/pair/")
    await expect(card.locator("#wa-state")).to_have_text("Esperando el escaneo")
    await expect(page.locator("#wa-countdown")).to_contain_text("El código se renueva en")
    # The server's address is 127.0.0.1: the card says a phone cannot open it and what to set.
    await expect(page.locator("#wa-local-hint")).to_be_visible()
    await expect(page.locator("#wa-local-hint")).to_contain_text("CONDORITO_PUBLIC_URL")

    await expect(qr).not_to_have_attribute("data-value", first)  # replaced by the next code
    second = await qr.get_attribute("data-value")
    monkeypatch.setattr(sandbox, "QR_ROTATE", 20.0)  # the code after this one stays long enough
    await expect(qr).not_to_have_attribute("data-value", second)
    value = await qr.get_attribute("data-value")
    assert value and value not in (first, second)
    assert await page.locator("#wa-pair-link").get_attribute("href") == value
    await shot(page, "qr-card-es-1280")

    phone_ctx = await browser.new_context(locale="es-CL", viewport=PHONE)
    phone = await phone_ctx.new_page()
    await phone.goto(value)
    await phone.fill("input[name=phone]", "56987654321")
    await phone.click("button[type=submit]")
    await expect(phone.locator("[role=status]")).to_contain_text("Listo")
    await phone_ctx.close()

    await expect(card.locator("#wa-state")).to_have_text("Conectado")
    await expect(page.locator("#wa-number")).to_have_text("Número vinculado: +56 9 8765 4321")
    await expect(page.locator("#wa-qr-box")).to_be_hidden()
    await expect(page.locator("#check-whatsapp")).to_have_class("done")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    await expect(page.locator("#wa-disconnect")).to_be_visible()
    await expect(page.locator("#wa-connect")).to_be_hidden()

    # Some traffic, so the figures count up and the chart has a bar for this hour.
    token = await api_token(live)
    first = await inbound(live, token, "56911112222", "hola, ¿tienen stock?", name="Carla Pérez")
    await inbound(live, token, "56933334444", "buenas tardes", name="Jorge")
    await inbound(live, token, "56911112222", "es para hoy")
    await expect(page.locator("#stat-messages_today_in")).to_have_text("3")
    await expect(page.locator("#check-first_message")).to_have_class("done")
    status, _ = await api(live, token, "POST", f"/api/v1/conversations/{first['conversation_id']}/messages",
                          {"body": "¡Sí! Te lo guardamos."})
    assert status == 201
    await expect(page.locator("#stat-messages_today_out")).to_have_text("1")
    await expect(page.locator("#chart-summary")).to_contain_text("recibidos: 3 · enviados: 1")

    # After a reload the page says the same from the server's side.
    await page.reload()
    await expect(page.locator("#wa-number")).to_have_text("Número vinculado: +56 9 8765 4321")
    await shot(page, "dashboard-connected-es-1280", full_page=True)
    await page.set_viewport_size(PHONE)
    await shot(page, "dashboard-connected-es-360", full_page=True)
    await page.context.add_cookies([{"name": "lang", "value": "en", "url": live.base}])
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.reload()
    await expect(card.locator("#wa-state")).to_have_text("Connected")
    await shot(page, "dashboard-connected-en-1280", full_page=True)

    # Unlink takes a second press (no accidental unlinking), then says so.
    await page.click("#wa-disconnect")
    await expect(page.locator("#wa-disconnect")).to_have_text("Sure? Press again to unlink")
    await page.click("#wa-disconnect")
    await expect(card.locator("#wa-state")).not_to_have_text("Connected")
    await expect(page.locator("#wa-connect")).to_be_visible()


async def test_a_failed_connect_says_so_next_to_the_button(page: Page, live: Live) -> None:
    await sign_in(page, live)
    await page.route("**/api/v1/whatsapp/connect", lambda route: route.abort())
    await page.click("#wa-connect")
    error = page.locator("#wa-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text("No se pudo completar. Revisa tu conexión e inténtalo otra vez.")
    await expect(page.locator("#wa-state")).to_have_text("Sin vincular")
    await expect(page.locator("#wa-connect")).to_be_enabled()
    await page.unroute("**/api/v1/whatsapp/connect")

    # The retry works. Its answer ("starting") is held back until the first QR event has been
    # shown: an older answer must not take the code off the screen.
    async def late_answer(route: Route) -> None:
        answer = await route.fetch()
        await expect(page.locator("#wa-qr svg")).to_be_visible()
        await route.fulfill(response=answer)

    await page.route("**/api/v1/whatsapp/connect", late_answer)
    await page.click("#wa-connect")
    await expect(page.locator("#wa-connect")).to_be_enabled()  # the answer was handled
    await expect(page.locator("#wa-qr svg")).to_be_visible()
    await expect(page.locator("#wa-state")).to_have_text("Esperando el escaneo")
    await expect(error).to_be_hidden()
