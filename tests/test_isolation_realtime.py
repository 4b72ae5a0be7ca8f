"""PROTOCOL §2 and §4.1 over the realtime paths: a live socket, a waiting long-poll, a replay
and the typing call of tenant B never carry, wake for or name anything of tenant A, while A's
busy day (messages, media, pairing, sends, receipts, stats, presence, typing) goes on.
The REST routes' cases are in tests/test_isolation.py."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.whatsapp import sandbox
from tests.helpers.actors import Actor, make_actor
from tests.helpers.frames import drain_until, is_event
from tests.helpers.security import (
    ParkSignal,
    assert_clean,
    poll_while_parked,
    stream_position,
    tenant_barrier,
)
from tests.helpers.tenant_a import (
    A_BODY,
    A_MARKERS,
    A_NAME,
    A_PAIR_PHONE,
    A_PHONE,
    A_PHONE2,
    A_PHOTO,
    B_PHONE,
    B_PHONE2,
)


@pytest.fixture
def fast_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sandbox receipts at once, so a test can await the last one instead of sleeping."""
    monkeypatch.setattr(sandbox, "RECEIPTS", (("sent", 0.0), ("delivered", 0.0), ("read", 0.0)))


async def busy_day(client: TestClient, alice: Actor, ws_a: Any) -> None:
    """Tenant A produces every kind of event, each awaited on A's own socket."""
    first = await alice.inbound(phone=A_PHONE, body=A_BODY, name=A_NAME)
    await alice.inbound(phone=A_PHONE2, body=A_BODY + " dos")
    conv = first["conversation_id"]
    await drain_until(ws_a, is_event("new_message", lambda d: d["message"]["body"] == A_BODY + " dos"))
    await alice.inbound(phone=A_PHONE, body=A_BODY + " foto", media=A_PHOTO)
    await drain_until(ws_a, is_event("message_media", lambda d: d["media"]["state"] == "ready"))
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    qr = (await drain_until(ws_a, is_event("whatsapp_qr")))[-1]["data"]
    pair = await client.post("/sandbox/pair/" + qr["value"].rsplit("/", 1)[1], data={"phone": A_PAIR_PHONE})
    assert pair.status == 200
    await drain_until(ws_a, is_event("whatsapp_authenticated"))
    sent = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": A_BODY + " respuesta"})
    assert sent.status == 201
    out_id = (await sent.json())["id"]
    await drain_until(ws_a, is_event("message_status",
                                     lambda d: d["message_id"] == out_id and d["status"] == "read"))
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    await drain_until(ws_a, is_event("stats_updated",
                                     lambda d: d["unread"] == 1 and d["messages_today_out"] == 1))
    agent = await make_actor(client, "acme", role="agent")  # presence and typing, both ephemeral
    ws_agent, _ = await agent.ws()
    await drain_until(ws_a, is_event("presence_changed"))
    await ws_agent.send_json({"type": "call", "id": 1, "method": "typing",
                              "params": {"conversation_id": conv}})
    await drain_until(ws_a, is_event("typing"))


async def test_live_socket_never_carries_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    ws_b, welcome_b = await bob.ws()
    ws_a, welcome_a = await alice.ws()
    assert welcome_b["epoch"] != welcome_a["epoch"]
    await busy_day(client, alice, ws_a)
    frames = await tenant_barrier(ws_b, bob, phone=B_PHONE, body="globex barrera")
    frames += await drain_until(ws_b, is_event("stats_updated"))
    assert_clean(frames, A_MARKERS)


async def test_waiting_long_poll_never_wakes_for_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    signal = ParkSignal(client)
    try:
        ws_a, _ = await alice.ws()
        epoch_b, head_b = await stream_position(bob)
        poll = await poll_while_parked(bob, signal, head_b, epoch_b)
        await busy_day(client, alice, ws_a)
        mine = await bob.inbound(phone=B_PHONE, body="globex barrera")
        answer = await poll
    finally:
        signal.restore()
    assert answer["epoch"] == epoch_b
    events = answer["events"]
    # Woken by B's own message, not earlier by A's events, and carrying none of A's.
    assert events and events[0]["event"] == "new_message", answer
    assert events[0]["data"]["message"]["id"] == mine["message_id"]
    assert_clean(events, A_MARKERS)


