"""Screenshots of the chat (desktop 1280 and phone 360, Spanish and English), taken from a
realistic inbox; each also checks the page fits without side scrolling and logs no error.

They are written to docs/screenshots/ when CONDORITO_SCREENSHOTS=1 (so an ordinary test run
leaves the tracked images alone), else to the test's temporary directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.chat_helpers import api, api_token, pair_sandbox, seed_inbound, sign_in, watch_errors
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CUSTOMERS = [
    ("56987654321", "María José Fuentes", "Hola! ¿Les queda la polera azul en talla M?"),
    ("56912345678", "Ferretería Don Lucho", "Necesito 20 sacos de cemento para el jueves"),
    ("56998765432", "", "¿A qué hora abren el sábado?"),
    ("56955501234", "Camila Rojas", "Muchas gracias, llegó todo perfecto 🙌"),
    ("56944412345", "Pedro Valenzuela", "¿Hacen despacho a Viña del Mar?"),
    ("5491133445566", "Lucía (Buenos Aires)", "¿Aceptan transferencia?"),
    ("56977788899", "Jorge Muñoz", "Perfecto, paso a buscarlo mañana"),
    ("56933322211", "Constanza Díaz", "¿Tienen factura?"),
]


async def seed_inbox(live: Live) -> str:
    """Yesterday's and today's messages from several customers; returns María's conversation."""
    now = int(time.time() * 1000)
    # Yesterday afternoon to a few minutes ago, about 3 h apart, oldest first.
    await seed_inbound(live, [(p, n, b) for p, n, b in reversed(CUSTOMERS)],
                       start_ms=now - 22 * 3600_000, step_ms=3 * 3600_000)
    token = await api_token(live)
    await pair_sandbox(live, token)
    _, listing = await api(live, token, "GET", "/api/v1/conversations?q=Fuentes")
    maria = listing["items"][0]["id"]
    return maria


async def shoot(browser: Browser, live: Live, conv: str, lang: str, shots: Path) -> None:
    ctx = await browser.new_context(locale="es-CL" if lang == "es" else "en-US",
                                    viewport={"width": 1280, "height": 800})
    page: Page = await ctx.new_page()
    errors = watch_errors(page)
    await page.goto(live.base + f"/login?lang={lang}")
    await sign_in(page, live, f"/chat/{conv}")
    await expect(page.locator(".msg").first).to_be_visible()
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    await page.screenshot(path=str(shots / f"chat-desktop-{lang}.png"))
    if lang == "es":
        await page.emulate_media(color_scheme="dark")
        await page.wait_for_function("() => document.getAnimations().length === 0")  # colour transitions
        await page.screenshot(path=str(shots / "chat-dark-es.png"))
        await page.emulate_media(color_scheme="light")
    await page.set_viewport_size({"width": 360, "height": 740})
    assert await page.evaluate("document.documentElement.scrollWidth <= 360")
    await page.screenshot(path=str(shots / f"chat-phone-thread-{lang}.png"))
    await page.locator(".thread .back").click()
    await expect(page).to_have_url(live.base + "/chat")
    await expect(page.locator(".conv-item").first).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= 360")
    await page.screenshot(path=str(shots / f"chat-phone-list-{lang}.png"))
    # Closing mid-request (the favicon) leaves aiohttp's file open: a ResourceWarning, an error here.
    await page.wait_for_load_state("networkidle")
    await ctx.close()
    assert errors == []


async def test_chat_screenshots(browser: Browser, page: Page, live: Live, tmp_path: Path) -> None:
    shots = DOCS_SHOTS if os.environ.get("CONDORITO_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    conv = await seed_inbox(live)
    # Replies in María's conversation, sent through the page so they carry ticks and an author.
    await sign_in(page, live, f"/chat/{conv}")
    box = page.locator("#composer-input")
    await expect(box).to_be_enabled()          # the page's script runs (the HTML starts disabled)
    for text in ("¡Hola María! Sí, nos quedan 3 en talla M 😊", "¿Te la reservo? Puedes pasar hoy hasta las 19:00."):
        await box.fill(text)
        await box.press("Enter")
    await expect(page.locator(".msg.out").last).to_have_attribute("data-status", "read", timeout=15_000)
    await page.wait_for_load_state("networkidle")    # see shoot(): no request cut at close
    for lang in ("es", "en"):
        await shoot(browser, live, conv, lang, shots)
