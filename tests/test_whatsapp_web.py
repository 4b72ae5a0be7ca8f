"""QR pairing through neonize (app/whatsapp/web.py) against a stand-in client with neonize's event
and send surface: states and events, reconnection with backoff, the session store reused after a
restart, inbound messages, receipts and sends; plus the real neonize built offline."""

from __future__ import annotations

import hashlib
import secrets
import stat
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app import create_app
from app.config import Config
from app.services import outbox
from app.whatsapp import base, web, web_store
from tests.helpers.actors import Actor, make_actor
from tests.helpers.api import assert_error, decode_qr_svg, json_ok
from tests.helpers.fake_neonize import FakeClient, FakeNeonize, e2e, image, text
from tests.helpers.frames import next_event

PHONE = "56987654321"
CUSTOMER = "56911112222"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNeonize:
    stand_in = FakeNeonize()
    monkeypatch.setattr(web, "load_neonize", stand_in.api)
    monkeypatch.setattr(web, "RECONNECT_BASE", 0.05)
    return stand_in


@pytest.fixture
async def shop(client: TestClient, fake: FakeNeonize) -> Actor:
    """Admin of tenant `acme`, on QR pairing."""
    return await make_actor(client, "acme", provider="web")


async def link(actor: Actor) -> dict[str, Any]:
    return await json_ok(await actor.get("/api/v1/whatsapp"))


async def paired(actor: Actor, fake: FakeNeonize, ws: Any) -> FakeClient:
    """Connect, show a code, scan it; return the connected client."""
    assert (await actor.post("/api/v1/whatsapp/connect")).status == 202
    client = await fake.next_client()
    await client.show_qr("2@first")
    await next_event(ws, "whatsapp_qr")
    await client.scan(PHONE)
    frame = await next_event(ws, "whatsapp_authenticated")
    assert frame["data"]["phone"] == PHONE
    return client


async def test_qr_codes_then_scan_connects(shop: Actor, bob: Actor, fake: FakeNeonize,
                                           config: Config) -> None:
    ws, _ = await shop.ws()
    bob_ws, _ = await bob.ws()
    resp = await shop.post("/api/v1/whatsapp/connect")
    assert resp.status == 202
    assert (await resp.json())["state"] == "starting"
    client = await fake.next_client()

    before = int(time.time() * 1000)
    await client.show_qr("2@AAAA,first")
    frame = await next_event(ws, "whatsapp_qr")
    assert frame["seq"] is None
    qr = frame["data"]
    assert qr["value"] == "2@AAAA,first" and decode_qr_svg(qr["svg"]) == "2@AAAA,first"
    assert before + 55_000 < qr["expires_at"] <= int(time.time() * 1000) + 60_000  # first: 60 s
    state = await link(shop)
    assert state["state"] == "qr_pending" and state["qr"] == qr

    await client.show_qr("2@BBBB,second")
    second = (await next_event(ws, "whatsapp_qr"))["data"]
    assert second["value"] == "2@BBBB,second"
    assert second["expires_at"] <= int(time.time() * 1000) + 20_000   # later ones: 20 s

    await client.scan(PHONE)
    assert (await next_event(ws, "whatsapp_authenticated"))["data"]["phone"] == PHONE
    state = await link(shop)
    assert (state["state"], state["phone"], state["qr"]) == ("connected", PHONE, None)

    # The session store: the tenant's own, private like the database.
    store = config.data_dir / web_store.STORE_DIR / f"t{shop.tenant_id}"
    assert client.store.parent == store
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE(client.store.stat().st_mode) == 0o600

    # The other tenant saw none of it.
    assert (await link(bob))["state"] == "stopped"
    await bob.inbound()   # something of bob's own, to prove his socket is live and got nothing else
    assert (await next_event(bob_ws))["event"] == "new_message"


