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

# The row nearest the middle of the thread pane, by id, and where it stands on screen.
MIDDLE_ROW = """
(el) => {
  const box = el.getBoundingClientRect();
  const y = box.top + box.height / 2;
  const row = [...el.querySelectorAll(".msg")].find((r) => {
    const b = r.getBoundingClientRect();
    return b.top <= y && b.bottom >= y;
  }) ?? [...el.querySelectorAll(".msg")].find((r) => r.getBoundingClientRect().top >= y);
  return [row.dataset.id, row.getBoundingClientRect().top, el.scrollTop];
}
"""
ROW_TOP = "([el, id]) => el.querySelector(`.msg[data-id=\"${id}\"]`).getBoundingClientRect().top"
# The text's glyphs end inside its bubble (rows clip their paint, so overflow would not scroll).
WRAPS_INSIDE_BUBBLE = """
(text) => {
  const range = document.createRange();
  range.selectNodeContents(text);
  const bubble = text.closest(".bubble").getBoundingClientRect();
  return range.getBoundingClientRect().right <= bubble.right && range.getClientRects().length > 1;
}
"""
NO_SCROLL_ANCHORING = """
document.addEventListener("DOMContentLoaded", () => {
  const pane = document.querySelector(".messages");     // not on the sign-in page
  if (pane) pane.style.overflowAnchor = "none";           // CSSOM: allowed by the CSP
});
"""
NEXT_FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


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
    # The window of the oldest, in order (the newest were dropped on the way up).
    window = await texts.all_text_contents()
    assert 50 <= len(window) <= 70 and window == [f"mensaje {i:03d}" for i in range(len(window))]
    pill = page.locator(".new-pill")
    await expect(pill).to_be_hidden()
    await inbound(live, token, "56912340000", "mensaje nuevo")
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
    assert len(up) <= 70 and await rows.count() == len(up)   # the rows far below were dropped
    check_window(up, 0, len(up) - 1, "largo")
    assert sum(r["sep"] for r in up) >= 2
    await scroll_to_end(page, "bottom", f"largo {n - 1:03d}")
    down = await page.locator(".messages-list").evaluate(WINDOW_STATE)
    assert len(down) <= 70
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


@pytest.mark.parametrize("anchoring", ["browser", "measured"])
async def test_scrolling_up_slice_by_slice_never_moves_what_the_reader_sees(page: Page, live: Live,
                                                                            anchoring: str) -> None:
    """A reader scrolling up a long thread a wheel-step at a time: each step moves the text by
    exactly the step, also in the frames where a slice is rendered above or an older page
    arrives; a long unbroken word wraps inside its bubble. Chromium anchors the scroll itself;
    with `overflow-anchor: none` (as in Safari, which has no scroll anchoring) the page measures
    and corrects."""
    errors = watch_errors(page)
    if anchoring == "measured":
        await page.add_init_script(NO_SCROLL_ANCHORING)
    n = 260
    word = "https://tienda.example/" + "x" * 160
    await seed_inbound(live, [("56912348888", "Paso Soto", f"paso {i:03d}" if i != n - 3 else word)
                              for i in range(n)])
    token = await api_token(live)
    _, listing = await api(live, token, "GET", "/api/v1/conversations")
    await sign_in(page, live, f"/chat/{listing['items'][0]['id']}")
    scroller = page.locator(".messages")
    await expect(page.locator(".msg .text").last).to_have_text(f"paso {n - 1:03d}")
    long_text = page.locator(".msg .text", has_text="https://tienda.example/")
    assert await long_text.evaluate(WRAPS_INSIDE_BUBBLE)        # the long word wraps
    step, firsts = 150, set()
    for _ in range(200):
        row, top, scroll_top = await scroller.evaluate(MIDDLE_ROW)
        if scroll_top < step:
            # At the very top the next older page or slice is on its way: wait for it.
            first = await page.locator(".msg").first.get_attribute("data-id")
            if await page.locator(".msg .text").first.text_content() == "paso 000":
                break
            await scroller.evaluate("(el) => { el.scrollTop = 0; }")
            await expect(page.locator(".msg").first).not_to_have_attribute("data-id", first or "")
            continue
        await scroller.evaluate(f"(el) => {{ el.scrollTop -= {step}; }}")
        await page.evaluate(NEXT_FRAMES)                        # the scroll handler and its layout ran
        moved = await page.evaluate(ROW_TOP, [await scroller.element_handle(), row]) - top
        assert abs(moved - step) <= 1, f"the row under the reader moved {moved:.1f} px for a {step} px step"
        firsts.add(await page.locator(".msg").first.get_attribute("data-id"))
    else:
        raise AssertionError("never reached the first message")
    assert len(firsts) >= 8                                     # slices and pages came in on the way
    assert await page.locator(".msg").count() <= 70
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
