"""Text from outside is stored without C0 controls but tab and newline, otherwise byte for byte."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app import keys
from app.services import tenants
from app.text import clean_text
from app.whatsapp.cloud_webhook import sign
from tests.helpers.actors import Actor
from tests.helpers.frames import next_event

# Emoji with skin tone and ZWJ sequences, combining accents, RTL text with its marks, a
# zero-width joiner and non-joiner, a BOM-like ZWNBSP, DEL and a C1 control: all kept.
KEEP = ("Ñandú 👩🏽‍💻 👨‍👩‍👧‍👦 e\u0301 ‏مرحبا‎ שלום zw\u200dj\u200cn \ufeff \x7f \x85 🇨🇱 "
        "tab\there\nnew line")


@pytest.mark.parametrize(("raw", "clean"), [
    ("", ""),
    ("hola", "hola"),
    ("a\x00b", "ab"),
    ("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x1a\x1b\x1f", ""),
    ("esc\x1b[31mred\x1b[0m", "esc[31mred[0m"),
    ("line1\r\nline2", "line1\nline2"),
    ("line1\rline2", "line1\nline2"),
    ("a\r\r\nb", "a\n\nb"),
    ("\r\n\x00\r", "\n\n"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    (KEEP, KEEP),
    (KEEP + "\x00" + KEEP, KEEP + KEEP),
])
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean  # idempotent
    assert clean_text(clean).encode() == clean.encode()


def test_clean_text_returns_clean_input_itself() -> None:
    # The fast path: nothing copied for the common case.
    assert clean_text(KEEP) is KEEP


def test_every_code_point_but_c0_is_kept() -> None:
    every = "".join(chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c < 0xE000)
    assert clean_text(every) is every
    controls = "".join(chr(c) for c in range(0x20))
    assert clean_text(controls) == "\t\n\n"  # tab, newline, and the CR turned into a newline


async def stored_contact_names(actor: Actor) -> list[str]:
    rows = await actor.client.app[keys.DB].read(lambda c: c.execute(
        "SELECT name FROM contacts WHERE tenant_id = ? ORDER BY id", (actor.tenant_id,)).fetchall())
    return [r[0] for r in rows]


async def stored_bodies(actor: Actor) -> list[str]:
    rows = await actor.client.app[keys.DB].read(lambda c: c.execute(
        "SELECT body FROM messages WHERE tenant_id = ? ORDER BY id", (actor.tenant_id,)).fetchall())
    return [r[0] for r in rows]


async def test_sandbox_inbound_and_reply_store_no_controls(alice: Actor) -> None:
    ws, _ = await alice.ws()
    got = await alice.inbound("56911112222", "ho\x00la\r\n" + KEEP, name="Ana\x00 María 👩‍👩‍👧\x1b")
    event = await next_event(ws, "new_message")
    assert event["data"]["message"]["body"] == "hola\n" + KEEP
    assert event["data"]["conversation"]["contact"]["name"] == "Ana María 👩‍👩‍👧"
    conv = got["conversation_id"]

    resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "Listo\x00 ✅\r\n" + KEEP},
                            headers={"Idempotency-Key": "k1"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["body"] == "Listo ✅\n" + KEEP
    # The same key and the same raw body is the same request, not a reuse.
    again = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "Listo\x00 ✅\r\n" + KEEP},
                             headers={"Idempotency-Key": "k1"})
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"

    assert await stored_contact_names(alice) == ["Ana María 👩‍👩‍👧"]
    assert await stored_bodies(alice) == ["hola\n" + KEEP, "Listo ✅\n" + KEEP]
    items = (await (await alice.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]
    assert [m["body"] for m in items] == ["hola\n" + KEEP, "Listo ✅\n" + KEEP]


async def test_a_reply_of_control_characters_is_an_empty_body(alice: Actor) -> None:
    conv = (await alice.inbound("56911112222", "hola"))["conversation_id"]
    resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "\x00\x07\r\n"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_body"
    assert await stored_bodies(alice) == ["hola"]


async def test_cloud_webhook_name_body_and_caption_are_cleaned(alice: Actor) -> None:
    resp = await alice.client.put("/api/v1/whatsapp/config", headers=alice.headers, json={
        "provider": "cloud", "phone_number_id": "1001", "access_token": "tok", "app_secret": "s3cret",
        "verify_token": "v"})
    assert resp.status == 200, await resp.text()
    ws, _ = await alice.ws()
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1001"},
        "contacts": [{"profile": {"name": "Sheena\x00 Ñandú\x08"}, "wa_id": "16505551234"}],
        "messages": [
            {"from": "16505551234", "id": "wamid.T1", "timestamp": "1750857384", "type": "text",
             "text": {"body": "¿vinilo?\x00 🎵\r"}},
            {"from": "16505551234", "id": "wamid.T2", "timestamp": "1750857385", "type": "image",
             "image": {"id": "media1", "caption": "foto\x1b 📷"}},
        ],
    }
    body = orjson.dumps({"object": "whatsapp_business_account",
                         "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})
    resp = await alice.client.post("/webhooks/whatsapp/acme", data=body, headers={
        "X-Hub-Signature-256": sign("s3cret", body), "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    first = await next_event(ws, "new_message")
    second = await next_event(ws, "new_message")
    assert [first["data"]["message"]["body"], second["data"]["message"]["body"]] == ["¿vinilo? 🎵\n", "foto 📷"]
    assert await stored_contact_names(alice) == ["Sheena Ñandú"]
    assert await stored_bodies(alice) == ["¿vinilo? 🎵\n", "foto 📷"]


async def test_user_and_tenant_names_are_cleaned(client: Any, alice: Actor) -> None:
    resp = await alice.post("/api/v1/users", {"email": "eva@acme.test", "name": "Eva\x00 Ñ 👩‍💻",
                                              "password": "a long enough password", "role": "agent"})
    assert resp.status == 201, await resp.text()
    user = await resp.json()
    assert user["name"] == "Eva Ñ 👩‍💻"
    resp = await alice.patch(f"/api/v1/users/{user['id']}", {"name": "Eva\r\nLuna\x07"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["name"] == "Eva\nLuna"
    tenant = await client.app[keys.DB].write(
        lambda tx: tenants.create_tenant(tx, "pyme", "Café\x00 Ñuñoa ☕"))
    assert tenant.name == "Café Ñuñoa ☕"
