"""What the injectors send: message bodies that carry their own bookkeeping, customer phones,
and the HTTP requests that deliver a WhatsApp message (a signed Cloud API webhook, Condorito's
sandbox inbound route, the baseline's /inbound)."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson
from httpclient import HttpPool
from servers import Tenant


def body_text(tenant_index: int, k: int, stamp: int, tag: str = "bx") -> str:
    """The message body: tag (bx measured, bw warm-up), tenant, per-tenant message index, send
    time (load generator clock, µs)."""
    return f"{tag}:{tenant_index}:{k}:{stamp}"


def phone_of(tenant_index: int, k: int) -> str:
    """A few customers per tenant, so conversations repeat as they do in a real inbox."""
    return f"5691{tenant_index:02d}{k % 50:05d}"


def cloud_webhook(phone_number_id: str, phone: str, messages: list[tuple[str, str]]) -> bytes:
    """A Cloud API `messages` webhook carrying text messages (wa_id, body) from one customer
    (reference §1.3-1.4)."""
    stamp = str(int(time.time()))
    return orjson.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "bench-waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Bench Customer"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wa_id, "timestamp": stamp,
                          "type": "text", "text": {"body": body}} for wa_id, body in messages],
        }}]}],
    })


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_request(pool: HttpPool, t: Tenant, phone: str, messages: list[tuple[str, str]]) -> bytes:
    """POST /webhooks/whatsapp/<code>: a Cloud API webhook signed with the tenant's app secret."""
    raw = cloud_webhook(t.phone_number_id, phone, messages)
    return pool.encode("POST", f"/webhooks/whatsapp/{t.code}", raw,
                       {"X-Hub-Signature-256": sign(t.app_secret, raw)})


def sandbox_request(pool: HttpPool, t: Tenant, phone: str, body: str, wa_id: str) -> bytes:
    """POST /api/v1/sandbox/inbound as the tenant's admin (Condorito)."""
    raw = orjson.dumps({"from": phone, "name": "Bench Customer", "body": body, "id": wa_id})
    return pool.encode("POST", "/api/v1/sandbox/inbound", raw, {"Authorization": f"Bearer {t.token}"})


def baseline_request(pool: HttpPool, t: Tenant, phone: str, body: str, wa_id: str) -> bytes:
    """POST /inbound naming the tenant (the python-socketio baseline)."""
    raw = orjson.dumps({"tenant": t.code, "from": phone, "name": "Bench Customer", "body": body,
                        "id": wa_id})
    return pool.encode("POST", "/inbound", raw)
