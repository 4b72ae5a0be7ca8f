"""The thread and the tab around it: older pages keep the reader's place, the "new messages"
pill, a failed send with its reason and retry, notifications and the title badge."""

from __future__ import annotations

import itertools

import pytest
from playwright.async_api import Page, expect

from app import keys
from tests.e2e.chat_helpers import api, api_token, inbound, pair_sandbox, seed_inbound, sign_in, watch_errors
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The rendered rows of the thread, each with its message's text and local day, and whether a day
# separator stands right above it (rows carry their message as `row.msg`).
WINDOW_STATE = """
(list) => [...list.children].filter((c) => c.msg).map((row) => ({
  text: row.msg.body,
  day: new Date(row.msg.created_at).toDateString(),
  sep: Boolean(row.previousElementSibling && row.previousElementSibling.classList.contains("day-sep")),
}))
"""


async def scroll_to_end(page: Page, end: str, text: str) -> None:
    """Scroll like a reader toward the top or the bottom until `text` is the row at that end."""
    edge = page.locator(".msg .text").first if end == "top" else page.locator(".msg .text").last
    jump = "(el) => { el.scrollTop = 0; }" if end == "top" else "(el) => { el.scrollTop = el.scrollHeight; }"
    for _ in range(40):
        current = await edge.text_content()
        if current == text:
            return
        await page.locator(".messages").evaluate(jump)
        await expect(edge).not_to_have_text(current or "")      # a slice (or a page) came in
    raise AssertionError(f"never reached {text!r} scrolling to the {end}")


def check_window(rows: list[dict[str, object]], first: int, last: int, prefix: str) -> None:
    """Rows first..last, in order, each once; a separator above a row iff its day changes."""
    assert [r["text"] for r in rows] == [f"{prefix} {i:03d}" for i in range(first, last + 1)]
    for prev, row in itertools.pairwise(rows):
        assert row["sep"] == (row["day"] != prev["day"]), (prev, row)


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
    await expect(texts.first).not_to_have_text("mensaje 100")    # an older page came in above
    await expect(anchor).to_be_in_viewport()                    # the reader did not jump
    await scroll_to_end(page, "top", "mensaje 000")
    await expect(texts).to_have_count(150)
    assert await texts.all_text_contents() == [f"mensaje {i:03d}" for i in range(150)]
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


async def test_a_long_thread_keeps_a_bounded_window_in_order(page: Page, live: Live) -> None:
    """Only a window of a long thread is in the DOM: scrolling to either end renders slices there
    and drops them at the other, in order, with the day separators right (bench/ui_chat.py)."""
    errors = watch_errors(page)
    n = 330
    await seed_inbound(live, [("56912347777", "Largo Pérez", f"largo {i:03d}") for i in range(n)],
                       step_ms=25 * 60 * 1000)             # ~5.7 days: a few day separators
    token = await api_token(live)
    _, listing = await api(live, token, "GET", "/api/v1/conversations")
    conv = listing["items"][0]["id"]
    await sign_in(page, live, f"/chat/{conv}")
    rows = page.locator(".msg")
    await expect(page.locator(".msg .text").last).to_have_text(f"largo {n - 1:03d}")
    await scroll_to_end(page, "top", "largo 000")
    up = await page.locator(".messages-list").evaluate(WINDOW_STATE)
    assert len(up) <= 200 and await rows.count() == len(up)   # the rows far below were dropped
    check_window(up, 0, len(up) - 1, "largo")
    assert sum(r["sep"] for r in up) >= 2
    await scroll_to_end(page, "bottom", f"largo {n - 1:03d}")
    down = await page.locator(".messages-list").evaluate(WINDOW_STATE)
    assert len(down) <= 200
    check_window(down, n - len(down), n - 1, "largo")
    # A new message while at the bottom shows at once, no pill.
    await page.locator(".messages").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    await inbound(live, token, "56912347777", "largo nuevo")
    await expect(page.locator(".msg .text").last).to_have_text("largo nuevo")
    await expect(page.locator(".new-pill")).to_be_hidden()
    # Far up, with the newest rows dropped from the DOM: a new one waits behind the pill, which
    # brings the newest rows back.
    await scroll_to_end(page, "top", "largo 000")
    await inbound(live, token, "56912347777", "largo otro")
    await expect(page.locator(".new-pill")).to_be_visible()
    await page.locator(".new-pill").click()
    await expect(page.locator(".msg .text").last).to_have_text("largo otro")
    await expect(page.locator(".msg .text").last).to_be_in_viewport()
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
