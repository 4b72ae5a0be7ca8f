"""Meta WhatsApp Cloud API webhooks: the signature, and the payload normalised.

Webhooks are verified on the raw bytes (HMAC-SHA256 with the app secret) before any parsing;
parsing keeps only what is addressed to the tenant's own number and counts what it skips.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from app.clock import now_ms
from app.whatsapp.base import MEDIA_LIMITS, InboundMedia, InboundMessage, StatusUpdate

_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read",
             "failed": "failed"}
_CAPTIONED = ("image", "video", "document", "audio", "sticker")


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for a body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the signature header over the raw body."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(app_secret, body), header)


@dataclass(slots=True)
class WebhookBatch:
    """What one webhook POST carries for our phone number."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    skipped: int = 0


def _media_of(item: dict[str, Any]) -> InboundMedia | None:
    """The file a media message announces (its id is what we download by), else None."""
    kind = str(item.get("type", ""))
    media = item.get(kind) if kind in MEDIA_LIMITS else None
    if not isinstance(media, dict) or not media.get("id"):
        return None
    return InboundMedia(kind=kind, media_id=str(media["id"])[:256],
                        mime=str(media.get("mime_type") or "")[:200],
                        sha256=str(media.get("sha256") or "")[:100],
                        filename=str(media.get("filename") or "")[:255] if kind == "document" else "")


def _text_of(item: dict[str, Any]) -> str:
    kind = item.get("type", "")
    if kind == "text":
        return str((item.get("text") or {}).get("body", ""))
    if kind in _CAPTIONED:
        # The caption only: a document's name travels with its media (InboundMedia.filename).
        return str((item.get(kind) or {}).get("caption") or "")
    if kind == "location":
        loc = item.get("location") or {}
        return str(loc.get("name") or f"{loc.get('latitude')},{loc.get('longitude')}")
    if kind == "interactive":
        inter = item.get("interactive") or {}
        reply = inter.get("button_reply") or inter.get("list_reply") or {}
        return str(reply.get("title", ""))
    if kind == "button":
        return str((item.get("button") or {}).get("text", ""))
    if kind == "reaction":
        return str((item.get("reaction") or {}).get("emoji", ""))
    return ""


def parse_webhook(payload: Any, phone_number_id: str) -> WebhookBatch:
    """Normalise every entry/change/item addressed to our number; skip (and count) the rest."""
    batch = WebhookBatch()
    if not isinstance(payload, dict):
        batch.skipped += 1
        return batch
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            if (change or {}).get("field") != "messages" or not isinstance(value, dict):
                batch.skipped += 1
                continue
            if str((value.get("metadata") or {}).get("phone_number_id", "")) != phone_number_id:
                batch.skipped += 1  # routed by the URL, checked against the body: never cross over
                continue
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            for item in value.get("messages") or []:
                try:
                    sender = str(item.get("from") or item.get("from_user_id") or "")
                    if not sender:
                        raise ValueError("message without a sender")
                    batch.messages.append(InboundMessage(
                        wa_id=str(item["id"]), from_phone=sender, name=str(names.get(sender) or ""),
                        type=str(item.get("type", "text")), body=_text_of(item),
                        timestamp=int(item.get("timestamp", 0)) * 1000 or now_ms(),
                        media=_media_of(item),
                    ))
                except (KeyError, TypeError, ValueError, AttributeError):
                    batch.skipped += 1  # one malformed item must not sink the rest
            for item in value.get("statuses") or []:
                try:
                    status = _STATUSES.get(str(item["status"]))
                    if status is None:
                        raise ValueError("unknown status")
                    errors = item.get("errors") or []
                    code = str(errors[0].get("code")) if errors else None
                    batch.statuses.append(StatusUpdate(str(item["id"]), status,
                                                       f"wa_{code}" if code else None))
                except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                    batch.skipped += 1
    return batch
