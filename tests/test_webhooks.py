"""Cloud API webhooks: handshake, signature on raw bytes, durable ingest, isolation, sends."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app import create_app, keys
from app.config import Config
from app.services import webhook_queue, whatsapp_config
from app.whatsapp.cloud_webhook import parse_webhook, sign
from tests.helpers.actors import Actor, make_actor
from tests.helpers.frames import next_event, next_frame

SECRET = "meta-app-secret-for-tests"


def payload(phone_number_id: str, *items: dict[str, Any], statuses: list[Any] | None = None) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Sheena Ñandú"}, "wa_id": "16505551234"}],
        "messages": list(items),
    }
    if statuses:
        value["statuses"] = statuses
    return orjson.dumps({"object": "whatsapp_business_account",
                         "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})


def text(wamid: str, body: str, sender: str = "16505551234") -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": "1750857384", "type": "text", "text": {"body": body}}


async def make_cloud(actor: Actor, phone_number_id: str, api_base: str | None = None) -> None:
    config = {"provider": "cloud", "phone_number_id": phone_number_id, "access_token": "tok-" + actor.code,
              "app_secret": SECRET + actor.code, "verify_token": "verify-" + actor.code}
    if api_base:
        config["api_base"] = api_base
    resp = await actor.client.put("/api/v1/whatsapp/config", json=config, headers=actor.headers)
    assert resp.status == 200, await resp.text()
    shown = await resp.json()
    assert shown["provider"] == "cloud"
    assert SECRET not in orjson.dumps(shown).decode()  # secrets are masked
    assert shown["webhook_url"].endswith(f"/webhooks/whatsapp/{actor.code}")


async def post_hook(actor: Actor, body: bytes, secret: str | None = None, code: str | None = None) -> Any:
    signature = sign(secret if secret is not None else SECRET + actor.code, body)
    return await actor.client.post(f"/webhooks/whatsapp/{code or actor.code}", data=body,
                                   headers={"X-Hub-Signature-256": signature,
                                            "Content-Type": "application/json"})


def test_signature_matches_github_test_vector() -> None:
    # Same scheme as Meta's; the vector is from GitHub's webhook docs.
    assert sign("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_parse_skips_malformed_items_and_foreign_numbers() -> None:
    body = orjson.loads(payload("111", text("w1", "ok"), {"id": "w2", "type": "text"}, {"from": "1"}))
    batch = parse_webhook(body, "111")
    assert [m.wa_id for m in batch.messages] == ["w1"]
    assert batch.skipped == 2
    assert parse_webhook(body, "222").messages == []


async def test_verify_handshake(alice: Actor) -> None:
    await make_cloud(alice, "1001")
    ok = await alice.client.get("/webhooks/whatsapp/acme", params={
        "hub.mode": "subscribe", "hub.challenge": "12345", "hub.verify_token": "verify-acme"})
    assert ok.status == 200 and await ok.text() == "12345"
    bad = await alice.client.get("/webhooks/whatsapp/acme", params={
        "hub.mode": "subscribe", "hub.challenge": "12345", "hub.verify_token": "nope"})
    assert bad.status == 403
    assert (await bad.json())["error"]["code"] == "verification_failed"


async def test_signed_webhook_is_committed_and_announced_once(alice: Actor) -> None:
    await make_cloud(alice, "1001")
    ws, _ = await alice.ws()
    body = payload("1001", text("wamid.A1", "¿Tienen la canción en vinilo? 🎵"))
    resp = await post_hook(alice, body)
    assert resp.status == 200 and (await resp.json())["ok"] is True
    event = await next_event(ws, "new_message")
    assert event["data"]["message"]["body"] == "¿Tienen la canción en vinilo? 🎵"
    assert event["data"]["conversation"]["contact"]["name"] == "Sheena Ñandú"
    # Meta retries: the same delivery again creates nothing.
    again = await post_hook(alice, body)
    assert again.status == 200
    await alice.client.app[keys.WEBHOOKS].idle()
    await ws.send_json({"type": "call", "id": 1, "method": "presence"})
    while (frame := await next_frame(ws))["type"] != "result":
        assert frame.get("event") != "new_message", frame
    found = await (await alice.get("/api/v1/conversations", params={"q": "cancion"})).json()
    assert len(found["items"]) == 1


async def test_bad_signature_is_refused_and_stores_nothing(alice: Actor) -> None:
    await make_cloud(alice, "1001")
    body = payload("1001", text("wamid.B1", "hola"))
    resp = await post_hook(alice, body, secret="wrong")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_signature"
    # A signature over re-serialized JSON (different bytes) is also refused.
    tampered = body.replace(b"hola", b"HOLA")
    resp = await alice.client.post("/webhooks/whatsapp/acme", data=tampered,
                                   headers={"X-Hub-Signature-256": sign(SECRET + "acme", body)})
    assert resp.status == 401
    listed = await (await alice.get("/api/v1/conversations")).json()
    assert listed["items"] == []


async def test_webhooks_never_cross_tenants(alice: Actor, bob: Actor) -> None:
    await make_cloud(alice, "1001")
    await make_cloud(bob, "2002")
    # A's number delivered to B's URL (signed with B's secret) is skipped, not stored in B.
    resp = await post_hook(bob, payload("1001", text("wamid.X", "para A")))
    assert resp.status == 200
    await bob.client.app[keys.WEBHOOKS].idle()
    # A's secret does not open B's URL.
    resp = await post_hook(bob, payload("2002", text("wamid.Y", "x")), secret=SECRET + "acme")
    assert resp.status == 401
    assert (await (await bob.get("/api/v1/conversations")).json())["items"] == []
    # A sandbox tenant has no webhook.
    carol = await make_actor(alice.client, "initech")
    resp = await post_hook(carol, payload("3003", text("wamid.Z", "x")))
    assert resp.status == 404
    # Claiming another tenant's phone_number_id is refused.
    resp = await carol.client.put("/api/v1/whatsapp/config", headers=carol.headers,
                                  json={"provider": "cloud", "phone_number_id": "1001",
                                        "access_token": "t", "app_secret": "s"})
    assert resp.status == 409


@pytest.fixture
async def stand_in_alice(aiohttp_client: Any, config: Config) -> Actor:
    """Admin of `acme` on a server whose operator allows a stand-in Graph API base."""
    client = await aiohttp_client(create_app(dataclasses.replace(config, allow_custom_api_base=True)))
    return await make_actor(client, "acme")


async def put_config(actor: Actor, **fields: str) -> Any:
    body = {"provider": "cloud", "phone_number_id": "1001", "access_token": "tok",
            "app_secret": SECRET, **fields}
    return await actor.client.put("/api/v1/whatsapp/config", json=body, headers=actor.headers)


@pytest.mark.parametrize("base", [
    "http://127.0.0.1:9/v23.0", "https://169.254.169.254/latest", "https://graph.facebook.com.evil.test/v23.0",
    "https://graph.facebook.com:8443/v23.0", "https://user@graph.facebook.com/v23.0",
    "http://graph.facebook.com/v23.0", "https://graph.facebook.com/v23.0/../../x",
])
async def test_custom_api_base_refused_by_default(alice: Actor, base: str) -> None:
    resp = await put_config(alice, api_base=base)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "api_base_not_allowed" and error["field"] == "api_base"
    assert "CONDORITO_ALLOW_CUSTOM_API_BASE" in error["message"]
    shown = await (await alice.get("/api/v1/whatsapp/config")).json()
    assert shown["provider"] == "sandbox" and "api_base" not in shown  # nothing half-written


async def test_meta_base_always_accepted(alice: Actor) -> None:
    for base in ("https://graph.facebook.com/v21.0", "https://graph.facebook.com/v23.0/", ""):
        resp = await put_config(alice, api_base=base)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["api_base"] == (base or whatsapp_config.DEFAULT_API_BASE)


async def test_custom_api_base_accepted_when_the_operator_allows(stand_in_alice: Actor) -> None:
    resp = await put_config(stand_in_alice, api_base="http://127.0.0.1:9/v23.0")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["api_base"] == "http://127.0.0.1:9/v23.0"


async def test_stored_custom_base_unused_once_disallowed(stand_in_alice: Actor) -> None:
    assert (await put_config(stand_in_alice, api_base="http://127.0.0.1:9/v23.0")).status == 200
    db = stand_in_alice.client.app[keys.DB]
    tid = stand_in_alice.tenant_id
    kept = await db.read(lambda c: whatsapp_config.get_cloud(c, tid, allow_custom_base=False))
    assert kept is not None and kept.api_base == whatsapp_config.DEFAULT_API_BASE


async def test_cloud_send_and_receipts(stand_in_alice: Actor) -> None:
    alice = stand_in_alice
    graph_calls: list[dict[str, Any]] = []
    got_call = asyncio.Event()

    async def graph(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer tok-acme"
        graph_calls.append(await request.json())
        got_call.set()
        return web.json_response({"messaging_product": "whatsapp",
                                  "messages": [{"id": "wamid.OUT1"}]})

    graph_app = web.Application()
    graph_app.router.add_post("/v23.0/{phone}/messages", graph)
    graph_server = TestServer(graph_app, host="127.0.0.1")
    await graph_server.start_server()
    try:
        await make_cloud(alice, "1001", api_base=str(graph_server.make_url("/v23.0")))
        connect = await alice.post("/api/v1/whatsapp/connect")
        assert connect.status == 202
        await post_hook(alice, payload("1001", text("wamid.IN1", "hola")))
        await alice.client.app[keys.WEBHOOKS].idle()
        conv_id = (await (await alice.get("/api/v1/conversations")).json())["items"][0]["id"]
        ws, _ = await alice.ws()
        sent = await alice.post(f"/api/v1/conversations/{conv_id}/messages", {"body": "¡Hola!"},
                                headers={"Idempotency-Key": "k1"})
        assert sent.status == 201
        message = await sent.json()
        await asyncio.wait_for(got_call.wait(), 5)
        assert graph_calls[0]["to"] == "16505551234"
        assert graph_calls[0]["text"]["body"] == "¡Hola!"
        # Receipts out of order (read before delivered), possibly before the wamid is stored:
        # either way the status ends at read and never moves back.
        statuses = [{"id": "wamid.OUT1", "status": "read", "timestamp": "1", "recipient_id": "1"},
                    {"id": "wamid.OUT1", "status": "delivered", "timestamp": "2", "recipient_id": "1"}]
        resp = await post_hook(alice, payload("1001", statuses=statuses))
        assert resp.status == 200
        # `sent` as soon as the Graph API accepted it (whichever came first), then `read`.
        seen = [await next_event(ws, "message_status") for _ in range(2)]
        assert [f["data"] for f in seen] == [
            {"message_id": message["id"], "conversation_id": conv_id, "status": s}
            for s in ("sent", "read")]
        messages = await (await alice.get(f"/api/v1/conversations/{conv_id}/messages")).json()
        assert messages["items"][-1]["status"] == "read"
    finally:
        await graph_server.close()


async def test_oversized_webhook_is_refused(alice: Actor) -> None:
    await make_cloud(alice, "1001")
    body = b"x" * (4 * 1024 * 1024 + 1)
    resp = await alice.client.post("/webhooks/whatsapp/acme", data=io.BytesIO(body),
                                   headers={"X-Hub-Signature-256": sign(SECRET + "acme", body)})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


async def test_delivery_is_kept_until_applied_even_across_a_stop(alice: Actor) -> None:
    await make_cloud(alice, "1001")
    queue = alice.client.app[keys.WEBHOOKS]
    await queue.stop()  # as if the process died right after answering 200
    resp = await post_hook(alice, payload("1001", text("wamid.K1", "guardado")))
    assert resp.status == 200
    db = alice.client.app[keys.DB]
    kept = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM webhook_inbox").fetchone()[0])
    assert kept == 1
    assert (await (await alice.get("/api/v1/conversations")).json())["items"] == []
    queue.start()  # the next start applies what was left
    await queue.idle()
    listed = await (await alice.get("/api/v1/conversations")).json()
    assert listed["items"][0]["last_message"]["body"] == "guardado"
    assert await db.read(lambda c: c.execute("SELECT COUNT(*) FROM webhook_inbox").fetchone()[0]) == 0


async def test_a_delivery_that_cannot_be_applied_is_kept_and_does_not_block(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_cloud(alice, "1001")
    real = webhook_queue.parse_webhook

    def flaky(payload: Any, phone_number_id: str) -> Any:
        if "boom" in orjson.dumps(payload).decode():
            raise ValueError("cannot apply")
        return real(payload, phone_number_id)

    monkeypatch.setattr(webhook_queue, "parse_webhook", flaky)
    assert (await post_hook(alice, payload("1001", text("wamid.F1", "boom")))).status == 200
    assert (await post_hook(alice, payload("1001", text("wamid.F2", "after")))).status == 200
    await alice.client.app[keys.WEBHOOKS].idle()
    listed = await (await alice.get("/api/v1/conversations")).json()
    assert [c["last_message"]["body"] for c in listed["items"]] == ["after"]
    failed = await alice.client.app[keys.DB].read(
        lambda c: c.execute("SELECT error FROM webhook_inbox WHERE failed_at IS NOT NULL").fetchall())
    assert [r[0] for r in failed] == ["ValueError"]
