"""The chat under harder conditions: a POST lost after it was stored, 300 conversations, a
dropped socket, a blocked socket, hostile text, a teammate typing."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Route, WebSocketRoute, expect

from app import keys
from app.realtime import const
from tests.e2e.chat_helpers import (
    api,
    api_token,
    inbound,
    pair_sandbox,
    seed_inbound,
    sign_in,
    watch_errors,
)
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_send_whose_answer_is_lost_is_retried_with_its_key_and_stored_once(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    conv = (await inbound(live, token, "56955550000", "¿Precio?"))["conversation_id"]
    await pair_sandbox(live, token)
    posts: list[tuple[str | None, int | None]] = []

    async def lose_first_answer(route: Route) -> None:
        key = route.request.headers.get("idempotency-key")
        if route.request.method != "POST":
            await route.continue_()
            return
        resp = await route.fetch()           # the server stores the message...
        if not posts:
            posts.append((key, None))
            await route.abort("connectionreset")  # ...but the page never hears back
            return
        posts.append((key, resp.status))
        await route.fulfill(response=resp)

    await page.route(f"**/api/v1/conversations/{conv}/messages", lose_first_answer)
    await sign_in(page, live, f"/chat/{conv}")
    box = page.get_by_label("Escribe un mensaje")
    await expect(box).to_be_enabled()          # the page's script runs (the HTML starts disabled)
    await box.fill("Son $9.990")
    await box.press("Enter")
    await expect(page.locator(".msg.out")).to_have_attribute("data-status", "read", timeout=15_000)
    assert len(posts) >= 2 and posts[0][0] and all(k == posts[0][0] for k, _ in posts), posts
    assert posts[1][1] == 201
    _, page_body = await api(live, token, "GET", f"/api/v1/conversations/{conv}/messages")
    assert [m["body"] for m in page_body["items"] if m["direction"] == "out"] == ["Son $9.990"]
    await expect(page.locator(".msg.out")).to_have_count(1)
    assert [e for e in errors if "ERR_CONNECTION_RESET" not in e] == []


async def test_300_conversations_scroll_in_a_window_and_search_ignores_accents(page: Page, live: Live) -> None:
    items = [(f"5699{i:07d}", f"Cliente {i:03d}", f"Consulta número {i}") for i in range(300)]
    items[17] = (items[17][0], "Camión Azul", "¿Tienen envío a Concepción?")
    await seed_inbound(live, items)
    await sign_in(page, live, "/chat")
    rows = page.locator(".conv-item")
    await expect(rows.first.locator(".conv-name")).to_have_text("Cliente 299")
    scroller = page.locator(".conv-scroller")
    shown = await rows.count()
    assert 5 < shown < 40, shown               # a window, not 300 rows
    # Scroll to the end: pages load by cursor, the DOM still holds only a window.
    for _ in range(10):
        await scroller.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
        if await page.locator(".conv-item", has_text="Cliente 000").count():
            break
        await page.wait_for_timeout(100)  # let the next page's request go out (no event to await)
    await expect(page.locator(".conv-item", has_text="Cliente 000")).to_be_visible()
    assert await rows.count() < 40
    assert await page.locator(".vlist-spacer").evaluate("(el) => el.offsetHeight") == 300 * 72
    # Accent-free words find the accented message; the list shows just that conversation.
    await page.get_by_label("Buscar por nombre, teléfono o mensaje").fill("concepcion")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".conv-name")).to_have_text("Camión Azul")
    await page.get_by_label("Buscar por nombre, teléfono o mensaje").fill("camion")
    await expect(rows.first.locator(".conv-name")).to_have_text("Camión Azul")
    await page.get_by_label("Buscar por nombre, teléfono o mensaje").fill("")
    await expect(rows.first.locator(".conv-name")).to_have_text("Cliente 299")


async def test_socket_dropped_while_20_messages_arrive_shows_all_once_in_order(page: Page, live: Live) -> None:
    token = await api_token(live)
    conv = (await inbound(live, token, "56944440000", "mensaje 00"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    indicator = page.locator("#live-indicator")
    await expect(indicator).to_have_attribute("data-state", "live")
    await expect(page.locator(".msg.in .text")).to_have_text(["mensaje 00"])
    hub = live.app[keys.HUB]
    (conn,) = hub.tenant_connections(live.tenant_id)
    hub.close(conn, const.CLOSE_SLOW_CONSUMER, "test drop")
    for i in range(1, 21):
        await inbound(live, token, "56944440000", f"mensaje {i:02d}")
    expected = [f"mensaje {i:02d}" for i in range(21)]
    await expect(page.locator(".msg.in .text")).to_have_text(expected, timeout=10_000)
    await expect(indicator).to_have_attribute("data-state", "live")
    (again,) = hub.tenant_connections(live.tenant_id)
    assert again is not conn


async def test_with_the_socket_blocked_messages_come_by_long_polling(page: Page, live: Live) -> None:
    async def refuse(ws: WebSocketRoute) -> None:
        await ws.close()

    await page.route_web_socket("**/ws*", refuse)
    token = await api_token(live)
    conv = (await inbound(live, token, "56966660000", "primero"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "polling")
    await inbound(live, token, "56966660000", "por sondeo")
    await expect(page.locator(".msg.in .text")).to_have_text(["primero", "por sondeo"])
    await expect(page.locator(".conv-item").first.locator(".conv-preview")).to_have_text("por sondeo")
    assert live.app[keys.HUB].tenant_connections(live.tenant_id) == set()


async def test_hostile_body_and_name_show_as_literal_text(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    evil = "<img src=x onerror=alert(1)>"
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    token = await api_token(live)
    conv = (await inbound(live, token, "56977770000", evil, name=evil))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    await expect(page.locator(".thread-title")).to_have_text(evil)
    await expect(page.locator(".msg.in .text")).to_have_text([evil])
    await expect(page.locator(".conv-item .conv-name")).to_have_text([evil])
    await expect(page.locator(".conv-item .conv-preview")).to_have_text([evil])
    await inbound(live, token, "56977770000", evil + " again")
    await expect(page.locator(".msg.in .text")).to_have_count(2)
    assert await page.locator("main img").count() == 0
    assert dialogs == []
    assert errors == []


async def test_a_teammates_typing_shows_in_the_thread(page: Page, live: Live) -> None:
    from app.auth import passwords, users
    from tests.e2e.conftest import PASSWORD

    db = live.app[keys.DB]
    pw_hash = passwords.hash_password(PASSWORD)
    await db.write(lambda tx: users.create_user(tx, live.tenant_id, "bea@acme.test", "Bea Agente", "agent", pw_hash))
    token = await api_token(live)
    conv = (await inbound(live, token, "56988880000", "¿Hola?"))["conversation_id"]
    await pair_sandbox(live, token)
    await sign_in(page, live, f"/chat/{conv}")
    other = await page.context.browser.new_context(locale="es-CL")
    try:
        bea = await other.new_page()
        await sign_in(bea, live, f"/chat/{conv}", email="bea@acme.test")
        await expect(bea.locator("#live-indicator")).to_have_attribute("data-state", "live")
        await expect(bea.get_by_label("Escribe un mensaje")).to_be_enabled()
        await bea.get_by_label("Escribe un mensaje").press_sequentially("Te ayudo", delay=20)
        typing = page.locator(".thread-typing")
        await expect(typing).to_have_text("Bea Agente está escribiendo…")
        await bea.get_by_label("Escribe un mensaje").fill("")
        await bea.get_by_label("Escribe un mensaje").dispatch_event("input")
        await expect(typing).to_be_hidden()
        # Bea is online: a presence dot with her name (learned from her typing).
        await expect(page.locator(".team-member")).to_have_text(["Bea Agente"])
    finally:
        await other.close()
    await expect(page.locator(".team")).to_be_hidden()        # presence_changed: offline


async def test_resync_required_reloads_the_list_and_the_open_thread(page: Page, live: Live) -> None:
    from app.realtime import stream

    token = await api_token(live)
    conv = (await inbound(live, token, "56913130000", "antes", name="Nombre Viejo"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    indicator = page.locator("#live-indicator")
    await expect(indicator).to_have_attribute("data-state", "live")
    await expect(page.locator(".thread-title")).to_have_text("Nombre Viejo")

    def forget_history(tx):  # type: ignore[no-untyped-def]
        # A change no event describes, then a new epoch: only a reload can show it.
        tx.execute("UPDATE contacts SET name = 'Nombre Nuevo' WHERE tenant_id = ? AND phone = ?",
                   (live.tenant_id, "56913130000"))
        stream.reset_stream(tx, live.tenant_id)

    await live.app[keys.DB].write(forget_history)
    hub = live.app[keys.HUB]
    (conn,) = hub.tenant_connections(live.tenant_id)
    hub.close(conn, const.CLOSE_SLOW_CONSUMER, "test drop")   # it resumes with the old epoch
    await expect(page.locator(".conv-item .conv-name")).to_have_text(["Nombre Nuevo"])
    await expect(page.locator(".thread-title")).to_have_text("Nombre Nuevo")
    await expect(indicator).to_have_attribute("data-state", "live")
    await inbound(live, token, "56913130000", "después")
    await expect(page.locator(".msg.in .text")).to_have_text(["antes", "después"])


async def test_unread_filter_and_keyboard(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    read_conv = (await inbound(live, token, "56914140001", "ya leído", name="Leída Pérez"))["conversation_id"]
    await inbound(live, token, "56914140002", "pendiente", name="Pendiente Soto")
    status, _ = await api(live, token, "POST", f"/api/v1/conversations/{read_conv}/read")
    assert status == 204
    await sign_in(page, live, "/chat")
    names = page.locator(".conv-item .conv-name")
    await expect(names).to_have_text(["Pendiente Soto", "Leída Pérez"])
    await page.get_by_role("button", name="No leídos").click()
    await expect(names).to_have_text(["Pendiente Soto"])
    await expect(page.get_by_role("button", name="No leídos")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name="Todos").click()
    await expect(names).to_have_text(["Pendiente Soto", "Leída Pérez"])
    # Ctrl+K search, ↓ into the list, ↓ again, Enter opens, Esc goes back.
    await page.keyboard.press("Control+k")
    await expect(page.get_by_label("Buscar por nombre, teléfono o mensaje")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await expect(page.locator(".conv-item a", has_text="Leída Pérez")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(live.base + f"/chat/{read_conv}")
    await expect(page.locator(".thread-title")).to_have_text("Leída Pérez")
    await page.locator(".messages").focus()
    await page.keyboard.press("Escape")
    await expect(page).to_have_url(live.base + "/chat")
    assert errors == []
