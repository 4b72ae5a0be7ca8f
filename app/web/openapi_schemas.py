"""JSON Schemas (OpenAPI 3.1 components) of the REST objects: one place, shared by the paths.

Objects stay open (no `additionalProperties: false`): PROTOCOL.md lets the server add fields
within v1, and clients ignore what they do not know. What is listed as required is always sent.
"""

from __future__ import annotations

from typing import Any

ID = {"type": "string", "description": "opaque id", "examples": ["1"]}
MS = {"type": "integer", "description": "milliseconds since the Unix epoch"}
SEQ = {"type": "integer", "minimum": 0, "description": "the tenant's stream head when read"}
NULLABLE_STR = {"type": ["string", "null"]}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object schema with these required and optional properties."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


def page(item: dict[str, Any], *, seq: bool = True) -> dict[str, Any]:
    """A list answer: items, the next cursor, and (usually) the stream head."""
    fields: dict[str, Any] = {"items": {"type": "array", "items": item}, "next": NULLABLE_STR}
    if seq:
        fields["seq"] = SEQ
    return obj(fields)


USER = obj(
    {"id": ID, "name": {"type": "string"}, "email": {"type": "string"},
     "role": {"enum": ["admin", "agent"]}, "client_code": {"type": "string"},
     "must_change_password": {"type": "boolean"},
     "lang": {"enum": ["es", "en", None], "description": "null: the business default"}},
    {"disabled": {"type": "boolean"}},
)

AUTHOR = obj({"kind": {"type": "string", "examples": ["user", "contact", "bot"]}},
             {"id": ID, "name": {"type": "string"}})

MESSAGE = obj(
    {"id": ID, "conversation_id": ID, "direction": {"enum": ["in", "out"]},
     "type": {"type": "string", "examples": ["text", "image", "audio", "document"]},
     "body": NULLABLE_STR,
     "status": {"enum": ["queued", "sent", "delivered", "read", "failed"]},
     "wa_id": NULLABLE_STR, "created_at": MS},
    {"author": AUTHOR, "error": {"type": ["object", "string", "null"]},
     "reply_to": {**ID, "description": "the message this one answers"}},
)

CONTACT = obj({"id": ID, "name": NULLABLE_STR, "phone": {"type": "string"}})

CONVERSATION = obj(
    {"id": ID, "contact": CONTACT,
     "last_message": {"oneOf": [ref("Message"), {"type": "null"}]},
     "unread_count": {"type": "integer", "minimum": 0},
     "status": {"enum": ["open", "closed"]}, "updated_at": MS},
    {"last_inbound_at": {"type": ["integer", "null"],
                         "description": "ms; when the customer last wrote (the 24-hour window)"}},
)

STATS = obj({name: {"type": "integer", "minimum": 0} for name in (
    "conversations_open", "unread", "messages_today_in", "messages_today_out", "contacts",
    "bulk_active")} | {"seq": SEQ})

HOURLY = obj({
    "day_start": MS,
    "hours": {"type": "array", "minItems": 23, "maxItems": 25, "items": obj(
        {"start": MS, "in": {"type": "integer", "minimum": 0}, "out": {"type": "integer", "minimum": 0}})},
    "seq": SEQ,
})

TENANT = obj({"code": {"type": "string"}, "name": {"type": "string"},
              "provider": {"enum": ["sandbox", "cloud", "web"]}, "timezone": {"type": "string"},
              "default_lang": {"enum": ["es", "en"]}},
             {"default_country": {"type": "string", "description": "ISO 3166 alpha-2, e.g. CL"}})

QR = obj({"value": {"type": "string"}, "svg": {"type": "string"}, "expires_at": MS})

WHATSAPP = obj(
    {"provider": {"enum": ["sandbox", "cloud", "web"]},
     "state": {"enum": ["stopped", "starting", "qr_pending", "connected", "disconnected",
                        "logged_out", "failed"]},
     "phone": NULLABLE_STR, "since": {"type": ["integer", "null"]}},
    {"reason": NULLABLE_STR, "qr": {"oneOf": [QR, {"type": "null"}]}},
)

WHATSAPP_CONFIG = obj(
    {"provider": {"enum": ["sandbox", "cloud", "web"]}, "webhook_url": {"type": "string"}},
    {"phone_number_id": NULLABLE_STR, "api_base": {"type": "string"},
     "access_token": NULLABLE_STR, "app_secret": NULLABLE_STR, "verify_token": NULLABLE_STR,
     "waba_id": NULLABLE_STR},
)

TEMPLATE = obj({"name": {"type": "string"}, "language": {"type": "string"},
                "category": {"type": "string"},
                "body": {"type": "string", "description": "with {{1}}, {{2}}... placeholders"},
                "params": {"type": "integer", "minimum": 0}})

EVENT = obj({"type": {"const": "event"}, "seq": {"type": ["integer", "null"]},
             "event": {"type": "string"}, "data": {}, "ts": MS})

EVENTS = obj({"v": {"const": 1}, "epoch": {"type": "string"}, "events": {"type": "array", "items": EVENT},
              "next": SEQ, "head": SEQ, "more": {"type": "boolean"}})

