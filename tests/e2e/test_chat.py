"""The chat page in a real browser: live list and thread, replies with ticks, no double sends."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.e2e.chat_helpers import api_token, inbound, pair_sandbox, sign_in, watch_errors
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_inbound_appears_live_in_list_and_open_thread(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    first = await inbound(live, token, "56911112222", "Hola, ¿tienen stock?", name="María Pérez")
    await inbound(live, token, "56933334444", "Buenas tardes", name="Juan Soto")
    await sign_in(page, live, f"/chat/{first['conversation_id']}")
    dashboard = await page.context.new_page()       # another tab of the same session
    await dashboard.goto(live.base + "/")
    rows = page.locator(".conv-item")
    await expect(rows).to_have_count(2)
    await expect(rows.first.locator(".conv-name")).to_have_text("Juan Soto")
    await expect(page.locator(".thread-title")).to_have_text("María Pérez")
    await expect(page.locator(".msg.in .text")).to_have_text(["Hola, ¿tienen stock?"])
    # Opened and visible: marked read, so María's badge is gone.
    maria = page.locator(".conv-item", has_text="María Pérez")
    await expect(maria.locator(".badge")).to_be_hidden()
    await inbound(live, token, "56911112222", "¿Y hacen envíos?")
    await expect(page.locator(".msg.in .text")).to_have_text(["Hola, ¿tienen stock?", "¿Y hacen envíos?"], timeout=1000)
    await expect(rows.first.locator(".conv-name")).to_have_text("María Pérez", timeout=1000)
    # Another conversation gets a message: it jumps to the top with an unread badge.
    await inbound(live, token, "56933334444", "¿Me pueden llamar?")
    juan = page.locator(".conv-item", has_text="Juan Soto")
    await expect(rows.first.locator(".conv-name")).to_have_text("Juan Soto", timeout=1000)
    await expect(juan.locator(".badge")).to_have_text("2", timeout=1000)
    await expect(juan.locator(".conv-preview")).to_have_text("¿Me pueden llamar?")
    # The nav count here and the dashboard figure in the other tab follow (Juan's 2 unread).
    await expect(page.locator("#nav-unread")).to_have_text("2", timeout=2000)
    await expect(dashboard.locator("#stat-unread")).to_have_text("2", timeout=2000)
    await expect(dashboard.locator("#nav-unread")).to_have_text("2")
    assert errors == []


async def test_reply_with_enter_ticks_advance_to_read(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    conv = (await inbound(live, token, "56955556666", "Quiero comprar"))["conversation_id"]
    await pair_sandbox(live, token)
    await sign_in(page, live, f"/chat/{conv}")
    box = page.get_by_label("Escribe un mensaje")
    await expect(box).to_be_enabled()
    await box.fill("Claro, ¿qué modelo? 👍")
    await box.press("Enter")
    out = page.locator(".msg.out")
    await expect(out.locator(".text")).to_have_text(["Claro, ¿qué modelo? 👍"])
    await expect(out).to_have_attribute("data-status", "read", timeout=15_000)
    await expect(out.locator(".tick")).to_have_attribute("data-status", "read")
    await expect(box).to_have_value("")
    assert errors == []
