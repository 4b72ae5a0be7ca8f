"""Reply-to context (REST `reply_to` -> Graph `context.message_id`) and mark-as-read sent to the
Graph API when an agent opens a conversation; both scoped to the caller's tenant."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from app import keys
from tests.helpers.fake_graph import FakeGraph
from tests.test_cloud_sends import cloud_actor, conversation
from tests.test_webhooks import payload, post_hook, text


async def thread(actor: Any, conv: str) -> list[dict[str, Any]]:
    return (await (await actor.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]


async def test_reply_carries_the_quoted_wamid(stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    [inbound] = await thread(alice, conv)
    resp = await alice.post(f"/api/v1/conversations/{conv}/messages",
                            {"body": "Sí, en azul también", "reply_to": inbound["id"]})
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["reply_to"] == inbound["id"]
    [sent] = await graph.wait_accepted(1)
    assert sent.payload["context"] == {"message_id": "wamid.IN.acme"}
    assert sent.payload["text"]["body"] == "Sí, en azul también"
    listed = (await thread(alice, conv))[-1]
    assert listed["id"] == message["id"] and listed["reply_to"] == inbound["id"]
    # A plain reply has neither.
    plain = await (await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "ok"})).json()
    assert "reply_to" not in plain
    sends = await graph.wait_accepted(2)
    assert "context" not in sends[1].payload


async def test_reply_to_must_be_a_message_of_that_conversation(
        stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    bob = await cloud_actor(stand_in, "globex", graph, "2002")
    conv, bob_conv = await conversation(alice), await conversation(bob)
    [bob_msg] = await thread(bob, bob_conv)
    # A second conversation of alice's, with its own message.
    assert (await post_hook(alice, payload("1001", text("wamid.IN.other", "otra", sender="16505550000")))
            ).status == 200
    await stand_in.app[keys.WEBHOOKS].idle()
    items = (await (await alice.get("/api/v1/conversations")).json())["items"]
    other_conv = next(i["id"] for i in items if i["id"] != conv)
    [other_msg] = await thread(alice, other_conv)
    for bad in (bob_msg["id"], other_msg["id"], "999999", "abc", 12, "-1"):
        resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "x", "reply_to": bad})
        assert resp.status == 400, (bad, await resp.text())
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_reply_to" and error["field"] == "reply_to"
    assert len(await thread(alice, conv)) == 1  # nothing half-written
    assert graph.requests == 0
    # The same Idempotency-Key with another reply_to is another request.
    [mine] = await thread(alice, conv)
    first = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "x", "reply_to": mine["id"]},
                             headers={"Idempotency-Key": "k"})
    assert first.status == 201
    again = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "x"},
                             headers={"Idempotency-Key": "k"})
    assert again.status == 409


async def test_opening_a_conversation_marks_it_read_at_meta(
        stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    bob = await cloud_actor(stand_in, "globex", graph, "2002")
    conv, bob_conv = await conversation(alice), await conversation(bob)
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    await graph.wait_for(lambda g: len(g.reads) == 1)
    assert graph.reads[0] == {"messaging_product": "whatsapp", "status": "read",
                              "message_id": "wamid.IN.acme"}
    assert graph.tokens[-1] == "tok-acme"
    # Already read: no call. Another tenant's conversation: 404 and no call.
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    assert (await alice.post(f"/api/v1/conversations/{bob_conv}/read")).status == 404
    # A new message, read again: one more call, for the newest message (it covers the earlier).
    assert (await post_hook(alice, payload("1001", text("wamid.IN.acme2", "¿hola?")))).status == 200
    await stand_in.app[keys.WEBHOOKS].idle()
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    await graph.wait_for(lambda g: len(g.reads) == 2)
    assert [r["message_id"] for r in graph.reads] == ["wamid.IN.acme", "wamid.IN.acme2"]
    assert graph.requests == 0  # reads are not sends


async def test_a_refused_read_mark_changes_nothing_here(stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    graph.token = "another-token"  # Meta answers 190 to the read mark
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    await graph.wait_for(lambda g: "tok-acme" in g.tokens[-1:])
    await stand_in.app[keys.PROVIDERS].close()  # the background call has finished
    item = await (await alice.get(f"/api/v1/conversations/{conv}")).json()
    assert item["unread_count"] == 0
    link = await (await alice.get("/api/v1/whatsapp")).json()
    assert link["state"] == "connected"  # a read mark never fails the link


async def test_cloud_config_keeps_the_waba_id(stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    base = {"provider": "cloud", "api_base": graph.base}
    resp = await alice.client.put("/api/v1/whatsapp/config", json={**base, "waba_id": "4455"},
                                  headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["waba_id"] == "4455"
    # Absent keeps it (as for the other fields); not digits is refused, nothing written.
    shown = await (await alice.client.put("/api/v1/whatsapp/config", json=base, headers=alice.headers)).json()
    assert shown["waba_id"] == "4455" and shown["phone_number_id"] == "1001"
    bad = await alice.client.put("/api/v1/whatsapp/config", json={**base, "waba_id": "12a"},
                                 headers=alice.headers)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "waba_id"
    assert (await (await alice.get("/api/v1/whatsapp/config")).json())["waba_id"] == "4455"