_ROW = {"type": "integer", "minimum": 1}
BULK_PREVIEW = obj({
    "source": {"enum": ["csv", "pasted", "contacts"]}, "default_country": {"type": "string"},
    "recipients": {"type": "array", "items": obj(
        {"row": _ROW, "phone": {"type": "string"}, "display": {"type": "string"}, "name": NULLABLE_STR,
         "vars": {"type": "object"}})},
    "problems": {"type": "array", "items": obj(
        {"row": _ROW, "value": {"type": "string"}, "reason": {"type": "string"}}, {"first_row": _ROW})},
    "counts": obj({n: {"type": "integer", "minimum": 0} for n in ("rows", "valid", "invalid", "duplicate")}),
    "columns": {"type": "array", "items": {"type": "string"}},
    "phone_column": NULLABLE_STR, "name_column": NULLABLE_STR, "delimiter": NULLABLE_STR,
    "encoding": NULLABLE_STR, "variables": {"type": "array", "items": {"type": "string"}},
    "unknown_variables": {"type": "array", "items": {"type": "string"}},
    "preview": {"type": "array", "items": obj(
        {"phone": {"type": "string"}, "display": {"type": "string"}, "name": NULLABLE_STR,
         "text": {"type": "string"}})},
})

COUNT = {"type": "integer", "minimum": 0}
SUPPRESSION = obj({"phone": {"type": "string"}, "source": {"type": "string"}, "created_at": MS,
                   "name": {"type": "string"}})
OPTOUT = obj({"words": {"type": "array", "items": {"type": "string"}},
              "default_words": {"type": "array", "items": {"type": "string"}}})
_INT_OR_NULL = {"type": ["integer", "null"]}
CAMPAIGN = obj({
    "id": ID, "name": {"type": "string"}, "body": {"type": "string"},
    "status": {"enum": ["draft", "scheduled", "running", "paused", "completed", "cancelled"]},
    "pause_reason": NULLABLE_STR, "start_at": _INT_OR_NULL, "scheduled_at": _INT_OR_NULL,
    "template": {"type": ["object", "null"]}, "pacing": {"type": "object"},
    **{n: COUNT for n in ("total", "pending", "sending", "sent", "delivered", "read", "failed",
                          "skipped", "unknown", "replied")},
    "rate": {"type": "number", "minimum": 0}, "eta": _INT_OR_NULL,
    "created_at": MS, "updated_at": MS, "started_at": _INT_OR_NULL, "finished_at": _INT_OR_NULL,
})
RECIPIENT = obj({
    "id": ID, "phone": {"type": "string"}, "name": {"type": "string"},
    "state": {"enum": ["pending", "sending", "sent", "delivered", "read", "failed", "skipped",
                       "unknown"]},
    "error": NULLABLE_STR, "attempts": COUNT, "replied": {"type": "boolean"}, "updated_at": MS,
})
HEALTH = obj({"status": {"enum": ["ok", "unhealthy"]},
              "database": obj({"writable": {"type": "boolean"}}, {"write_ms": {"type": ["number", "null"]}}),
              "whatsapp": {"type": "object"}})

# The bot (issue 11; app/services/bot_config.py validates, docs/protocol-additions.md explains).
BOT_STATUS = obj({"enabled": {"type": "boolean"}, "answered_today": COUNT, "handed_off_today": COUNT,
                  "needs_attention": COUNT})
_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
_MENU = obj({"label": {"type": "string"}, "reply": {"type": "string"}}, {"key": {"type": "string"}})
BOT_RULES = {
    "timezone": {"type": "string"},
    "business_hours": {"type": "object", "additionalProperties": {
        "type": "array", "items": {"type": "array", "items": _HHMM, "minItems": 2, "maxItems": 2}}},
    "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
    "welcome_text": {"type": "string"}, "welcome_after_days": {"type": "integer"},
    "away_text": {"type": "string"}, "fallback_text": {"type": "string"},
    "fallback_hours": {"type": "integer"},
    "keywords": {"type": "array", "items": obj(
        {"match": {"enum": ["word", "contains", "regex"]}, "pattern": {"type": "string"},
         "reply": {"type": "string"}}, {"menu": {"type": "array", "items": _MENU}})},
    "handoff_words": {"type": "array", "items": {"type": "string"}},
    "handoff_text": {"type": "string"}, "pause_minutes": {"type": "integer"},
}
BOT = obj({"enabled": {"type": "boolean"}, **BOT_RULES, "status": BOT_STATUS, "seq": SEQ})
BOT_TRY = obj({"rule": {"type": "string"}, "reply": NULLABLE_STR,
               "parts": {"type": "array", "items": {"type": "string"}},
               "keyword": {"type": ["integer", "null"]}, "menu": {"type": ["integer", "null"]},
               "handoff": {"type": "boolean"}})

ERROR = obj({"error": obj(
    {"code": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "message": {"type": "string"}},
    {"retry_after": {"type": "number"}, "field": {"type": "string"},
     "epoch": {"type": "string"}, "head": {"type": "integer"}},
)})

SCHEMAS: dict[str, Any] = {
    "Error": ERROR, "User": USER, "Message": MESSAGE, "Conversation": CONVERSATION,
    "Stats": STATS, "Hourly": HOURLY, "Tenant": TENANT, "WhatsApp": WHATSAPP,
    "WhatsAppConfig": WHATSAPP_CONFIG, "Events": EVENTS, "Template": TEMPLATE,
}
