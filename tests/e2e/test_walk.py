"""Walk every page in Spanish and English, at phone and desktop widths: no untranslated key,
no console error, nothing wider than the screen."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from app.i18n import TEXT
from tests.e2e.chat_helpers import sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import DESKTOP, PHONE, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAGES = {"dashboard": "/", "chat": "/chat", "bulk": "/bulk", "bot": "/bot", "settings": "/settings",
         "password": "/account/password"}
# A key shows as itself when it has no translation: "nav.settings", "dash.unread"...
KEY_PREFIXES = sorted({key.split(".")[0] for key in TEXT})
UNTRANSLATED = re.compile(r"\b(?:" + "|".join(map(re.escape, KEY_PREFIXES)) + r")\.[a-z_]+\b")
SHOTS = ("dashboard", "settings", "bulk")  # the chat page has its own screenshots (test_chat_screens)
SPANISH_ONLY = ("Ajustes", "Envíos", "Cerrar sesión", "Conectando")


def watch_console(page: Page) -> list[str]:
    """Collect console errors and page exceptions."""
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            problems.append(f"{msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"exception: {exc}"))
    return problems


async def fits(page: Page) -> tuple[int, int]:
    return await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_every_page_translated_error_free_and_fits(page: Page, live: Live, lang: str) -> None:
    problems = watch_console(page)
    await page.context.add_cookies([{"name": "lang", "value": lang, "url": live.base}])
    await sign_in(page, live)
    for size in (DESKTOP, PHONE):
        await page.set_viewport_size(size)
        for name, path in PAGES.items():
            await page.goto(live.base + path)
            await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
            text = await page.locator("body").inner_text()
            assert not UNTRANSLATED.findall(text), (name, lang, UNTRANSLATED.findall(text))
            if lang == "en":
                leaked = [w for w in SPANISH_ONLY if w in text]
                assert not leaked, (name, leaked)
            scroll, client = await fits(page)
            assert scroll <= client, (name, lang, size, scroll, client)
            if name in SHOTS:
                await shot(page, f"{name}-{lang}-{size['width']}", full_page=True)
    assert problems == []


async def test_dark_theme_pages(browser, live: Live) -> None:
    ctx = await browser.new_context(locale="es-CL", color_scheme="dark", viewport=DESKTOP)
    page = await ctx.new_page()
    problems = watch_console(page)
    await sign_in(page, live)
    background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 21, 23)"  # the dark tokens apply
    await shot(page, "dashboard-dark-es-1280", full_page=True)
    await page.goto(live.base + "/settings")
    await page.set_viewport_size(PHONE)
    await shot(page, "settings-dark-es-360")
    assert problems == []
    await ctx.close()


async def test_user_menu_signs_out_and_closes_like_a_menu(page: Page, live: Live) -> None:
    await sign_in(page, live, "/bot")
    menu = page.locator(".usermenu")
    await page.click(".usermenu summary")
    await expect(menu.locator("text=Cambiar contraseña")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(menu.locator("text=Cambiar contraseña")).to_be_hidden()
    await page.click(".usermenu summary")
    await page.click("main")
    await expect(menu.locator("text=Cambiar contraseña")).to_be_hidden()
    await page.click(".usermenu summary")
    await page.click("text=Cambiar contraseña")
    await expect(page).to_have_url(live.base + "/account/password")
    await page.click(".usermenu summary")
    await page.click(".usermenu button[type=submit]")
    # The form lands on /login; the socket closed by the sign-out may get there first (with ?next).
    await expect(page).to_have_url(re.compile(re.escape(live.base) + r"/login(\?next=.*)?$"))
    await page.goto(live.base + "/settings")
    await expect(page).to_have_url(live.base + "/login?next=/settings")
