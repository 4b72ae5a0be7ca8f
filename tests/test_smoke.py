"""Done-when 2: inbound through the sandbox reaches a live socket, in seq order, once."""

from __future__ import annotations

from tests.helpers.actors import Actor
from tests.helpers.frames import drain_until, next_frame


async def test_inbound_reaches_socket_in_seq_order(alice: Actor) -> None:
    ws, welcome = await alice.ws()
    assert welcome["resume"] == "fresh"
    result = await alice.inbound(body="Hola, ¿tienen la canción?", name="Ana")
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated")
    events = [f for f in frames if f["type"] == "event" and f["seq"] is not None]
    names = [e["event"] for e in events]
    assert names[:2] == ["new_message", "conversation_updated"]
    assert names[-1] == "stats_updated"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    data = events[0]["data"]
    assert data["clientCode"] == "acme"
    assert data["message"]["id"] == result["message_id"]
    assert data["message"]["body"] == "Hola, ¿tienen la canción?"
    assert data["conversation"]["contact"]["name"] == "Ana"
    assert events[-1]["data"]["unread"] == 1

    # The same provider id again: a duplicate, no new message, no new event.
    again = await alice.inbound(body="Hola, ¿tienen la canción?", id=data["message"]["wa_id"])
    assert again["duplicate"] is True and again["message_id"] == result["message_id"]
    resp = await alice.get(f"/api/v1/conversations/{result['conversation_id']}/messages")
    assert len((await resp.json())["items"]) == 1
    # A barrier: a call answered after the duplicate proves no event was queued before it.
    await ws.send_json({"type": "call", "id": 1, "method": "presence"})
    frame = await next_frame(ws)
    assert frame["type"] == "result", frame
