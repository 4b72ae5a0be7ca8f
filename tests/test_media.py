"""Inbound media: downloaded with the tenant's token, stored by hash, served to that tenant only."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app import create_app, keys
from app.config import Config
from app.services import media
from app.whatsapp import base
from tests.helpers.actors import Actor, make_actor
from tests.helpers.fake_graph import FakeGraph
from tests.helpers.fake_graph_media import FakeGraphMedia
from tests.helpers.frames import next_event
from tests.test_webhooks import make_cloud, payload, post_hook

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphMedia]:
    """The shared fake Graph API with its media routes; only acme's token opens it."""
    fake = FakeGraph(token="tok-acme")
    media_routes = FakeGraphMedia(fake)
    await fake.start()
    yield media_routes
    await fake.close()


@pytest.fixture
async def cloud_alice(aiohttp_client: Any, config: Config, graph: FakeGraphMedia) -> Actor:
    """Admin of `acme` on the Cloud API, its Graph API being the fake."""
    client = await aiohttp_client(create_app(dataclasses.replace(config, allow_custom_api_base=True)))
    actor = await make_actor(client, "acme")
    await make_cloud(actor, "1001", api_base=graph.base)
    return actor


def image(wamid: str, media_id: str, sha: str = "", caption: str = "") -> dict[str, Any]:
    return {"from": "16505551234", "id": wamid, "timestamp": "1750857384", "type": "image",
            "image": {"id": media_id, "mime_type": "image/jpeg", "sha256": sha, "caption": caption}}


async def settle(actor: Actor) -> None:
    await actor.client.app[keys.WEBHOOKS].idle()
    await actor.client.app[keys.MEDIA_FETCHER].idle()


async def only_message(actor: Actor) -> dict[str, Any]:
    conv = (await (await actor.get("/api/v1/conversations")).json())["items"][0]
    return (await (await actor.get(f"/api/v1/conversations/{conv['id']}/messages")).json())["items"][-1]


async def test_inbound_image_downloaded_with_token_and_served_to_its_tenant_only(
    cloud_alice: Actor, graph: FakeGraphMedia
) -> None:
    alice = cloud_alice
    sha = graph.add("MID1", JPEG, "image/jpeg")
    ws, _ = await alice.ws()
    assert (await post_hook(alice, payload("1001", image("wamid.I1", "MID1", sha, "la foto")))).status == 200
    new = await next_event(ws, "new_message")
    message = new["data"]["message"]
    assert message["type"] == "image" and message["body"] == "la foto"
    assert message["media"]["state"] == "pending" and message["media"]["url"] == f"/api/v1/media/{message['id']}"
    ready = await next_event(ws, "message_media")
    assert ready["data"]["message_id"] == message["id"]
    assert ready["data"]["media"]["state"] == "ready" and ready["data"]["media"]["size"] == len(JPEG)
    # Looked up and downloaded with the tenant's bearer token; no request went without it.
    assert graph.lookups == ["MID1"] and graph.downloads == ["MID1"] and graph.refused == 0

    resp = await alice.get(message["media"]["url"])
    assert resp.status == 200 and await resp.read() == JPEG
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"].startswith("private")
    assert resp.headers["Content-Disposition"].startswith("inline")
    # Stored under the data directory by content hash, not by any name from the payload.
    digest = hashlib.sha256(JPEG).hexdigest()
    stored = alice.client.app[keys.MEDIA_STORE].path(alice.tenant_id, digest)
    assert stored.read_bytes() == JPEG and stored.name == digest
    listed = await only_message(alice)
    assert listed["media"]["state"] == "ready" and listed["media"]["mime"] == "image/jpeg"

    # Another tenant's user: exactly the answer of an id that does not exist.
    bob = await make_actor(alice.client, "globex")
    foreign = await bob.get(message["media"]["url"])
    missing = await bob.get("/api/v1/media/987654")
    assert foreign.status == missing.status == 404
    assert await foreign.json() == await missing.json()
    assert (await alice.client.get(message["media"]["url"])).status == 401  # no login at all


