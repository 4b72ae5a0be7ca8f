"""Conversations and their messages as the API shows them; list, search and page queries."""

from __future__ import annotations

import base64
import re
import sqlite3
from typing import Any

import orjson

from app.errors import Invalid, NotFound
from app.services import media
from app.sqlite import fold

MAX_LIMIT = 100
STATUSES = ("open", "closed", "all")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_MESSAGE_COLS = (
    "m.id, m.conversation_id, m.direction, m.type, m.body, m.status, m.error, m.wa_id,"
    " m.author_kind, m.author_user_id, m.created_at, u.name AS author_name, m.reply_to_id, "
    + media.MESSAGE_MEDIA_COLS
)
_MESSAGE_FROM = "messages m LEFT JOIN users u ON u.id = m.author_user_id" + media.MESSAGE_MEDIA_JOIN

_CONV_SELECT = (
    "SELECT c.id, c.status, c.unread_count, c.updated_at, c.last_message_id, c.last_inbound_at,"
    " c.needs_attention,"
    " ct.id AS contact_id, ct.name AS contact_name, ct.phone AS contact_phone"
    " FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
)


def _is_decimal(raw: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other digits int() refuses."""
    return raw.isascii() and raw.isdigit()


def parse_id(raw: str) -> int:
    """Ids are opaque strings; anything that is not one of ours is simply not found."""
    if not _is_decimal(raw) or len(raw) > 18:
        raise NotFound("not found")
    return int(raw)


def message_object(row: sqlite3.Row) -> dict[str, Any]:
    """The message object of PROTOCOL §3.2."""
    obj: dict[str, Any] = {
        "id": str(row["id"]),
        "conversation_id": str(row["conversation_id"]),
        "direction": row["direction"],
        "type": row["type"],
        "body": row["body"],
        "status": row["status"],
        "wa_id": row["wa_id"],
        "created_at": row["created_at"],
    }
    kind = row["author_kind"]
    if kind == "user":
        obj["author"] = {"kind": "user", "id": str(row["author_user_id"]),
                         "name": row["author_name"] or ""}
    elif kind is not None:
        obj["author"] = {"kind": kind}
    if row["error"]:
        obj["error"] = row["error"]
    file = media.from_row(row)
    if file is not None:
        obj["media"] = file
    if row["reply_to_id"] is not None:
        obj["reply_to"] = str(row["reply_to_id"])  # additive: the message this one answers
    return obj


def get_message(conn: sqlite3.Connection, tenant_id: int, message_id: int) -> dict[str, Any] | None:
    """One message of a tenant."""
    row = conn.execute(
        f"SELECT {_MESSAGE_COLS} FROM {_MESSAGE_FROM} WHERE m.id = ? AND m.tenant_id = ?",
        (message_id, tenant_id),
    ).fetchone()
    return message_object(row) if row else None


def item_object(
    conversation_id: int, contact: dict[str, Any], last_message: dict[str, Any] | None,
    unread_count: int, status: str, updated_at: int, last_inbound_at: int | None = None,
    needs_attention: bool = False,
) -> dict[str, Any]:
    """The conversation list item of PROTOCOL §2 (also the `conversation_updated` data).

    `needs_attention` (an addition): the customer asked the bot for a person (issue 11)."""
    return {
        "id": str(conversation_id),
        "contact": contact,
        "last_message": last_message,
        "unread_count": unread_count,
        "status": status,
        "updated_at": updated_at,
        # Additive: when the customer last wrote (the 24-hour window of the composer).
        "last_inbound_at": last_inbound_at,
        "needs_attention": needs_attention,
    }


def contact_object(contact_id: int, name: str, phone: str) -> dict[str, Any]:
    """The contact inside a conversation item."""
    return {"id": str(contact_id), "name": name, "phone": phone}


def _item(conn: sqlite3.Connection, tenant_id: int, row: sqlite3.Row) -> dict[str, Any]:
    last = (get_message(conn, tenant_id, row["last_message_id"])
            if row["last_message_id"] is not None else None)
    return item_object(
        row["id"], contact_object(row["contact_id"], row["contact_name"], row["contact_phone"]),
        last, row["unread_count"], row["status"], row["updated_at"], row["last_inbound_at"],
        bool(row["needs_attention"]),
    )


def get_item(conn: sqlite3.Connection, tenant_id: int, conversation_id: int) -> dict[str, Any]:
    """The list item of one conversation, or NotFound (also for another tenant's id)."""
    row = conn.execute(
        _CONV_SELECT + " WHERE c.id = ? AND c.tenant_id = ?", (conversation_id, tenant_id)
    ).fetchone()
    if row is None:
        raise NotFound("conversation not found")
    return _item(conn, tenant_id, row)


def encode_cursor(*parts: int) -> str:
    """An opaque pagination cursor."""
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[int]:
    """Read a cursor made by encode_cursor; a bad one is a 400, not a 500."""
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(parts, list) and len(parts) == n and all(
            isinstance(p, int) and not isinstance(p, bool) and _INT64_MIN <= p <= _INT64_MAX
            for p in parts
        ):  # SQLite integers are 64-bit: a bigger one would fail in the query (a 500)
            return parts
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise Invalid("invalid cursor", code="invalid_cursor")


def parse_limit(raw: str | None, default: int = 50) -> int:
    """Validate a `limit` query parameter."""
    if raw is None or raw == "":
        return default
    if not _is_decimal(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit")
    return int(raw)


_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def fts_query(q: str) -> str | None:
    """Turn free text into a safe FTS5 query: every word as a quoted prefix, all required."""
    words = _TOKEN_RE.findall(q)[:8]
    if not words:
        return None
    return " ".join('"' + w.replace('"', "") + '"*' for w in words)


# Conversations whose contact's folded name or phone holds the text: a scan of the tenant's
# entries in the contacts_search index (stored folded names; no Python per contact).
_CONTACT_HITS = (
    "SELECT c2.id FROM contacts ct2 INDEXED BY contacts_search"
    " JOIN conversations c2 ON c2.contact_id = ct2.id AND c2.tenant_id = ct2.tenant_id"
    " WHERE ct2.tenant_id = ? AND (ct2.name_folded LIKE ? ESCAPE '\\' OR ct2.phone LIKE ? ESCAPE '\\')"
)
# ... or whose messages hold every word: one posting per conversation (conversations_fts), so
# the cost follows the matching conversations, not the matching messages. Ids of other tenants'
# conversations may come out of the index; the outer query keeps the tenant's only.
# UNION ALL, not UNION: IN only asks membership, so duplicates are harmless, and UNION would
# build a second temp B-tree to drop them (~4 ms of the 25 ms for a word in every conversation).
# The outer query walks conversations_list newest first and probes this set until LIMIT.
_SEARCH_HITS = (_CONTACT_HITS
                + " UNION ALL SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?")


def _search_params(tenant_id: int, q: str) -> list[Any]:
    like = "%" + (fold(q) or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    match = fts_query(q)
    return [tenant_id, like, like] + ([match] if match else [])


def list_conversations(
    conn: sqlite3.Connection, tenant_id: int, *, q: str = "", status: str = "open",
    cursor: str | None = None, limit: int = 50, unread: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Conversations newest first, filtered by status, unread and search text."""
    if status not in STATUSES:
        raise Invalid("status must be open, closed or all", code="invalid_status")
    where = ["c.tenant_id = ?"]
    params: list[Any] = [tenant_id]
    if status != "all":
        where.append("c.status = ?")
        params.append(status)
    if unread:
        where.append("c.unread_count > 0")
    q = q.strip()
    if q:
        where.append(f"c.id IN ({_SEARCH_HITS})" if fts_query(q) else
                     f"c.id IN ({_CONTACT_HITS})")
        params += _search_params(tenant_id, q)
    if cursor:
        updated_at, conv_id = decode_cursor(cursor, 2)
        where.append("(c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))")
        params += [updated_at, updated_at, conv_id]
    rows = conn.execute(
        _CONV_SELECT + " WHERE " + " AND ".join(where)
        + " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    items = [_item(conn, tenant_id, r) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1]["updated_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return items, nxt


def list_messages(
    conn: sqlite3.Connection, tenant_id: int, conversation_id: int, *, before: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of messages oldest to newest; `next` pages further back."""
    get_item(conn, tenant_id, conversation_id)  # 404 for a missing or foreign conversation
    params: list[Any] = [tenant_id, conversation_id]
    extra = ""
    if before:
        if not _is_decimal(before) or len(before) > 18:
            raise Invalid("invalid before cursor", code="invalid_cursor")
        extra = " AND m.id < ?"
        params.append(int(before))
    rows = conn.execute(
        f"SELECT {_MESSAGE_COLS} FROM {_MESSAGE_FROM}"
        f" WHERE m.tenant_id = ? AND m.conversation_id = ?{extra} ORDER BY m.id DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    page = rows[:limit]
    nxt = str(page[-1]["id"]) if len(rows) > limit else None
    return [message_object(r) for r in reversed(page)], nxt
