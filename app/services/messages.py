"""Messages: ingest inbound (deduplicated), queue outbound through the outbox, statuses, read.

Every function here is a write function: it runs inside `db.write` and appends the events that
describe its change in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from app.clock import now_ms
from app.db import Tx
from app.errors import Conflict, Invalid, NotFound
from app.realtime import stream
from app.services import bulk_track, conversations, media, stats
from app.sqlite import fold
from app.text import clean_text
from app.whatsapp.base import InboundMessage, Ingested

MAX_BODY = 4096  # WhatsApp's own limit for a text message body

# A status only moves forward; `failed` may still be overtaken by a later delivery receipt
# (multi-device phones report delivered after failed).
STATUS_RANK = {"queued": 0, "failed": 1, "sent": 2, "delivered": 3, "read": 4}


@dataclass(frozen=True, slots=True)
class TenantRef:
    """The tenant a change belongs to, as services need it."""

    id: int
    code: str


def _emit_message(tx: Tx, tenant: TenantRef, message_id: int, conversation_id: int) -> None:
    message = conversations.get_message(tx.conn, tenant.id, message_id)
    conversation = conversations.get_item(tx.conn, tenant.id, conversation_id)
    _announce(tx, tenant, message, conversation)


def _announce(tx: Tx, tenant: TenantRef, message: dict[str, Any], conversation: dict[str, Any]) -> None:
    """new_message + conversation_updated, with one seq allocation."""
    stream.append_many(tx, tenant.id, (
        ("message:new", {"clientCode": tenant.code, "message": message, "conversation": conversation},
         None),
        ("conversation:updated", conversation, int(conversation["id"])),
    ))


def ingest_inbound(tx: Tx, tenant: TenantRef, msg: InboundMessage) -> Ingested:
    """Store an inbound message once per provider id; create contact and conversation.

    The hot path of ingest: the event data is built from the values written (RETURNING), not
    read back.
    """
    dup = tx.execute(
        "SELECT id, conversation_id FROM messages WHERE tenant_id = ? AND wa_id = ?",
        (tenant.id, msg.wa_id),
    ).fetchone()
    if dup is not None:
        return Ingested(str(dup[0]), str(dup[1]), True)
    now = now_ms()
    # What a phone sends is stored without control characters (app/text.py), whatever the provider.
    name = clean_text(msg.name or "")
    contact_id, contact_name = tx.execute(
        "INSERT INTO contacts (tenant_id, phone, name, name_folded, created_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tenant_id, phone) DO UPDATE SET"
        " name = CASE WHEN excluded.name != '' THEN excluded.name ELSE contacts.name END,"
        " name_folded = CASE WHEN excluded.name != '' THEN excluded.name_folded"
        " ELSE contacts.name_folded END"
        " RETURNING id, name",
        (tenant.id, msg.from_phone, name, fold(name), now),
    ).fetchone()
    conversation_id = tx.execute(
        "INSERT INTO conversations (tenant_id, contact_id, status, unread_count, updated_at,"
        " created_at, last_inbound_at) VALUES (?, ?, 'open', 0, ?, ?, ?)"
        " ON CONFLICT (tenant_id, contact_id) DO UPDATE SET status = 'open'"
        " RETURNING id",
        (tenant.id, contact_id, now, now, now),
    ).fetchone()[0]
    body = clean_text(msg.body)[:MAX_BODY * 4]
    message_id = tx.execute(
        "INSERT INTO messages (tenant_id, conversation_id, direction, type, body, status, wa_id,"
        " author_kind, created_at) VALUES (?, ?, 'in', ?, ?, 'delivered', ?, 'contact', ?)"
        " RETURNING id",
        (tenant.id, conversation_id, msg.type, body, msg.wa_id, now),
    ).fetchone()[0]
    stats.count_message(tx, tenant.id, "in", now)
    unread, attention = tx.execute(
        "UPDATE conversations SET unread_count = unread_count + 1, last_message_id = ?,"
        " updated_at = ?, last_inbound_at = ? WHERE id = ? AND tenant_id = ?"
        " RETURNING unread_count, needs_attention",
        (message_id, now, now, conversation_id, tenant.id),
    ).fetchone()
    message = {
        "id": str(message_id), "conversation_id": str(conversation_id), "direction": "in",
        "type": msg.type, "body": body, "status": "delivered", "wa_id": msg.wa_id,
        "created_at": now, "author": {"kind": "contact"},
    }
    if msg.media is not None:  # a photo, voice note...: the fetcher downloads it right after
        message["media"] = media.add_inbound(tx, tenant.id, message_id, msg.media, now)
    conversation = conversations.item_object(
        conversation_id, conversations.contact_object(contact_id, contact_name, msg.from_phone),
        message, unread, "open", now, now, bool(attention),
    )
    _announce(tx, tenant, message, conversation)
    return Ingested(str(message_id), str(conversation_id), False)


def request_hash(conversation_id: int, body: str, reply_to: int | None = None,
                 template: dict[str, Any] | None = None) -> str:
    """Fingerprint of a send request, to refuse an Idempotency-Key reused for another one."""
    extra = "" if reply_to is None else f"\x00reply:{reply_to}"  # old fingerprints unchanged
    if template is not None:
        extra += "\x00template:" + orjson.dumps(template, option=orjson.OPT_SORT_KEYS).decode()
    return hashlib.sha256(f"{conversation_id}\x00{body}{extra}".encode()).hexdigest()


def check_reply_to(tx: Tx, tenant_id: int, conversation_id: int, reply_to: int) -> None:
    """A reply quotes a message of the same conversation (and tenant), or nothing is written."""
    row = tx.execute(
        "SELECT 1 FROM messages WHERE id = ? AND tenant_id = ? AND conversation_id = ?",
        (reply_to, tenant_id, conversation_id),
    ).fetchone()
    if row is None:
        raise Invalid("reply_to is not a message of this conversation", code="invalid_reply_to",
                      field="reply_to")


def last_inbound_wa_id(tx: Tx, tenant_id: int, conversation_id: int) -> str | None:
    """The provider id of the customer's latest message (marking it read marks the earlier)."""
    row = tx.execute(
        "SELECT wa_id FROM messages WHERE conversation_id = ? AND tenant_id = ? AND direction = 'in'"
        " ORDER BY id DESC LIMIT 1",
        (conversation_id, tenant_id),
    ).fetchone()
    return row[0] if row else None


