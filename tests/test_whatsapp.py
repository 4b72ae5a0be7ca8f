"""The sandbox WhatsApp link end to end: QR pairing (decoded from the SVG), rotation, expiry,
logout, receipts after a reply, and how the link's events are kept on the stream."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from yarl import URL

from app.whatsapp import sandbox
from tests.helpers.actors import Actor, make_actor
from tests.helpers.api import assert_error, decode_qr_svg, json_ok
from tests.helpers.frames import barrier, drain_until, events, next_event

PHONE = "56987654321"


async def link_state(actor: Actor) -> dict[str, Any]:
    return await json_ok(await actor.get("/api/v1/whatsapp"))


async def start_pairing(actor: Actor, ws: ClientWebSocketResponse) -> dict[str, Any]:
    """POST connect (202) and return the first whatsapp_qr frame the socket receives."""
    resp = await actor.post("/api/v1/whatsapp/connect")
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["provider"] == "sandbox"
    assert body["state"] in ("starting", "qr_pending"), body
    return await next_event(ws, "whatsapp_qr")


def scanned(actor: Actor, qr: dict[str, Any]) -> URL:
    """What a phone reads from the QR image: decoded from the SVG, checked against `value`."""
    text = decode_qr_svg(qr["svg"])
    assert text == qr["value"]
    url = URL(text)
    server = actor.client.make_url("/")
    assert (url.scheme, url.host, url.port) == (server.scheme, server.host, server.port), url
    assert url.path.startswith(sandbox.PAIR_PATH) and len(url.path) > len(sandbox.PAIR_PATH) + 16
    return url


async def confirm(actor: Actor, url: URL, phone: str = PHONE) -> int:
    """The phone posts the pairing form; return the HTTP status."""
    resp = await actor.client.session.post(url, data={"phone": phone})
    await resp.read()
    return resp.status


async def pair(actor: Actor, ws: ClientWebSocketResponse, phone: str = PHONE) -> dict[str, Any]:
    """Connect, scan, confirm; return the whatsapp_authenticated frame."""
    qr = await start_pairing(actor, ws)
    assert await confirm(actor, scanned(actor, qr["data"]), phone) == 200
    return await next_event(ws, "whatsapp_authenticated")


async def test_qr_pairing_end_to_end(alice: Actor, bob: Actor) -> None:
    ws, _ = await alice.ws()
    bob_ws, _ = await bob.ws()
    assert (await link_state(alice))["state"] == "stopped"

    before = int(time.time() * 1000)
    frame = await start_pairing(alice, ws)
    assert frame["seq"] is None  # ephemeral: never stored, never replayed
    qr = frame["data"]
    assert set(qr) >= {"value", "svg", "expires_at"}
    assert qr["svg"].lstrip().startswith("<svg")
    assert before + 0.5 * sandbox.QR_ROTATE * 1000 < qr["expires_at"] <= int(time.time() * 1000) + \
        sandbox.QR_ROTATE * 1000
    url = scanned(alice, qr)

    state = await link_state(alice)
    assert state["state"] == "qr_pending"
    assert state["qr"] == qr  # the code on screen, as the event showed it

    page = await alice.client.session.get(url)
    html = await page.text()
    assert page.status == 200, html
    assert page.content_type == "text/html"
    assert "<form" in html and 'name="phone"' in html and "Acme" in html

    # A phone number that is not one changes nothing.
    assert await confirm(alice, url, "not a phone") == 400
    assert (await link_state(alice))["state"] == "qr_pending"

    assert await confirm(alice, url, PHONE) == 200
    auth = await next_event(ws, "whatsapp_authenticated")
    assert isinstance(auth["seq"], int)
    assert auth["data"]["phone"] == PHONE
    assert before <= auth["data"]["at"] <= int(time.time() * 1000)

    state = await link_state(alice)
    assert state["state"] == "connected"
    assert state["phone"] == PHONE
    assert state["qr"] is None
    assert state["provider"] == "sandbox"

    # The used code is spent: the page and the form answer 410.
    again = await alice.client.session.get(url)
    assert again.status == 410
    assert await confirm(alice, url, "56911110000") == 410
    assert (await link_state(alice))["phone"] == PHONE

    # Nothing of it reached the other tenant.
    assert [f for f in await barrier(bob_ws) if f.get("event", "").startswith("whatsapp")] == []
    assert (await link_state(bob))["state"] == "stopped"


async def test_qr_rotates_then_gives_up(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "QR_ROTATE", 0.05)
    monkeypatch.setattr(sandbox, "QR_MAX", 2)
    ws, _ = await alice.ws()
    first = await start_pairing(alice, ws)
    second = await next_event(ws, "whatsapp_qr")
    assert first["seq"] is None and second["seq"] is None
    assert second["data"]["value"] != first["data"]["value"]
    assert second["data"]["expires_at"] >= first["data"]["expires_at"]
    urls = [scanned(alice, f["data"]) for f in (first, second)]

    gone = await next_event(ws, "whatsapp_disconnected")
    assert gone["data"]["reason"] == "qr_timeout"
    # Only QR_MAX codes were shown before giving up.
    assert [f for f in await barrier(ws) if f.get("event") == "whatsapp_qr"] == []

    state = await link_state(alice)
    assert state["state"] == "disconnected"
    assert state["qr"] is None
    for url in urls:
        assert (await alice.client.session.get(url)).status == 410
        assert await confirm(alice, url) == 410
    assert (await link_state(alice))["state"] == "disconnected"


async def test_rotated_code_is_gone_and_pairs_nothing(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "QR_ROTATE", 0.05)
    ws, _ = await alice.ws()
    first = await start_pairing(alice, ws)
    # The first code's short timer is already running; the next code lives long enough to test.
    monkeypatch.setattr(sandbox, "QR_ROTATE", 30.0)
    second = await next_event(ws, "whatsapp_qr")
    old, new = scanned(alice, first["data"]), scanned(alice, second["data"])
    assert old != new

    assert (await alice.client.session.get(old)).status == 410
    assert await confirm(alice, old) == 410
    state = await link_state(alice)
    assert state["state"] == "qr_pending"
    assert state["qr"]["value"] == second["data"]["value"]
    assert [f for f in await barrier(ws) if f.get("event") == "whatsapp_authenticated"] == []

    # The code on screen still works.
    assert (await alice.client.session.get(new)).status == 200
    assert await confirm(alice, new) == 200
    assert (await next_event(ws, "whatsapp_authenticated"))["data"]["phone"] == PHONE


async def test_logout(alice: Actor) -> None:
    ws, _ = await alice.ws()
    await pair(alice, ws)
    resp = await alice.post("/api/v1/whatsapp/logout")
    assert resp.status == 202, await resp.text()
    gone = await next_event(ws, "whatsapp_disconnected")
    assert gone["data"]["reason"] == "logout"
    state = await link_state(alice)
    assert state["state"] == "logged_out"
    assert state["qr"] is None

    # Pairing again works, and logging out while a code is on screen kills the code.
    qr = await start_pairing(alice, ws)
    url = scanned(alice, qr["data"])
    assert (await alice.post("/api/v1/whatsapp/logout")).status == 202
    assert (await link_state(alice))["state"] == "logged_out"
    assert (await alice.client.session.get(url)).status == 410
    assert await confirm(alice, url) == 410
    assert (await link_state(alice))["state"] == "logged_out"


async def test_connect_and_logout_need_an_admin(client: Any, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    await assert_error(await agent.post("/api/v1/whatsapp/connect"), 403, "forbidden")
    await assert_error(await agent.post("/api/v1/whatsapp/logout"), 403, "forbidden")
    assert (await link_state(agent))["state"] == "stopped"
    assert (await alice.client.get("/api/v1/whatsapp")).status == 401


async def reply(actor: Actor, conversation_id: str, body: str) -> dict[str, Any]:
    resp = await actor.post(f"/api/v1/conversations/{conversation_id}/messages", {"body": body})
    message = await json_ok(resp, 201)
    assert message["status"] == "queued" and message["direction"] == "out"
    return message


async def statuses_of(ws: ClientWebSocketResponse, message_id: str, last: str) -> list[dict[str, Any]]:
    """message_status frames of one message, up to the one with status `last`."""
    frames = await drain_until(
        ws, lambda f: f.get("event") == "message_status" and f["data"]["message_id"] == message_id
        and f["data"]["status"] == last,
    )
    return [f for f in events(frames, "message_status") if f["data"]["message_id"] == message_id]


async def test_reply_gets_receipts_in_order(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RECEIPTS", (("sent", 0.0), ("delivered", 0.01), ("read", 0.02)))
    ws, _ = await alice.ws()
    await pair(alice, ws)
    conv = (await alice.inbound(body="hola"))["conversation_id"]
    message = await reply(alice, conv, "¡Hola! ¿En qué te ayudo?")

    seen = await statuses_of(ws, message["id"], "read")
    assert [f["data"]["status"] for f in seen] == ["sent", "delivered", "read"]
    assert all(f["data"]["conversation_id"] == conv and "error" not in f["data"] for f in seen)
    seqs = [f["seq"] for f in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3

    items = (await json_ok(await alice.get(f"/api/v1/conversations/{conv}/messages")))["items"]
    stored = next(m for m in items if m["id"] == message["id"])
    assert stored["status"] == "read"
    assert stored["wa_id"]
    assert stored["author"]["kind"] == "user"


async def test_reply_while_not_paired_fails(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RECEIPTS", (("sent", 0.0), ("delivered", 0.0), ("read", 0.0)))
    ws, _ = await alice.ws()
    conv = (await alice.inbound(body="hola"))["conversation_id"]
    message = await reply(alice, conv, "nadie me leerá")
    seen = await statuses_of(ws, message["id"], "failed")
    assert [f["data"]["status"] for f in seen] == ["failed"]
    assert seen[0]["data"]["error"] == "whatsapp_not_connected"
    # Nothing was sent, so no receipt follows.
    assert [f for f in events(await barrier(ws), "message_status")
            if f["data"]["message_id"] == message["id"]] == []
    items = (await json_ok(await alice.get(f"/api/v1/conversations/{conv}/messages")))["items"]
    stored = next(m for m in items if m["id"] == message["id"])
    assert stored["status"] == "failed"
    assert stored["error"] == "whatsapp_not_connected"

    # After a logout, sending fails the same way.
    await pair(alice, ws)
    assert (await alice.post("/api/v1/whatsapp/logout")).status == 202
    await next_event(ws, "whatsapp_disconnected")
    message = await reply(alice, conv, "¿sigue ahí?")
    seen = await statuses_of(ws, message["id"], "failed")
    assert seen[-1]["data"]["error"] == "whatsapp_not_connected"


async def test_link_events_on_resume(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    """whatsapp_qr is never replayed; the session events replay only the newest (shared key)."""
    ws, welcome = await alice.ws()
    epoch, start = welcome["epoch"], welcome["head"]

    monkeypatch.setattr(sandbox, "QR_ROTATE", 0.02)
    monkeypatch.setattr(sandbox, "QR_MAX", 1)
    assert (await start_pairing(alice, ws))["seq"] is None
    timeout = await next_event(ws, "whatsapp_disconnected")
    assert timeout["data"]["reason"] == "qr_timeout"

    monkeypatch.setattr(sandbox, "QR_ROTATE", 30.0)
    auth = await pair(alice, ws)
    assert auth["seq"] > timeout["seq"]

    ws2, welcome2 = await alice.ws(resume={"epoch": epoch, "seq": start})
    assert welcome2["resume"] == "replaying"
    frames = await drain_until(ws2, lambda f: f.get("type") == "replay_end")
    replayed = events(frames)
    names = [f["event"] for f in replayed]
    assert "whatsapp_qr" not in names
    session = [f for f in replayed if f["event"] in ("whatsapp_authenticated", "whatsapp_disconnected")]
    assert session == [auth]

    # A resume from before the pairing but after the timeout also gets just the newest one.
    ws3, welcome3 = await alice.ws(resume={"epoch": epoch, "seq": timeout["seq"]})
    assert welcome3["resume"] == "replaying"
    frames = await drain_until(ws3, lambda f: f.get("type") == "replay_end")
    assert [f for f in events(frames) if f["event"].startswith("whatsapp")] == [auth]


async def test_connect_again_repeats_the_current_progress(alice: Actor) -> None:
    ws, _ = await alice.ws()
    first = await start_pairing(alice, ws)
    # A second screen asks again while the code is on screen: it gets that same code.
    again = await alice.post("/api/v1/whatsapp/connect")
    assert again.status == 202
    assert (await next_event(ws, "whatsapp_qr"))["data"] == first["data"]
    assert await confirm(alice, scanned(alice, first["data"])) == 200
    paired = await next_event(ws, "whatsapp_authenticated")
    # Connect once paired: the link says so again instead of leaving the caller waiting.
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    repeated = await next_event(ws, "whatsapp_authenticated")
    assert repeated["data"]["phone"] == paired["data"]["phone"] == PHONE
    assert repeated["seq"] > paired["seq"]


async def test_expired_code_answers_410_whatever_the_form_says(alice: Actor) -> None:
    resp = await alice.client.post("/sandbox/pair/not-a-real-code", data={"phone": "x"})
    assert resp.status == 410


@pytest.mark.parametrize(("body", "code"), [
    ("\x00\x01\x02", "invalid_body"),  # only control characters: empty once cleaned
    ("   ", "invalid_body"),
    (7, "invalid_body"),
    ("a" * 4097, "body_too_long"),
])
async def test_sandbox_inbound_bodies_pass_the_same_check_as_replies(
    alice: Actor, body: Any, code: str
) -> None:
    inbound = await alice.post("/api/v1/sandbox/inbound", {"from": "56911112222", "body": body})
    await assert_error(inbound, 400, code)
    conv = await alice.inbound(body="hola")
    reply = await alice.post(f"/api/v1/conversations/{conv['conversation_id']}/messages", {"body": body})
    await assert_error(reply, 400, code)
    listed = await json_ok(await alice.get(f"/api/v1/conversations/{conv['conversation_id']}/messages"))
    assert [m["body"] for m in listed["items"]] == ["hola"]
