"""neonize (whatsmeow) events in our normalised shapes: messages and receipts like the Cloud ones.

Only protobuf reading happens here (no neonize import): the events arrive as neonize's protobuf
messages, read by field name, so a stand-in with the same fields works in tests.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from app.clock import now_ms
from app.whatsapp.base import MEDIA_LIMITS, InboundMedia, InboundMessage, StatusUpdate

USER_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
# whatsmeow receipt types -> our forward-only statuses. A voice note played counts as read (our
# statuses have no `played`); the *_SELF kinds are our own other devices and mean nothing here.
RECEIPTS = {"DELIVERED": "delivered", "READ": "read", "PLAYED": "read", "SERVER_ERROR": "failed"}
# WhatsApp protobuf field -> (our type, the field holding its text), in the order to look.
_KINDS = (
    ("conversation", "text", ""),
    ("extendedTextMessage", "text", "text"),
    ("imageMessage", "image", "caption"),
    ("videoMessage", "video", "caption"),
    ("ptvMessage", "video", "caption"),
    ("audioMessage", "audio", ""),
    ("documentMessage", "document", "caption"),
    ("documentWithCaptionMessage", "document", ""),
    ("stickerMessage", "sticker", ""),
    ("locationMessage", "location", "name"),
    ("liveLocationMessage", "location", "caption"),
    ("contactMessage", "contacts", "displayName"),
    ("contactsArrayMessage", "contacts", "displayName"),
    ("reactionMessage", "reaction", "text"),
    ("buttonsResponseMessage", "button", "selectedDisplayText"),
    ("templateButtonReplyMessage", "button", "selectedDisplayText"),
    ("listResponseMessage", "interactive", "title"),
    ("pollCreationMessage", "poll", "name"),
    ("pollCreationMessageV3", "poll", "name"),
)
# Wrappers whose inner `message` is the real content.
_WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension")


def enum_name(msg: Any, field: str) -> str:
    """The name of an enum field's value (`READ`), or '' when unknown."""
    value = getattr(msg, field)
    enum = msg.DESCRIPTOR.fields_by_name[field].enum_type
    found = enum.values_by_number.get(value) if enum is not None else None
    return found.name if found is not None else ""


def _has(msg: Any, field: str) -> bool:
    try:
        return bool(msg.HasField(field))
    except ValueError:  # a scalar (conversation is a plain string): set when non-empty
        return bool(getattr(msg, field, ""))


def _unwrap(content: Any) -> Any:
    for _ in range(3):  # wrappers nest at most a couple deep
        for name in _WRAPPERS:
            if _has(content, name) and _has(getattr(content, name), "message"):
                content = getattr(content, name).message
                break
        else:
            return content
    return content


# Our media kinds by the WhatsApp field that carries the file.
MEDIA_FIELDS = {"imageMessage": "image", "videoMessage": "video", "ptvMessage": "video",
                "audioMessage": "audio", "documentMessage": "document", "stickerMessage": "sticker"}
MEDIA_PREFIX = "wa1:"


def media_of(content: Any) -> InboundMedia | None:
    """The file a message carries. WhatsApp Web has no media id to look up later: the id is the
    media part itself (where the encrypted file is and its key), serialised, so a download can
    be retried after a restart (the media table is as private as the rest of the database)."""
    content = _unwrap(content)
    if _has(content, "documentWithCaptionMessage"):
        content = content.documentWithCaptionMessage.message
    for field, kind in MEDIA_FIELDS.items():
        if not _has(content, field):
            continue
        part = getattr(content, field)
        only = type(content)()
        getattr(only, field).CopyFrom(part)
        media_id = MEDIA_PREFIX + base64.urlsafe_b64encode(only.SerializeToString()).decode()
        sha = base64.b64encode(part.fileSHA256).decode() if part.fileSHA256 else ""
        return InboundMedia(kind=kind, media_id=media_id, mime=str(part.mimetype), sha256=sha,
                            filename=str(getattr(part, "fileName", "") or "") if kind == "document" else "")
    return None


def decode_media(media_id: str, message_type: Callable[[], Any]) -> tuple[Any, int]:
    """The message holding only the media part, and the size it announces (0: unknown)."""
    if not media_id.startswith(MEDIA_PREFIX):
        raise ValueError("not a WhatsApp Web media id")
    msg = message_type()
    msg.ParseFromString(base64.urlsafe_b64decode(media_id[len(MEDIA_PREFIX):]))
    for field in MEDIA_FIELDS:
        if _has(msg, field):
            return msg, int(getattr(msg, field).fileLength)
    raise ValueError("no media part")


def type_and_body(content: Any) -> tuple[str, str] | None:
    """(type, text) of a WhatsApp message; None for what is not a message a person wrote
    (protocol messages: deletes, key distribution, history sync, edits)."""
    content = _unwrap(content)
    for field, kind, text_field in _KINDS:
        if not _has(content, field):
            continue
        if field == "conversation":
            return kind, str(content.conversation)
        part = getattr(content, field)
        if field == "documentWithCaptionMessage":
            doc = part.message.documentMessage
            return kind, str(doc.caption or doc.fileName)
        text = str(getattr(part, text_field, "") or "") if text_field else ""
        if field == "documentMessage" and not text:
            text = str(part.fileName)
        if kind == "location" and not text:
            text = f"{part.degreesLatitude},{part.degreesLongitude}"
        return kind, text
    return None


def sender_of(source: Any) -> str:
    """The customer's key: E.164 digits for a phone JID; a hidden number (`@lid`) is kept as
    `lid:<id>` unless whatsmeow gave the phone beside it."""
    for jid in (source.Chat, source.SenderAlt):
        if jid.User and jid.Server == USER_SERVER:
            return str(jid.User)
    if source.Chat.User and source.Chat.Server == LID_SERVER:
        return f"lid:{source.Chat.User}"
    return ""


def inbound(ev: Any) -> InboundMessage | None:
    """A MessageEv as an InboundMessage; None for our own sends, groups, broadcasts, protocol."""
    info = ev.Info
    source = info.MessageSource
    if source.IsFromMe or source.IsGroup or source.Chat.Server not in (USER_SERVER, LID_SERVER):
        return None
    if not info.ID:
        return None
    found = type_and_body(ev.Message)
    sender = sender_of(source)
    if found is None or not sender:
        return None
    kind, body = found
    media = media_of(ev.Message) if kind in MEDIA_LIMITS else None
    return InboundMessage(wa_id=str(info.ID), from_phone=sender, name=str(info.Pushname or ""),
                          type=kind, body=body, timestamp=int(info.Timestamp) or now_ms(), media=media)


def receipts(ev: Any) -> list[StatusUpdate]:
    """A ReceiptEv (one type, a list of message ids) as status updates for our messages."""
    status = RECEIPTS.get(enum_name(ev, "Type"))
    if status is None or ev.MessageSource.IsGroup:
        return []
    error = "web_server_error" if status == "failed" else None
    return [StatusUpdate(str(mid), status, error) for mid in ev.MessageIDs if mid]