async def test_replay_never_carries_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    ws_a, _ = await alice.ws()
    await busy_day(client, alice, ws_a)
    mine = await bob.inbound(phone=B_PHONE, body="globex propio")
    epoch_a, head_a = await stream_position(alice)
    epoch_b, _ = await stream_position(bob)

    ws_b, welcome = await bob.ws(resume={"epoch": epoch_b, "seq": 0})
    assert welcome["resume"] == "replaying" and welcome["epoch"] == epoch_b
    frames = await drain_until(ws_b, lambda f: f["type"] == "replay_end")
    replayed = [f for f in frames if f["type"] == "event"]
    assert mine["message_id"] in [f["data"]["message"]["id"] for f in replayed if f["event"] == "new_message"]
    assert_clean(frames, A_MARKERS)

    polled = await (await bob.get(f"/api/v1/events?since=0&epoch={epoch_b}&timeout=0")).json()
    assert polled["epoch"] == epoch_b and polled["events"]
    assert_clean(polled["events"], A_MARKERS)
    assert mine["message_id"] in [e["data"]["message"]["id"] for e in polled["events"]
                                  if e["event"] == "new_message"]

    # A's epoch, or A's cursor, names nothing in B's stream: resync, never A's events.
    assert head_a > welcome["head"]
    ws_b2, welcome2 = await bob.ws(resume={"epoch": epoch_a, "seq": 0})
    ws_b3, welcome3 = await bob.ws(resume={"epoch": epoch_b, "seq": head_a})
    for welcome_ in (welcome2, welcome3):
        assert welcome_["resume"] == "resync_required" and welcome_["epoch"] == epoch_b
    frames2 = await tenant_barrier(ws_b2, bob, phone=B_PHONE2, body="globex barrera")
    frames3 = await drain_until(ws_b3, is_event("new_message"))
    assert frames3[-1]["data"]["message"]["id"] == frames2[-1]["data"]["message"]["id"]
    assert_clean(frames2 + frames3, A_MARKERS)
    gone = await bob.get(f"/api/v1/events?since=0&epoch={epoch_a}&timeout=0")
    assert gone.status == 410
    body = await gone.json()
    assert body["error"]["code"] == "resync_required" and "events" not in body
    assert_clean([body], A_MARKERS)
    assert body["error"].get("epoch", epoch_b) == epoch_b


async def test_typing_cannot_name_the_other_tenants_conversation(alice: Actor, bob: Actor) -> None:
    ws_a, _ = await alice.ws()
    ws_b, _ = await bob.ws()
    a_conv = (await alice.inbound(phone=A_PHONE, body=A_BODY))["conversation_id"]
    b_conv = (await bob.inbound(phone=B_PHONE, body="globex"))["conversation_id"]
    await bob.inbound(phone=B_PHONE2, body="globex dos")  # B's figures differ from A's
    await drain_until(ws_a, is_event("stats_updated"))

    async def typing(call_id: int, conv: str) -> dict[str, Any]:
        await ws_b.send_json({"type": "call", "id": call_id, "method": "typing",
                              "params": {"conversation_id": conv}})
        return (await drain_until(ws_b, lambda f: f["type"] == "result"))[-1]

    foreign = await typing(1, a_conv)
    missing = await typing(2, "999999999")
    assert foreign["ok"] is False and foreign["error"]["code"] == "not_found", foreign
    assert {**foreign, "id": 0} == {**missing, "id": 0}
    assert (await typing(3, b_conv))["ok"] is True  # typing in B's own conversation works
    await ws_b.send_json({"type": "call", "id": 4, "method": "presence"})
    result = (await drain_until(ws_b, lambda f: f["type"] == "result"))[-1]
    assert result["data"]["online"] == [str(bob.user_id)]
    # A's socket got no typing event, neither for its own conversation nor for B's.
    frames = await tenant_barrier(ws_a, alice, phone=A_PHONE2, body="barrera")
    assert not [f for f in frames if f.get("event") == "typing"]