async def test_inbound_receipts_and_sends(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)

    await client.message("3A0001", CUSTOMER, text("¿Tienen talla M?"), name="Ana")
    new = (await next_event(ws, "new_message"))["data"]
    assert new["message"]["body"] == "¿Tienen talla M?" and new["message"]["direction"] == "in"
    assert new["conversation"]["contact"]["phone"] == CUSTOMER
    conv = new["conversation"]["id"]
    # The same id again (whatsmeow redelivers after a reconnect), a group, our own send from
    # the phone: none is a new customer message.
    await client.message("3A0001", CUSTOMER, text("¿Tienen talla M?"), name="Ana")
    await client.message("3A0002", "120363000000", text("grupo"), group=True)
    await client.message("3A0003", CUSTOMER, text("desde el teléfono"), from_me=True)
    await client.message("3A0004", CUSTOMER, image("la foto"))
    photo = (await next_event(ws, "new_message"))["data"]["message"]
    assert (photo["type"], photo["body"]) == ("image", "la foto")
    items = (await json_ok(await shop.get(f"/api/v1/conversations/{conv}/messages")))["items"]
    assert [m["body"] for m in items] == ["¿Tienen talla M?", "la foto"]

    resp = await shop.post(f"/api/v1/conversations/{conv}/messages", {"body": "Sí, hay talla M"})
    assert resp.status == 201
    sent = await next_event(ws, "message_status")
    assert sent["data"]["status"] == "sent"
    assert client.sent == [(CUSTOMER, "Sí, hay talla M")]
    message_id = sent["data"]["message_id"]
    wa_id = next(m["wa_id"] for m in (await json_ok(await shop.get(
        f"/api/v1/conversations/{conv}/messages")))["items"] if m["id"] == message_id)
    assert wa_id.startswith("3EB0")

    # Receipts out of order: read first, then the late delivered changes nothing.
    await client.receipt("READ", wa_id)
    assert (await next_event(ws, "message_status"))["data"]["status"] == "read"
    await client.receipt("DELIVERED", wa_id)
    await client.receipt("READ_SELF", wa_id)
    items = (await json_ok(await shop.get(f"/api/v1/conversations/{conv}/messages")))["items"]
    assert next(m for m in items if m["id"] == message_id)["status"] == "read"


