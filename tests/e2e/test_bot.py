"""The bot in real browsers: the dashboard switch is live across a tenant's browsers (and only
its own), and the /bot page's try box answers with unsaved rules, then saves them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from app import keys
from app.auth import passwords, users
from app.services import tenants
from tests.e2e.conftest import PASSWORD, Live
from tests.e2e.shots import DESKTOP, PHONE, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def signed_in(browser: Browser, live: Live, email: str, path: str = "/",
                    lang: str = "es") -> Page:
    ctx = await browser.new_context(locale="es-CL" if lang == "es" else "en-US", viewport=DESKTOP)
    page = await ctx.new_page()
    await page.goto(f"{live.base}/login?next={path}&lang={lang}")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live.base + path)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    return page


async def test_the_switch_is_live_in_the_tenants_browsers_only(browser: Browser, live: Live) -> None:
    db = live.app[keys.DB]
    globex = await db.write(lambda tx: tenants.create_tenant(tx, "globex", "Globex"))
    pw_hash = passwords.hash_password(PASSWORD)
    await db.write(lambda tx: users.create_user(tx, globex.id, "admin@globex.test", "Gina", "admin", pw_hash))
    one = await signed_in(browser, live, live.email)
    two = await signed_in(browser, live, live.email)
    other = await signed_in(browser, live, "admin@globex.test")
    try:
        for page in (one, two, other):
            await expect(page.locator("#bot-state")).to_have_text("Apagado")
        await one.get_by_role("switch", name="Responder automáticamente").click()
        await expect(two.locator("#bot-toggle")).to_have_attribute("aria-checked", "true")
        await expect(two.locator("#bot-state")).to_have_text("Encendido")
        # The other tenant's own switch then moves only its own browsers.
        await other.get_by_role("switch").click()
        await expect(other.locator("#bot-state")).to_have_text("Encendido")
        await one.get_by_role("switch").click()
        await expect(two.locator("#bot-state")).to_have_text("Apagado")
        await expect(other.locator("#bot-state")).to_have_text("Encendido")
        await expect(other.locator("#bot-toggle")).to_have_attribute("aria-checked", "true")
    finally:
        for page in (one, two, other):
            await page.context.close()


async def test_try_a_draft_rule_then_save_it(browser: Browser, live: Live) -> None:
    page = await signed_in(browser, live, live.email, "/bot")
    try:
        # No after-hours text: the keyword answers whatever the real clock says.
        await page.get_by_label("Mensaje fuera de horario").fill("")
        await page.get_by_role("button", name="Añadir palabra clave").click()
        await page.get_by_label("Palabra o texto").fill("envío")
        await page.get_by_label("Respuesta", exact=True).fill("Enviamos a todo Chile en 48 horas.")
        await page.get_by_role("button", name="Añadir opción").click()
        await page.get_by_label("Opción 1", exact=True).fill("Santiago")
        await page.get_by_label("Respuesta a la opción 1").fill("En Santiago llega mañana.")
        await page.get_by_label("Mensaje del cliente").fill("¿Hacen ENVIO a regiones?")
        await page.get_by_role("button", name="Probar").click()
        reply = page.get_by_test_id("try-reply")
        await expect(reply).to_have_text("Enviamos a todo Chile en 48 horas.\n\n1. Santiago")
        await expect(page.locator(".try-rule")).to_contain_text("«envío»")
        await page.get_by_label("Mensaje del cliente").fill("1")
        await page.get_by_role("button", name="Probar").click()
        await expect(reply).to_have_text("En Santiago llega mañana.")
        await shot(page, "bot-es-desktop-try")
        await page.get_by_role("button", name="Guardar cambios").click()
        await expect(page.locator("#bot-save-status")).to_have_text("Cambios guardados.")
        saved = await live.app[keys.DB].read(lambda c: c.execute(
            "SELECT rules FROM bot_settings WHERE tenant_id = ?", (live.tenant_id,)).fetchone()[0])
        assert '"pattern":"envío"' in saved
        # A rule the matcher refuses is marked next to its field, and nothing is saved.
        await page.get_by_label("Cómo buscar").select_option("regex")
        await page.get_by_label("Palabra o texto").fill("(a)\\1")
        await page.get_by_role("button", name="Guardar cambios").click()
        await expect(page.locator(".field-error")).to_contain_text("no permitido")
        await expect(page.get_by_label("Palabra o texto")).to_be_focused()
        await page.set_viewport_size(PHONE)
        await page.reload()
        await page.evaluate("window.scrollTo(0, 0)")
        await shot(page, "bot-es-phone")
        await page.goto(live.base + "/bot?lang=en")
        await expect(page.get_by_role("heading", name="Reply bot")).to_be_visible()
        await page.evaluate("window.scrollTo(0, 0)")
        await shot(page, "bot-en-phone")
        await page.set_viewport_size(DESKTOP)
        await page.reload()
        await page.evaluate("window.scrollTo(0, 0)")
        await shot(page, "bot-en-desktop")
        await page.goto(live.base + "/?lang=es")
        await page.locator("#bot-card").scroll_into_view_if_needed()
        await shot(page, "bot-card-es-desktop")
    finally:
        await page.context.close()