async def test_oversize_is_refused_with_a_reason(
    cloud_alice: Actor, graph: FakeGraphMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = cloud_alice
    monkeypatch.setitem(base.MEDIA_LIMITS, "image", 1000)
    graph.add("BIG", JPEG, "image/jpeg")                       # announced honestly: too big
    graph.add("LIAR", JPEG, "image/jpeg", file_size=10)        # announced small, is not
    await post_hook(alice, payload("1001", image("wamid.O1", "BIG"), image("wamid.O2", "LIAR")))
    await settle(alice)
    conv = (await (await alice.get("/api/v1/conversations")).json())["items"][0]
    items = (await (await alice.get(f"/api/v1/conversations/{conv['id']}/messages")).json())["items"]
    assert [(m["media"]["state"], m["media"].get("error")) for m in items] == [
        ("failed", "media_too_large"), ("failed", "media_too_large")]
    assert graph.downloads == ["LIAR"]  # the honest big one was never requested
    resp = await alice.get(items[0]["media"]["url"])
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "media_failed"
    assert not (alice.client.app[keys.MEDIA_STORE].root / str(alice.tenant_id)).exists()


async def test_transient_failure_is_retried_with_backoff(
    cloud_alice: Actor, graph: FakeGraphMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = cloud_alice
    monkeypatch.setattr(media, "BACKOFF_BASE_MS", 1)
    graph.add("FLAKY", JPEG, "image/jpeg")
    graph.fail_downloads = [503, 500]
    ws, _ = await alice.ws()
    await post_hook(alice, payload("1001", image("wamid.R1", "FLAKY")))
    ready = await next_event(ws, "message_media")
    assert ready["data"]["media"]["state"] == "ready"
    assert graph.lookups == ["FLAKY"] * 3  # a fresh URL for every attempt (they expire in minutes)
    row = await alice.client.app[keys.DB].read(
        lambda c: c.execute("SELECT attempts, error FROM media").fetchone())
    assert tuple(row) == (2, None)


async def test_a_pending_download_survives_a_restart(
    aiohttp_client: Any, config: Config, cloud_alice: Actor, graph: FakeGraphMedia
) -> None:
    alice = cloud_alice
    graph.add("LATER", JPEG, "image/jpeg")
    await alice.client.app[keys.MEDIA_FETCHER].stop()   # the process dies before downloading
    await post_hook(alice, payload("1001", image("wamid.S1", "LATER")))
    await alice.client.app[keys.WEBHOOKS].idle()
    assert (await only_message(alice))["media"]["state"] == "pending"
    await alice.client.close()
    assert graph.downloads == []

    again = await aiohttp_client(create_app(dataclasses.replace(config, allow_custom_api_base=True)))
    await again.app[keys.MEDIA_FETCHER].idle()
    token = alice.token
    resp = await again.get(f"/api/v1/media/{(await only_message(dataclasses.replace(alice, client=again)))['id']}",
                           headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200 and await resp.read() == JPEG
    assert graph.downloads == ["LATER"]


async def test_sandbox_inbound_document_is_served_as_an_attachment(alice: Actor, bob: Actor) -> None:
    pdf = b"%PDF-1.4 factura"
    sent = await alice.inbound(body="", media={"type": "document", "mime": "application/pdf",
                                               "filename": "factura ñ/../x.pdf",
                                               "data": base64.b64encode(pdf).decode()})
    await alice.client.app[keys.MEDIA_FETCHER].idle()
    resp = await alice.get(f"/api/v1/media/{sent['message_id']}")
    assert resp.status == 200 and await resp.read() == pdf
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"factura___.._x.pdf\"; filename*=UTF-8''factura%20%C3%B1_.._x.pdf")
    message = await only_message(alice)
    assert message["media"]["filename"] == "factura ñ_.._x.pdf" and message["body"] == ""
    assert (await bob.get(f"/api/v1/media/{sent['message_id']}")).status == 404


async def test_a_file_a_browser_could_run_is_never_inline(alice: Actor) -> None:
    html = b"<script>alert(1)</script>"
    sent = await alice.inbound(body="x", media={"type": "image", "mime": "text/html",
                                                "data": base64.b64encode(html).decode()})
    await alice.client.app[keys.MEDIA_FETCHER].idle()
    resp = await alice.get(f"/api/v1/media/{sent['message_id']}")
    assert resp.status == 200
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@pytest.mark.parametrize("bad", [
    "x", {"type": "pdf", "mime": "application/pdf", "data": "QQ=="},
    {"type": "image", "mime": "not a mime", "data": "QQ=="},
    {"type": "image", "mime": "image/png", "data": "%%%"},
    {"type": "image", "mime": "image/png", "data": ""},
    {"type": "image", "mime": "image/png", "data": "QQ==", "filename": 7},
])
async def test_bad_sandbox_media_is_a_400_and_stores_nothing(alice: Actor, bad: Any) -> None:
    resp = await alice.post("/api/v1/sandbox/inbound", {"from": "56911112222", "body": "x", "media": bad})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_field"
    assert (await (await alice.get("/api/v1/conversations")).json())["items"] == []


def test_digest_check_accepts_hex_and_base64() -> None:
    from app.services.media_fetcher import digest_matches

    raw = hashlib.sha256(JPEG).digest()
    assert digest_matches(raw.hex(), JPEG) and digest_matches(base64.b64encode(raw).decode(), JPEG)
    assert digest_matches("", JPEG) and not digest_matches(raw.hex(), JPEG + b"x")