def check_body(body: Any) -> str:
    """Validate an outbound text body (cleaned first: a body of control characters is empty)."""
    if isinstance(body, str):
        body = clean_text(body)
    if not isinstance(body, str) or not body.strip():
        raise Invalid("body must be a non-empty string", code="invalid_body")
    if len(body) > MAX_BODY:
        raise Invalid(f"body is longer than {MAX_BODY} characters", code="body_too_long")
    return body


def queue_outbound(
    tx: Tx, tenant: TenantRef, conversation_id: int, body: str, *, idempotency_key: str,
    author_kind: str = "user", author_user_id: int | None = None,
    file: media.OutboundFile | None = None, reply_to: int | None = None,
    template: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Queue a reply: message row + outbox row + events. Returns (message, created).

    With `file` (an attachment already stored) the message is of its kind and `body` is the
    caption, possibly empty.
    """
    # Every sender (agents, bot, bulk) passes here; a no-op for a body check_body cleaned.
    body = clean_text(body)
    fingerprint = request_hash(conversation_id, body if file is None else f"{body}\x00{file.sha256}",
                               reply_to, template)
    existing = tx.execute(
        "SELECT message_id, request_hash FROM outbox WHERE tenant_id = ? AND idempotency_key = ?",
        (tenant.id, idempotency_key),
    ).fetchone()
    if existing is not None:
        if existing[1] != fingerprint:
            raise Conflict("Idempotency-Key was already used for a different request",
                           code="idempotency_key_reused")
        message = conversations.get_message(tx.conn, tenant.id, existing[0])
        assert message is not None
        return message, False
    row = tx.execute(
        "SELECT id FROM conversations WHERE id = ? AND tenant_id = ?", (conversation_id, tenant.id)
    ).fetchone()
    if row is None:
        raise NotFound("conversation not found")
    if reply_to is not None:
        check_reply_to(tx, tenant.id, conversation_id, reply_to)
    now = now_ms()
    message_id = tx.execute(
        "INSERT INTO messages (tenant_id, conversation_id, direction, type, body, status,"
        " author_kind, author_user_id, created_at, reply_to_id, template)"
        " VALUES (?, ?, 'out', ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING id",
        (tenant.id, conversation_id, file.kind if file else "template" if template else "text", body,
         author_kind, author_user_id, now, reply_to,
         orjson.dumps(template).decode() if template else None),
    ).fetchone()[0]
    if file is not None:
        media.add_outbound(tx, tenant.id, message_id, file, now)
    stats.count_message(tx, tenant.id, "out", now)
    tx.execute(
        "INSERT INTO outbox (tenant_id, message_id, idempotency_key, request_hash, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (tenant.id, message_id, idempotency_key, fingerprint, now, now),
    )
    tx.execute(
        "UPDATE conversations SET last_message_id = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
        (message_id, now, conversation_id, tenant.id),
    )
    _emit_message(tx, tenant, message_id, conversation_id)
    message = conversations.get_message(tx.conn, tenant.id, message_id)
    assert message is not None
    return message, True


def set_status(
    tx: Tx, tenant_id: int, message_id: int, status: str, error: str | None = None
) -> bool:
    """Move a message's status forward (never back); emit message_status. True if it moved."""
    if status not in STATUS_RANK:
        raise Invalid(f"unknown status {status!r}", code="invalid_status")
    row = tx.execute(
        "SELECT status, conversation_id FROM messages WHERE id = ? AND tenant_id = ?",
        (message_id, tenant_id),
    ).fetchone()
    if row is None or STATUS_RANK[status] <= STATUS_RANK[row[0]]:
        return False
    tx.execute(
        "UPDATE messages SET status = ?, error = ? WHERE id = ? AND tenant_id = ?",
        (status, error if status == "failed" else None, message_id, tenant_id),
    )
    data: dict[str, Any] = {"message_id": str(message_id), "conversation_id": str(row[1]),
                            "status": status}
    if status == "failed" and error:
        data["error"] = error
    stream.append(tx, tenant_id, "message:status", data, key=message_id)
    bulk_track.on_status(tx, tenant_id, message_id, status, error)
    return True


def set_status_by_wa_id(
    tx: Tx, tenant_id: int, wa_id: str, status: str, error: str | None = None
) -> bool:
    """A provider receipt, matched by the provider's message id within the tenant.

    A receipt for an id we do not know yet is parked and applied by `adopt_orphans`.
    """
    if status not in STATUS_RANK:
        raise Invalid(f"unknown status {status!r}", code="invalid_status")
    row = tx.execute(
        "SELECT id FROM messages WHERE tenant_id = ? AND wa_id = ?", (tenant_id, wa_id)
    ).fetchone()
    if row is None:
        tx.execute(
            "INSERT OR IGNORE INTO orphan_statuses (tenant_id, wa_id, status, error, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (tenant_id, wa_id, status, error, now_ms()),
        )
        return False
    return set_status(tx, tenant_id, row[0], status, error)


def adopt_orphans(tx: Tx, tenant_id: int, message_id: int, wa_id: str) -> None:
    """Apply receipts that arrived before the message's provider id was stored."""
    rows = tx.execute(
        "DELETE FROM orphan_statuses WHERE tenant_id = ? AND wa_id = ? RETURNING status, error",
        (tenant_id, wa_id),
    ).fetchall()
    for status, error in sorted(rows, key=lambda r: STATUS_RANK.get(r[0], -1)):
        set_status(tx, tenant_id, message_id, status, error)


def prune_orphans(tx: Tx, max_age_ms: int) -> int:
    """Forget receipts that never found their message."""
    return tx.execute("DELETE FROM orphan_statuses WHERE created_at < ?",
                      (now_ms() - max_age_ms,)).rowcount


def mark_read(tx: Tx, tenant: TenantRef, conversation_id: int) -> bool:
    """Unread to zero and inbound messages to `read`; emit conversation_updated if it changed."""
    row = tx.execute(
        "SELECT unread_count FROM conversations WHERE id = ? AND tenant_id = ?",
        (conversation_id, tenant.id),
    ).fetchone()
    if row is None:
        raise NotFound("conversation not found")
    if row[0] == 0:
        return False
    tx.execute("UPDATE conversations SET unread_count = 0 WHERE id = ? AND tenant_id = ?",
               (conversation_id, tenant.id))
    # Through the index of unread rows: the cost is the unread messages, not the thread.
    tx.execute(
        "UPDATE messages INDEXED BY messages_unread SET status = 'read'"
        " WHERE conversation_id = ? AND direction = 'in' AND status = 'delivered'"
        " AND tenant_id = ?",
        (conversation_id, tenant.id),
    )
    item = conversations.get_item(tx.conn, tenant.id, conversation_id)
    stream.append(tx, tenant.id, "conversation:updated", item, key=conversation_id)
    return True
