"""The thread and the tab around it: older pages keep the reader's place, the "new messages"
pill, a failed send with its reason and retry, notifications and the title badge."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from app import keys
from tests.e2e.chat_helpers import api, api_token, inbound, pair_sandbox, seed_inbound, sign_in, watch_errors
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOTIFICATION_STUB = """
window.__notes = []; window.__asked = 0;
window.Notification = class {
  static permission = "default";
  static requestPermission() { window.__asked += 1; window.Notification.permission = "granted"; return Promise.resolve("granted"); }
  constructor(title, opts) { window.__notes.push([title, opts && opts.body]); }
  close() {}
};
"""


async def test_older_pages_keep_the_place_and_new_messages_wait_behind_a_pill(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    await seed_inbound(live, [("56912340000", "Rosa Lagos", f"mensaje {i:03d}") for i in range(150)])
    token = await api_token(live)
    _, listing = await api(live, token, "GET", "/api/v1/conversations")
    conv = listing["items"][0]["id"]
    await sign_in(page, live, f"/chat/{conv}")
    texts = page.locator(".msg.in .text")
    await expect(texts).to_have_count(50)                       # the newest page
    await expect(texts.last).to_have_text("mensaje 149")
    anchor = page.locator(".msg.in", has_text="mensaje 100")
    await page.locator(".messages").evaluate("(el) => { el.scrollTop = 0; }")
    await expect(texts).to_have_count(150)                      # older pages came in above
    await expect(texts.first).to_have_text("mensaje 000")
    await expect(anchor).to_be_in_viewport()                    # the reader did not jump
    pill = page.locator(".new-pill")
    await expect(pill).to_be_hidden()
    await inbound(live, token, "56912340000", "mensaje nuevo")
    await expect(texts).to_have_count(151)
    await expect(pill).to_be_visible()                          # not at the bottom: no autoscroll
    await expect(page.locator(".msg.in", has_text="mensaje nuevo")).not_to_be_in_viewport()
    await pill.click()
    await expect(page.locator(".msg.in", has_text="mensaje nuevo")).to_be_in_viewport()
    await expect(pill).to_be_hidden()
    assert errors == []


async def test_a_failed_send_shows_its_reason_and_retries(page: Page, live: Live) -> None:
    token = await api_token(live)
    conv = (await inbound(live, token, "56912345000", "¿Siguen abiertos?"))["conversation_id"]
    _, me = await api(live, token, "GET", "/api/v1/me")
    await sign_in(page, live, f"/chat/{conv}")
    box = page.get_by_label("Escribe un mensaje")
    await expect(box).to_be_disabled()                          # WhatsApp is not linked yet
    await expect(page.locator(".composer-reason")).to_contain_text("WhatsApp no está conectado")
    # A reply queued meanwhile (another screen, the API) fails: WhatsApp is not linked.
    await live.app[keys.INBOX].send_reply(live.tenant_id, int(me["id"]), int(conv), "Sí, hasta las 20:00", "k-1")
    failed = page.locator(".msg.out")
    await expect(failed).to_have_attribute("data-status", "failed")
    await expect(failed.locator(".fail-reason")).to_have_text("No se envió: WhatsApp no estaba conectado.")
    await pair_sandbox(live, token)
    await expect(box).to_be_enabled()                           # whatsapp_authenticated
    await failed.get_by_role("button", name="Reintentar").click()
    await expect(page.locator(".msg.out")).to_have_count(2)
    await expect(page.locator(".msg.out").last).to_have_attribute("data-status", "read", timeout=15_000)
    _, msgs = await api(live, token, "GET", f"/api/v1/conversations/{conv}/messages")
    assert [(m["body"], m["status"]) for m in msgs["items"] if m["direction"] == "out"] == [
        ("Sí, hasta las 20:00", "failed"), ("Sí, hasta las 20:00", "read")]


async def test_notifications_only_when_asked_and_only_for_what_is_not_on_screen(page: Page, live: Live) -> None:
    await page.add_init_script(NOTIFICATION_STUB)
    token = await api_token(live)
    shown = (await inbound(live, token, "56911119999", "hola", name="Ana Cliente"))["conversation_id"]
    await sign_in(page, live, f"/chat/{shown}")
    button = page.get_by_role("button", name="Activar notificaciones")
    await expect(button).to_be_visible()
    assert await page.evaluate("window.__asked") == 0           # never asked on load
    await button.click()
    await expect(button).to_be_hidden()
    assert await page.evaluate("window.__asked") == 1
    await inbound(live, token, "56922229999", "¿Hay stock?", name="Beto Cliente")
    await expect(page).to_have_title("(1) Chats · Condorito")
    notes = await page.evaluate("window.__notes")
    assert notes == [["Beto Cliente", "¿Hay stock?"]]
    await inbound(live, token, "56911119999", "sigo aquí")       # the open, visible conversation
    await expect(page.locator(".msg.in .text")).to_have_text(["hola", "sigo aquí"])
    assert await page.evaluate("window.__notes.length") == 1
