"""Settings, WhatsApp, in a real browser (issue 9, Done when 3): an admin switches the business to
Meta's Cloud API, sees the webhook URL to give Meta, and the secrets never come back: not in the
page, not in any API answer, not after a reload."""

from __future__ import annotations

import secrets

import pytest
from playwright.async_api import Page, Response, expect

from app.whatsapp import base
from tests.e2e.chat_helpers import sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import DESKTOP, PHONE, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def to_section(page: Page) -> None:
    """Scroll the WhatsApp section to the top, under the bar (a full-page shot paints the fixed
    bar in the middle)."""
    await page.evaluate("() => { document.getElementById('whatsapp-settings').scrollIntoView();"
                        " window.scrollBy(0, -64); }")


async def test_switch_to_the_cloud_api_and_the_secrets_stay_secret(page: Page, live: Live) -> None:
    token = "EAAG" + secrets.token_hex(24)
    app_secret = secrets.token_hex(16)
    verify = "verifica-" + secrets.token_hex(8)
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/api/" in r.url else None)

    await sign_in(page, live, "/settings")
    section = page.locator("#whatsapp-settings")
    await expect(section.locator("#wa-cloud")).to_be_hidden()
    await section.get_by_label("WhatsApp Cloud API de Meta").check()
    await expect(section.locator("#wa-cloud")).to_be_visible()
    await expect(section.locator("#wa-webhook")).to_have_text(f"{live.base}/webhooks/whatsapp/acme")

    # A wrong phone number id is refused with words, next to the form, on the field.
    await section.get_by_label("Identificador del número").fill("12-34")
    await section.locator("button[type=submit]").click()
    await expect(section.locator(".form-status")).to_have_text("El identificador del número son solo dígitos.")
    await expect(section.locator("input[name=phone_number_id]")).to_have_attribute("aria-invalid", "true")

    await section.get_by_label("Identificador del número").fill("106540352242922")
    await section.get_by_label("Identificador de la cuenta").fill("102290129340398")
    await section.get_by_label("Token de acceso").fill(token)
    await section.get_by_label("Clave secreta de la app").fill(app_secret)
    await section.get_by_label("Token de verificación del webhook").fill(verify)
    await section.locator("button[type=submit]").click()
    await expect(section.locator(".form-status")).to_have_text("Guardado. Vincula el número desde el Panel.")
    await expect(section.locator("#wa-provider-now")).to_have_text("WhatsApp Cloud API de Meta")
    await expect(section.locator("#wa-access_token-state")).to_contain_text(token[-4:])
    for name in ("access_token", "app_secret", "verify_token"):
        await expect(section.locator(f"input[name={name}]")).to_have_value("")
    await to_section(page)
    await shot(page, "settings-whatsapp-cloud-es-1280")

    async def nothing_secret() -> None:
        html = await page.content()
        values = await page.eval_on_selector_all("input", "els => els.map(e => e.value)")
        bodies = [await r.text() for r in answers if r.ok]
        for secret in (token, app_secret, verify):
            assert secret not in html
            assert secret not in values
            assert all(secret not in body for body in bodies)

    await nothing_secret()
    answers.clear()
    await page.reload()
    await expect(section.get_by_label("WhatsApp Cloud API de Meta")).to_be_checked()
    await expect(section.locator("#wa-webhook")).to_have_text(f"{live.base}/webhooks/whatsapp/acme")
    await expect(section.get_by_label("Identificador del número")).to_have_value("106540352242922")
    await expect(section.get_by_label("Identificador de la cuenta")).to_have_value("102290129340398")
    for path in ("/api/v1/whatsapp/config", "/api/v1/whatsapp", "/api/v1/tenant", "/api/v1/me"):
        answers.append(await page.request.get(live.base + path))
    await nothing_secret()

    # Saving again with the secret fields left empty keeps them (the mask still ends the same).
    await section.locator("button[type=submit]").click()
    await expect(section.locator(".form-status")).to_have_text("Guardado. Vincula el número desde el Panel.")
    await expect(section.locator("#wa-app_secret-state")).to_contain_text(app_secret[-4:])

    await page.set_viewport_size(PHONE)
    scroll, client = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client
    await section.locator("#wa-cloud").scroll_into_view_if_needed()
    await shot(page, "settings-whatsapp-cloud-es-360")

    # The QR option states the ban risk before anything is linked; English too.
    await page.context.add_cookies([{"name": "lang", "value": "en", "url": live.base}])
    await page.set_viewport_size(DESKTOP)
    await page.reload()
    await expect(section.locator("#wa-webhook")).to_have_text(f"{live.base}/webhooks/whatsapp/acme")
    await to_section(page)
    await shot(page, "settings-whatsapp-cloud-en-1280")
    qr = section.get_by_label("QR code (WhatsApp Web)")
    if not base.WEB_INSTALLED:   # without the extra the choice is there, disabled, saying why
        await expect(qr).to_be_disabled()
        await expect(section.locator("#wa-web-missing")).to_contain_text("whatsapp-web")
        return
    await qr.check()
    await expect(section.locator("#wa-web .notice")).to_contain_text("WhatsApp can ban a number")
    await expect(section.locator("#wa-cloud")).to_be_hidden()
    await page.set_viewport_size(PHONE)
    await section.scroll_into_view_if_needed()
    await shot(page, "settings-whatsapp-en-360")
