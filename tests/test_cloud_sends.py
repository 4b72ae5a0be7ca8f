"""Cloud API sends against the fake Graph API: accepted => sent, forward-only receipts,
retries with back-off for throttling / 5xx / timeouts, permanent errors with their reason, and
the refusals that hold a tenant's sends (expired token, restricted number)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.services import outbox
from app.whatsapp import cloud
from tests.conftest import STAND_IN_RATE
from tests.helpers.actors import Actor, make_actor
from tests.helpers.fake_graph import FakeGraph
from tests.helpers.frames import barrier, events, next_event
from tests.test_webhooks import SECRET, payload, post_hook, text

CHAT = json.loads((Path(__file__).parent.parent / "app" / "locales" / "chat.json").read_text())
DASH = json.loads((Path(__file__).parent.parent / "app" / "locales" / "dashboard.json").read_text())


async def cloud_actor(client: TestClient, code: str, graph: FakeGraph, pnid: str) -> Actor:
    """A tenant on the Cloud API at the fake Graph, connected, with one customer conversation."""
    actor = await make_actor(client, code)
    config = {"provider": "cloud", "phone_number_id": pnid, "access_token": "tok-" + code,
              "app_secret": SECRET + code, "verify_token": "v", "api_base": graph.base}
    resp = await actor.client.put("/api/v1/whatsapp/config", json=config, headers=actor.headers)
    assert resp.status == 200, await resp.text()
    assert (await actor.post("/api/v1/whatsapp/connect")).status == 202
    assert (await post_hook(actor, payload(pnid, text(f"wamid.IN.{code}", "hola")))).status == 200
    await client.app[keys.WEBHOOKS].idle()
    return actor


async def conversation(actor: Actor) -> str:
    items = (await (await actor.get("/api/v1/conversations")).json())["items"]
    assert len(items) == 1
    return str(items[0]["id"])


async def send(actor: Actor, conv: str, body: str = "¡Hola!") -> dict[str, Any]:
    resp = await actor.post(f"/api/v1/conversations/{conv}/messages", {"body": body})
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["status"] == "queued"
    return message


async def status_of(actor: Actor, conv: str, message_id: str) -> dict[str, Any]:
    items = (await (await actor.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]
    return next(m for m in items if m["id"] == message_id)


async def outbox_row(actor: Actor, message_id: str) -> tuple[str, int]:
    tid = actor.tenant_id
    row = await actor.client.app[keys.DB].read(lambda c: c.execute(
        "SELECT state, attempts FROM outbox WHERE tenant_id = ? AND message_id = ?",
        (tid, int(message_id))).fetchone())
    return row[0], row[1]


def receipt(wamid: str, status: str) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": "1750857390", "recipient_id": "16505551234"}


async def test_accepted_is_sent_at_once_and_receipts_only_move_forward(
        stand_in: TestClient, graph: FakeGraph) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    ws, _ = await alice.ws()
    message = await send(alice, conv)
    # `sent` comes from the Graph API's 200, not from a receipt (none was posted).
    frame = await next_event(ws, "message_status")
    assert frame["data"] == {"message_id": message["id"], "conversation_id": conv, "status": "sent"}
    [accepted] = graph.accepted
    assert accepted.token == "tok-acme" and accepted.phone_number_id == "1001"
    assert accepted.payload["to"] == "16505551234" and accepted.payload["text"]["body"] == "¡Hola!"
    assert (await status_of(alice, conv, message["id"]))["status"] == "sent"

    # A late `sent` receipt changes nothing; read before delivered still ends at read.
    for status in ("sent", "read", "delivered", "sent"):
        resp = await post_hook(alice, payload("1001", statuses=[receipt(accepted.wamid, status)]))
        assert resp.status == 200
    await stand_in.app[keys.WEBHOOKS].idle()
    statuses = [e["data"]["status"] for e in events(await barrier(ws), "message_status")]
    assert statuses == ["read"]
    assert (await status_of(alice, conv, message["id"]))["status"] == "read"
    assert len(graph.accepted) == 1 and graph.requests == 1


async def test_throttled_send_is_retried_after_a_pause_then_sent_once(
        stand_in: TestClient, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "BACKOFF_BASE", 0.2)
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    ws, _ = await alice.ws()
    graph.throttle()
    message = await send(alice, conv)
    frame = await next_event(ws, "message_status")
    # The 130429 left the message queued (no `failed` on the way), then the retry went through.
    assert frame["data"]["status"] == "sent"
    assert graph.requests == 2 and len(graph.accepted) == 1
    # Exponential back-off with jitter: at least half of the first step, no busy loop.
    assert graph.seen_at[1] - graph.seen_at[0] >= 0.1
    assert await outbox_row(alice, message["id"]) == ("accepted", 2)
    # And the number's rate went down (the governor was told).
    assert stand_in.app[keys.OUTBOX].governor.rate(alice.tenant_id) < STAND_IN_RATE


@pytest.mark.parametrize("script", ["5xx", "bare_503", "timeout", "pair_limit"])
async def test_transient_failures_are_retried(stand_in: TestClient, graph: FakeGraph,
                                              monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(cloud, "SEND_TIMEOUT", 0.3)
    monkeypatch.setitem(cloud.MIN_DELAY, 131056, 0.05)
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    {"5xx": lambda: graph.fail(131000), "bare_503": lambda: graph.fail(None, http_status=503),
     "timeout": graph.hang, "pair_limit": lambda: graph.fail(131056)}[script]()
    ws, _ = await alice.ws()
    message = await send(alice, conv)
    frame = await next_event(ws, "message_status")  # no `failed` on the way
    assert frame["data"]["message_id"] == message["id"] and frame["data"]["status"] == "sent"
    assert graph.requests == 2 and len(graph.accepted) == 1
    if script == "pair_limit":
        assert graph.seen_at[1] - graph.seen_at[0] >= 0.05  # at least the pair-limit delay


async def test_retry_budget_is_bounded(stand_in: TestClient, graph: FakeGraph,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 3)
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    ws, _ = await alice.ws()
    graph.fail(None, http_status=503, times=10)
    message = await send(alice, conv)
    frame = await next_event(ws, "message_status")
    assert frame["data"] == {"message_id": message["id"], "conversation_id": conv,
                             "status": "failed", "error": "http_503"}
    assert graph.requests == 3 and graph.accepted == []
    assert await outbox_row(alice, message["id"]) == ("failed", 3)


@pytest.mark.parametrize(("code", "words_es", "words_en"), [
    (131047, "plantilla", "template"),
    (131026, "no tiene WhatsApp", "not on WhatsApp"),
    (131051, "no admite este tipo", "does not support this type"),
])
async def test_permanent_errors_fail_at_once_with_words(
        stand_in: TestClient, graph: FakeGraph, code: int, words_es: str, words_en: str) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    conv = await conversation(alice)
    ws, _ = await alice.ws()
    graph.fail(code)
    message = await send(alice, conv)
    frame = await next_event(ws, "message_status")
    assert frame["data"]["status"] == "failed" and frame["data"]["error"] == f"wa_{code}"
    assert graph.requests == 1  # not retried
    assert (await status_of(alice, conv, message["id"]))["error"] == f"wa_{code}"
    # The failed bubble turns the code into words in the agent's language (thread.js err_<code>).
    words = CHAT[f"chat.err_wa_{code}"]
    assert words_es in words["es"] and words_en in words["en"]
    # The link is still up: the next message goes out.
    await send(alice, conv, "otro")
    await graph.wait_accepted(1)
    link = await (await alice.get("/api/v1/whatsapp")).json()
    assert link["state"] == "connected"


@pytest.mark.parametrize(("code", "reason"), [(190, "auth_error"), (368, "restricted"),
                                              (131048, "restricted")])
async def test_channel_refusals_fail_the_link_and_hold_sends_until_reconnected(
        stand_in: TestClient, graph: FakeGraph, code: int, reason: str) -> None:
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    bob = await cloud_actor(stand_in, "globex", graph, "2002")
    conv, bob_conv = await conversation(alice), await conversation(bob)
    ws, _ = await alice.ws()
    bob_ws, _ = await bob.ws()
    graph.fail(code)
    first = await send(alice, conv)
    gone = await next_event(ws, "whatsapp_disconnected")
    assert gone["data"]["state"] == "failed" and gone["data"]["reason"] == reason
    link = await (await alice.get("/api/v1/whatsapp")).json()
    assert (link["state"], link["reason"]) == ("failed", reason)
    assert (await status_of(alice, conv, first["id"]))["error"] == f"wa_{code}"
    assert DASH[f"wa.reason.{reason}"]["es"] and DASH[f"wa.reason.{reason}"]["en"]

    # Held: a new reply stays queued and never reaches Meta; the other tenant sends normally.
    held = await send(alice, conv, "¿sigue ahí?")
    await send(bob, bob_conv, "hola bob")
    [bob_sent] = await graph.wait_accepted(1)
    assert bob_sent.token == "tok-globex"
    await stand_in.app[keys.OUTBOX]._dispatch()  # one more pass changes nothing for alice
    assert graph.requests == 2
    assert await outbox_row(alice, held["id"]) == ("queued", 0)
    assert not [f for f in await barrier(bob_ws) if f.get("event") == "whatsapp_disconnected"]

    # The admin connects again (new token): the held reply goes out.
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    sent = await graph.wait_accepted(2)
    assert sent[1].payload["text"]["body"] == "¿sigue ahí?" and sent[1].token == "tok-acme"
    assert (await status_of(alice, conv, first["id"]))["status"] == "failed"
