"""The chat page route and the list's unread filter (GET /api/v1/conversations?unread=1)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.actors import Actor


async def test_unread_filter_lists_only_conversations_with_unread(alice: Actor) -> None:
    read_conv = (await alice.inbound(phone="56911110001", body="uno"))["conversation_id"]
    unread_conv = (await alice.inbound(phone="56911110002", body="dos"))["conversation_id"]
    assert (await alice.post(f"/api/v1/conversations/{read_conv}/read")).status == 204
    body = await (await alice.get("/api/v1/conversations?unread=1")).json()
    assert [c["id"] for c in body["items"]] == [unread_conv]
    body = await (await alice.get("/api/v1/conversations?unread=0")).json()
    assert [c["id"] for c in body["items"]] == [unread_conv, read_conv]


async def test_chat_page_needs_a_session_and_hides_other_tenants(client: TestClient, alice: Actor, bob: Actor) -> None:
    resp = await client.get("/chat", allow_redirects=False)
    assert resp.status in (302, 303) and resp.headers["Location"].startswith("/login")
    b_conv = (await bob.inbound(phone="56922220001", body="de bob"))["conversation_id"]
    a_conv = (await alice.inbound(phone="56922220002", body="de alice"))["conversation_id"]
    ok = await alice.get(f"/chat/{a_conv}")
    assert ok.status == 200
    html = await ok.text()
    assert f'data-conversation-id="{a_conv}"' in html and "de alice" in html  # the list's first page
    assert "de bob" not in html
    foreign = await alice.get(f"/chat/{b_conv}")
    assert foreign.status == 404
    assert "de bob" not in await foreign.text()
    assert (await alice.get("/chat/not-an-id")).status == 404


async def test_first_rows_are_drawn_by_the_server_escaped(alice: Actor) -> None:
    evil = "<img src=x onerror=alert(1)>"
    conv = (await alice.inbound(phone="56933330001", body=evil, name=evil))["conversation_id"]
    await alice.inbound(phone="56987654321", body="hola")
    html = await (await alice.get("/chat")).text()
    assert 'class="ssr-rows"' in html and f'href="/chat/{conv}"' in html
    assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "+56 9 8765 4321" in html                     # a number without a name, formatted


def test_server_row_helpers_match_the_browser_ones() -> None:
    from app.web import chat_rows

    # The same values list.js/format.js give (see static/js/chat/format.js).
    assert chat_rows.initials("María José Fuentes") == "MF"
    assert chat_rows.initials("  ") == ""
    assert chat_rows.format_phone("56987654321") == "+56 9 8765 4321"
    assert chat_rows.format_phone("5491133445566") == "+549 113 344 5566"
    assert chat_rows.avatar_index("17") == (49 * 31 + 55) % 8