async def test_drop_reconnects_with_a_new_client(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    first = await paired(shop, fake, ws)
    await first.emit(web_parse_event("Disconnected"))
    frame = await next_event(ws, "whatsapp_disconnected")
    assert (frame["data"]["state"], frame["data"]["reason"]) == ("disconnected", "connection_lost")
    # whatsmeow did not come back within the backoff: the old client is stopped, a new one
    # resumes the stored session (no QR) and the link is connected again.
    second = await fake.next_client()
    assert first.stopped and second is not first and second.store == first.store
    assert (await next_event(ws, "whatsapp_authenticated"))["data"]["phone"] == PHONE
    assert (await link(shop))["state"] == "connected"
    # The old client's late events are ignored.
    await first.message("3A0009", CUSTOMER, text("fantasma"))
    await second.message("3A0010", CUSTOMER, text("de vuelta"))
    assert (await next_event(ws, "new_message"))["data"]["message"]["body"] == "de vuelta"


async def test_whatsmeow_reconnecting_by_itself_keeps_the_client(
        shop: Actor, fake: FakeNeonize, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "RECONNECT_BASE", 30.0)
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.emit(web_parse_event("Disconnected"))
    await next_event(ws, "whatsapp_disconnected")
    await client.emit(web_parse_event("Connected"))
    await next_event(ws, "whatsapp_authenticated")
    resp = await shop.post("/api/v1/whatsapp/logout")   # ends the session: no timer left behind
    assert resp.status == 202
    assert fake.clients == [client] and client.logged_out


async def test_restart_resumes_the_stored_session(aiohttp_client: Any, config: Config,
                                                  fake: FakeNeonize) -> None:
    first_app = await aiohttp_client(create_app(config))
    shop = await make_actor(first_app, "acme", provider="web")
    ws, _ = await shop.ws()
    before = await paired(shop, fake, ws)
    await first_app.close()
    assert before.stopped

    second_app = await aiohttp_client(create_app(config))   # the same data directory
    after = await fake.next_client()
    assert after.store == before.store and after.on_qr is not None
    shop = await make_actor(second_app, "acme")
    state = await link(shop)
    assert (state["state"], state["phone"], state["qr"]) == ("connected", PHONE, None)


async def test_logged_out_on_the_phone_purges_the_store(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.emit(web_parse_event("LoggedOut"))
    frame = await next_event(ws, "whatsapp_disconnected")
    assert (frame["data"]["state"], frame["data"]["reason"]) == ("logged_out", "logged_out_on_phone")
    assert client.stopped and not client.store.parent.exists()
    # Pairing again starts from nothing: a new client, a new QR.
    assert (await shop.post("/api/v1/whatsapp/connect")).status == 202
    fresh = await fake.next_client()
    assert fresh.device() is None
    await fresh.show_qr("2@again")
    assert (await next_event(ws, "whatsapp_qr"))["data"]["value"] == "2@again"


async def test_stream_replaced_does_not_fight_back(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.emit(web_parse_event("StreamReplaced"))
    frame = await next_event(ws, "whatsapp_disconnected")
    assert frame["data"]["reason"] == "stream_replaced"
    assert client.stopped and fake.built.empty()
    # The session is still valid: the admin's Link resumes it without a QR.
    assert (await shop.post("/api/v1/whatsapp/connect")).status == 202
    assert (await fake.next_client()).device() == PHONE
    assert (await next_event(ws, "whatsapp_authenticated"))["data"]["phone"] == PHONE


async def test_unscanned_codes_time_out(shop: Actor, fake: FakeNeonize,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "FIRST_QR_TTL", 0.05)
    monkeypatch.setattr(web, "QR_GRACE", 0.05)
    ws, _ = await shop.ws()
    assert (await shop.post("/api/v1/whatsapp/connect")).status == 202
    client = await fake.next_client()
    await client.show_qr("2@only")
    await next_event(ws, "whatsapp_qr")
    frame = await next_event(ws, "whatsapp_disconnected")
    assert frame["data"]["reason"] == "qr_timeout" and client.stopped
    assert (await link(shop))["qr"] is None


async def test_send_while_disconnected_is_refused(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.message("3A0001", CUSTOMER, text("hola"))
    conv = (await next_event(ws, "new_message"))["data"]["conversation"]["id"]
    await client.emit(web_parse_event("TemporaryBan"))
    assert (await next_event(ws, "whatsapp_disconnected"))["data"]["reason"] == "temporary_ban"
    assert (await link(shop))["state"] == "failed"
    resp = await shop.post(f"/api/v1/conversations/{conv}/messages", {"body": "¿sigue ahí?"})
    assert resp.status == 201
    status = (await next_event(ws, "message_status"))["data"]
    assert status["status"] == "failed" and client.sent == []   # at once: nothing will take it soon


async def test_a_reply_during_a_drop_waits_and_goes_out_after_it(
        shop: Actor, fake: FakeNeonize, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "RECONNECT_BASE", 600.0)   # whatsmeow's own reconnect, below
    monkeypatch.setattr(outbox, "BACKOFF_BASE", 0.05)
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.message("3A0400", CUSTOMER, text("hola"))
    conv = (await next_event(ws, "new_message"))["data"]["conversation"]["id"]
    await client.emit(web_parse_event("Disconnected"))
    await next_event(ws, "whatsapp_disconnected")
    resp = await shop.post(f"/api/v1/conversations/{conv}/messages", {"body": "ya vuelvo"})
    assert resp.status == 201 and (await resp.json())["status"] == "queued"
    await client.emit(web_parse_event("Connected"))
    await next_event(ws, "whatsapp_authenticated")
    sent = await next_event(ws, "message_status")
    assert sent["data"]["status"] == "sent" and client.sent == [(CUSTOMER, "ya vuelvo")]


async def test_without_the_extra_the_error_names_it(client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await make_actor(client, "acme")
    monkeypatch.setattr(base, "WEB_INSTALLED", False)
    resp = await client.put("/api/v1/whatsapp/config", json={"provider": "web"}, headers=shop.headers)
    err = await assert_error(resp, 409, "provider_unavailable")
    assert "whatsapp-web" in err["message"]
    assert (await link(shop))["provider"] == "sandbox"


async def test_a_library_that_fails_to_load_is_a_clear_409(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> web.NeonizeApi:
        raise base.ProviderError("provider_unavailable", base.WEB_EXTRA_HINT)
    monkeypatch.setattr(web, "load_neonize", missing)
    shop = await make_actor(client, "acme", provider="web")
    err = await assert_error(await shop.post("/api/v1/whatsapp/connect"), 409, "provider_unavailable")
    assert "whatsapp-web" in err["message"]
    assert (await link(shop))["state"] == "stopped"


def web_parse_event(name: str) -> Any:
    """A bare neonize event of that name (Disconnected, LoggedOut, StreamReplaced, ...)."""
    from neonize.proto import Neonize_pb2
    return getattr(Neonize_pb2, name)()


async def test_real_neonize_builds_a_client_offline(tmp_path: Any) -> None:
    """The extra installed: the library loads and a client is built and wired, never connected."""
    api = web.load_neonize()
    client = api.new_client(str(tmp_path / "session.db"), "smoke-t1")
    events = api.events
    for name in ("PairStatusEv", "ConnectedEv", "DisconnectedEv", "LoggedOutEv", "StreamReplacedEv",
                 "TemporaryBanEv", "ClientOutdatedEv", "ConnectFailureEv", "MessageEv", "ReceiptEv"):
        assert hasattr(events, name), name
    provider = web.WebProvider(_NoSink(), tmp_path, lambda: api)
    session = web._Session(1)
    provider._wire(session, client, events)
    assert len(client.event.list_func) == 10   # every event the provider follows is subscribed
    assert client.connect_task is None         # built, never connected: no network


class _NoSink:
    async def link_state(self, *a: Any, **k: Any) -> None: ...
    def qr(self, *a: Any) -> None: ...


async def test_the_ban_risk_is_stated_before_linking(shop: Actor, bob: Actor, fake: FakeNeonize) -> None:
    html = await (await shop.get("/")).text()
    assert 'id="wa-web-risk"' in html and "WhatsApp puede bloquear" in html
    settings = await (await shop.get("/settings")).text()
    assert "Antes de vincular: esto no es la API oficial de Meta" in settings
    assert 'id="wa-web-risk"' not in await (await bob.get("/")).text()   # a sandbox tenant
    ws, _ = await shop.ws()
    await paired(shop, fake, ws)
    assert 'id="wa-web-risk"' not in await (await shop.get("/")).text()   # linked: said already


async def test_choosing_another_provider_stops_the_linked_number(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    resp = await shop.client.put("/api/v1/whatsapp/config", json={"provider": "sandbox"},
                                 headers=shop.headers)
    assert resp.status == 200
    assert client.stopped
    state = await link(shop)
    assert (state["provider"], state["state"]) == ("sandbox", "stopped")
    await client.message("3A0100", CUSTOMER, text("¿me leen?"))   # its late events land nowhere
    assert (await json_ok(await shop.get("/api/v1/conversations")))["items"] == []
    # Back to QR: linking resumes the kept session, no new code.
    await shop.client.put("/api/v1/whatsapp/config", json={"provider": "web"}, headers=shop.headers)
    assert (await shop.post("/api/v1/whatsapp/connect")).status == 202
    assert (await fake.next_client()).device() == PHONE
    assert (await next_event(ws, "whatsapp_authenticated"))["data"]["phone"] == PHONE


async def test_an_inbound_photo_is_downloaded_through_the_session(
        shop: Actor, bob: Actor, fake: FakeNeonize, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    photo = b"\xff\xd8\xff\xe0" + secrets.token_bytes(600)
    client.files["/v/t62.7118-24/photo.enc"] = photo
    part = e2e.ImageMessage(directPath="/v/t62.7118-24/photo.enc", mimetype="image/jpeg",
                            fileLength=len(photo), fileSHA256=hashlib.sha256(photo).digest(),
                            mediaKey=secrets.token_bytes(32), caption="la vitrina")
    await client.message("3A0200", CUSTOMER, e2e.Message(imageMessage=part))
    message = (await next_event(ws, "new_message"))["data"]["message"]
    assert (message["type"], message["body"], message["media"]["state"]) == ("image", "la vitrina", "pending")
    ready = (await next_event(ws, "message_media"))["data"]
    assert ready["media"]["state"] == "ready" and ready["media"]["size"] == len(photo)
    resp = await shop.get(message["media"]["url"])
    assert resp.status == 200 and await resp.read() == photo
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert (await bob.get(message["media"]["url"])).status == 404

    # A file announced larger than the limit is refused before anything is downloaded.
    monkeypatch.setitem(base.MEDIA_LIMITS, "document", 100)
    doc = e2e.DocumentMessage(directPath="/v/never", mimetype="application/pdf", fileLength=5000,
                              fileName="boleta.pdf")
    await client.message("3A0201", CUSTOMER, e2e.Message(documentMessage=doc))
    big = (await next_event(ws, "new_message"))["data"]["message"]
    assert big["body"] == "boleta.pdf"
    failed = (await next_event(ws, "message_media"))["data"]
    assert failed["message_id"] == big["id"] and failed["media"]["state"] == "failed"


async def test_a_photo_and_a_document_are_sent_through_the_session(shop: Actor, fake: FakeNeonize) -> None:
    ws, _ = await shop.ws()
    client = await paired(shop, fake, ws)
    await client.message("3A0300", CUSTOMER, text("¿me mandas la foto y el presupuesto?"))
    conv = (await next_event(ws, "new_message"))["data"]["conversation"]["id"]
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    for data, mime, name, caption in ((photo, "image/png", "foto.png", "la polera"),
                                      (b"%PDF-1.4 presupuesto", "application/pdf", "presupuesto.pdf", "")):
        form = aiohttp.FormData(quote_fields=False)
        if caption:
            form.add_field("caption", caption)
        form.add_field("file", data, content_type=mime, filename=name)
        resp = await shop.client.post(f"/api/v1/conversations/{conv}/media", data=form, headers=shop.headers)
        assert resp.status == 201, await resp.text()
        sent = await next_event(ws, "message_status")
        assert sent["data"]["status"] == "sent"
    assert client.sent_media == [(CUSTOMER, "image", photo, "la polera", None),
                                 (CUSTOMER, "document", b"%PDF-1.4 presupuesto", None, "presupuesto.pdf")]
