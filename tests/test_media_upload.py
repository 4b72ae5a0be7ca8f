"""Outbound media: an agent attaches a photo or document; checked, stored, queued like a reply."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from app import keys
from app.services import media
from tests.helpers.actors import Actor
from tests.helpers.fake_graph_media import FakeGraphMedia
from tests.helpers.frames import drain_until, is_event, next_event
from tests.test_media import cloud_alice, graph  # noqa: F401 (fixtures)
from tests.test_webhooks import payload, post_hook, text

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4 presupuesto"


def form(data: bytes = PNG, mime: str = "image/png", filename: str = "foto.png",
         caption: str | None = None, *, with_file: bool = True) -> aiohttp.FormData:
    f = aiohttp.FormData(quote_fields=False)  # names as browsers send them (raw UTF-8)
    if caption is not None:
        f.add_field("caption", caption)
    if with_file:
        f.add_field("file", data, content_type=mime, filename=filename)
    else:
        f._is_multipart = True  # a caption alone would otherwise go urlencoded
    return f


async def upload(actor: Actor, conv: str, body: Any, key: str | None = None) -> Any:
    headers = {**actor.headers, **({"Idempotency-Key": key} if key else {})}
    return await actor.client.post(f"/api/v1/conversations/{conv}/media", data=body, headers=headers)


async def messages_of(actor: Actor, conv: str) -> list[dict[str, Any]]:
    return (await (await actor.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]


async def test_an_attached_photo_is_stored_queued_and_sent(alice: Actor) -> None:
    alice.client.app[keys.SANDBOX].restore(alice.tenant_id, "56900000009")  # a paired sandbox
    conv = (await alice.inbound())["conversation_id"]
    ws, _ = await alice.ws()
    resp = await upload(alice, conv, form(caption="  la polera ñ  "), key="up-1")
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["type"] == "image" and message["body"] == "la polera ñ"
    assert message["status"] == "queued" and message["direction"] == "out"
    assert message["media"] == {"url": f"/api/v1/media/{message['id']}", "kind": "image",
                                "mime": "image/png", "size": len(PNG), "filename": "foto.png",
                                "state": "ready"}
    new = await next_event(ws, "new_message")
    assert new["data"]["message"]["media"]["state"] == "ready"
    got = await alice.get(message["media"]["url"])
    assert got.status == 200 and await got.read() == PNG and got.headers["Content-Type"] == "image/png"
    sent = await next_event(ws, "message_status")                     # the outbox sent it
    assert sent["data"]["message_id"] == message["id"] and sent["data"]["status"] == "sent"

    again = await upload(alice, conv, form(caption="  la polera ñ  "), key="up-1")
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == message["id"]
    other = await upload(alice, conv, form(data=PNG + b"x", caption="la polera ñ"), key="up-1")
    assert other.status == 409 and (await other.json())["error"]["code"] == "idempotency_key_reused"
    assert [m["type"] for m in await messages_of(alice, conv)] == ["text", "image"]


async def test_a_document_keeps_its_name(alice: Actor) -> None:
    conv = (await alice.inbound())["conversation_id"]
    resp = await upload(alice, conv, form(PDF, "application/pdf", "Presupuesto mayo.pdf"))
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["type"] == "document" and message["body"] == ""
    got = await alice.get(message["media"]["url"])
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "Presupuesto%20mayo.pdf" in got.headers["Content-Disposition"]


@pytest.mark.parametrize(("body", "status", "code"), [
    (form(PNG * 2), 413, "file_too_large"),
    (form(b"MZ\x90\x00", "application/x-msdownload", "a.exe"), 415, "unsupported_media_type"),
    (form(b"<svg/>", "image/svg+xml", "a.svg"), 415, "unsupported_media_type"),
    (form(PDF, "image/png"), 415, "unsupported_media_type"),          # not the bytes it claims
    (form(b"", "application/pdf", "vacio.pdf"), 400, "invalid_field"),
    (form(caption="x" * 1025), 400, "invalid_field"),
    (form(caption="sin archivo", with_file=False), 400, "invalid_field"),
    (b'{"file": "x"}', 400, "invalid_body"),
    ({"file": "x"}, 400, "invalid_body"),                            # a urlencoded form
])
async def test_bad_uploads_are_refused_and_write_nothing(
    alice: Actor, monkeypatch: pytest.MonkeyPatch, body: Any, status: int, code: str
) -> None:
    monkeypatch.setitem(media.UPLOAD_LIMITS, "image", len(PNG) + 10)
    conv = (await alice.inbound())["conversation_id"]
    resp = await upload(alice, conv, body)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert [m["type"] for m in await messages_of(alice, conv)] == ["text"]
    count = await alice.client.app[keys.DB].read(lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    assert count == 0


async def test_another_tenants_conversation_is_not_found_and_nothing_is_stored(alice: Actor, bob: Actor) -> None:
    conv = (await alice.inbound())["conversation_id"]
    foreign = await upload(bob, conv, form())
    missing = await upload(bob, "99999999", form())
    assert foreign.status == missing.status == 404
    assert await foreign.json() == await missing.json()
    assert not (alice.client.app[keys.MEDIA_STORE].root / str(bob.tenant_id)).exists()
    assert [m["type"] for m in await messages_of(alice, conv)] == ["text"]


async def test_cloud_uploads_the_file_then_sends_it_by_media_id(
    cloud_alice: Actor, graph: FakeGraphMedia  # noqa: F811
) -> None:
    alice = cloud_alice
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    await post_hook(alice, payload("1001", text("wamid.Q1", "¿Me mandas el presupuesto?")))
    await alice.client.app[keys.WEBHOOKS].idle()
    conv = (await (await alice.get("/api/v1/conversations")).json())["items"][0]["id"]
    resp = await upload(alice, conv, form(PDF, "application/pdf", "Presupuesto mayo.pdf", caption="Aquí va"))
    assert resp.status == 201, await resp.text()
    sent = await graph.graph.wait_accepted(1)
    assert len(graph.uploads) == 1
    up = graph.uploads[0]
    assert (up["type"], up["filename"], up["data"], up["phone"]) == (
        "application/pdf", "Presupuesto mayo.pdf", PDF, "1001")
    assert [s.payload for s in sent] == [{"messaging_product": "whatsapp", "recipient_type": "individual",
                                          "to": "16505551234", "type": "document",
                                          "document": {"id": up["id"], "caption": "Aquí va",
                                                       "filename": "Presupuesto mayo.pdf"}}]
    assert graph.refused == 0 and set(graph.graph.tokens) == {"tok-acme"}  # the tenant's token, always


async def test_an_expired_token_at_upload_fails_the_link_like_a_send(
    cloud_alice: Actor, graph: FakeGraphMedia  # noqa: F811
) -> None:
    alice = cloud_alice
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    await post_hook(alice, payload("1001", text("wamid.Q2", "hola")))
    await alice.client.app[keys.WEBHOOKS].idle()
    conv = (await (await alice.get("/api/v1/conversations")).json())["items"][0]["id"]
    graph.graph.token = "rotated-by-meta"  # the tenant's token no longer works: 190
    ws, _ = await alice.ws()
    resp = await upload(alice, conv, form())
    assert resp.status == 201
    frames = await drain_until(ws, is_event("whatsapp_disconnected"))
    gone = frames[-1]
    assert (gone["data"]["state"], gone["data"]["reason"]) == ("failed", "auth_error")
    [status] = [f["data"] for f in frames if f.get("event") == "message_status"]
    assert (status["status"], status["error"]) == ("failed", "wa_190")
    assert graph.uploads == [] and graph.graph.accepted == []
