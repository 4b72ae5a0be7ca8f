"""Settings in a real browser: an admin adds an agent, who signs in with the one-time password
and must choose a new one; the agent cannot open the admin parts (page and API refuse)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.chat_helpers import sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import PHONE, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_admin_adds_an_agent_who_must_choose_a_password(page: Page, browser: Browser, live: Live) -> None:
    await sign_in(page, live, "/settings")
    rows = page.locator("#team-rows li")
    await expect(rows).to_have_count(1)
    await page.click("#add-toggle")
    await page.fill("#add-form input[name=name]", "Eva <b>Agente</b> con un nombre bastante largo de verdad")
    await page.fill("#add-form input[name=email]", "eva@acme.test")
    await page.click("#add-form button[type=submit]")
    await expect(page.locator("#otp-box")).to_be_visible()
    otp = (await page.locator("#otp").text_content() or "").strip()
    assert len(otp) >= 12
    await expect(rows).to_have_count(2)
    eva_row = rows.nth(1)
    # The name is text, not markup; the state says the password is still pending.
    await expect(eva_row.locator(".member-name")).to_contain_text("Eva <b>Agente</b>")
    await expect(eva_row.locator(".member-state")).to_have_text("Aún no elige su contraseña")
    await shot(page, "settings-otp-es-1280", full_page=True)
    await page.set_viewport_size(PHONE)
    scroll, client = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client
    await page.locator("#otp-box").scroll_into_view_if_needed()
    await shot(page, "settings-otp-es-360")

    # The same e-mail again is refused with words, next to the form.
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.click("#add-toggle")
    await page.fill("#add-form input[name=email]", "eva@acme.test")
    await page.click("#add-form button[type=submit]")
    await expect(page.locator("#add-form .form-status")).to_have_text("Ya existe una cuenta con ese correo.")

    agent_ctx = await browser.new_context(locale="es-CL")
    agent = await agent_ctx.new_page()
    await agent.goto(live.base + "/login")
    await agent.fill("input[name=email]", "eva@acme.test")
    await agent.fill("input[name=password]", otp)
    await agent.click("button[type=submit]")
    await expect(agent).to_have_url(live.base + "/account/password")
    await expect(agent.locator(".notice")).to_contain_text("elige una contraseña propia")
    assert await agent.locator(".topbar").count() == 0  # nowhere else to go yet
    await agent.goto(live.base + "/chat")
    await expect(agent).to_have_url(live.base + "/account/password")
    await agent.fill("input[name=current_password]", otp)
    await agent.fill("input[name=new_password]", "clave nueva de eva")
    await agent.fill("input[name=confirm_password]", "clave nueva de eva")
    await agent.click("#password-card button[type=submit]")
    await expect(agent.locator(".notice.ok")).to_contain_text("tu contraseña cambió")
    await agent.click("text=Continuar")
    await expect(agent).to_have_url(live.base + "/")
    await expect(agent.locator("#live-indicator")).to_have_attribute("data-state", "live")

    # An agent: no team or business in Settings, the team page refuses, and so does the API.
    await agent.goto(live.base + "/settings")
    await expect(agent.locator("#profile")).to_be_visible()
    assert await agent.locator("#team").count() == 0 and await agent.locator("#business").count() == 0
    resp = await agent.goto(live.base + "/settings/team")
    assert resp is not None and resp.status == 403
    await expect(agent.locator("h1")).to_have_text("Algo salió mal")
    status = await agent.evaluate("""async () => (await fetch('/api/v1/users', {credentials: 'same-origin'})).status""")
    assert status == 403
    await agent_ctx.close()

    # The admin's list now says Eva is active.
    await page.reload()
    await expect(rows.nth(1).locator(".member-state")).to_have_text("Activo")


async def test_admin_resets_changes_role_and_disables_from_the_list(page: Page, live: Live) -> None:
    await sign_in(page, live, "/settings")
    await page.click("#add-toggle")
    await page.fill("#add-form input[name=email]", "leo@acme.test")
    await page.click("#add-form button[type=submit]")
    first_otp = await page.locator("#otp").text_content()
    leo = page.locator("#team-rows li").nth(1)
    await expect(leo.locator(".member-name")).to_have_text("leo")  # no name given: from the e-mail
    await leo.locator(".member-reset").click()
    await expect(page.locator("#otp")).not_to_have_text(first_otp or "")
    await expect(leo).to_have_attribute("aria-busy", "false")
    await leo.locator(".member-role").select_option("admin")
    # While the change is on its way the row takes no other; the server's answer redraws it.
    await expect(leo).to_have_attribute("aria-busy", "false")
    await expect(leo.locator(".member-role")).to_have_value("admin")
    await leo.locator(".member-toggle").click()
    leo = page.locator("#team-rows li").nth(1)
    await expect(leo.locator(".member-state")).to_have_text("Desactivado")
    await expect(leo.locator(".member-toggle")).to_have_text("Reactivar")
    # Your own row has no buttons to lock yourself out.
    me = page.locator("#team-rows li").nth(0)
    assert await me.locator("button").count() == 0
    await expect(me.locator(".member-role")).to_be_disabled()
    await page.reload()  # the server agrees
    await expect(page.locator("#team-rows li").nth(1).locator(".member-state")).to_have_text("Desactivado")
    await expect(page.locator("#team-rows li").nth(1).locator(".member-role")).to_have_value("admin")
