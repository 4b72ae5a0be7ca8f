"""Opt-out: the tenant's stop words, its suppression list, and the answer to a customer who
asks to stop.

A customer who writes one of the words (the whole message, case and accents ignored) goes on
the tenant's suppression list and gets one confirmation through the outbox. Bulk campaigns skip
every phone on the list. The bot calls `is_opt_out(words, text)` with `get_words(conn, tenant)`
to leave such messages alone.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from app.clock import now_ms
from app.db import Tx
from app.errors import Invalid, NotFound
from app.i18n import t
from app.services import conversations, messages, phones
from app.services.messages import TenantRef
from app.sqlite import fold
from app.text import clean_text
from app.whatsapp.base import InboundMessage, Ingested

DEFAULT_WORDS: tuple[str, ...] = ("STOP", "BAJA", "PARAR", "CANCELAR")
MAX_WORDS = 50
MAX_WORD_LEN = 40
SOURCES = ("keyword", "agent", "import")
_PHONE_RE = re.compile(r"^\d{6,15}$")
# "¡Baja!", "STOP." and "baja 🙏" are the word; "baja el precio" is not.
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def _key(text: str) -> str:
    """The form words and messages are compared in: folded, trimmed of punctuation."""
    return _SPACES.sub(" ", _EDGE.sub("", fold(text.strip()) or ""))


def is_opt_out(words: Iterable[str], text: str) -> bool:
    """True when the whole trimmed message is one of the words (case and accents ignored)."""
    key = _key(text)
    return bool(key) and any(key == _key(w) for w in words)


def get_words(conn: sqlite3.Connection, tenant_id: int) -> list[str]:
    """The tenant's stop words (the defaults until an admin changes them)."""
    row = conn.execute("SELECT words FROM optout_settings WHERE tenant_id = ?", (tenant_id,)).fetchone()
    return list(DEFAULT_WORDS) if row is None else list(orjson.loads(row[0]))


def check_words(raw: Any) -> list[str]:
    """Validate a list of stop words: 1..50 non-empty words, each at most 40 characters."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_WORDS:
        raise Invalid(f"words must be a list of 1..{MAX_WORDS} words", code="invalid_field",
                      field="words")
    words: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str):
            raise Invalid("each word must be a string", code="invalid_field", field="words")
        word = _SPACES.sub(" ", clean_text(item).strip())
        if not _key(word) or len(word) > MAX_WORD_LEN:
            raise Invalid(f"each word must have 1..{MAX_WORD_LEN} characters and a letter or digit",
                          code="invalid_field", field="words")
        if _key(word) not in seen:  # "Baja" and "BAJÁ" are one word
            seen.add(_key(word))
            words.append(word)
    return words


def set_words(tx: Tx, tenant_id: int, raw: Any) -> list[str]:
    """Replace the tenant's stop words."""
    words = check_words(raw)
    tx.execute(
        "INSERT INTO optout_settings (tenant_id, words, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (tenant_id) DO UPDATE SET words = excluded.words, updated_at = excluded.updated_at",
        (tenant_id, orjson.dumps(words).decode(), now_ms()),
    )
    return words


def check_phone(raw: Any, country: str | None = None) -> str:
    """A phone as contacts store it (E.164 digits without '+'). With `country` (the tenant's
    default) it is read as people write it; without, it must already be those digits."""
    if not isinstance(raw, str):
        raise Invalid("phone must be a string", code="invalid_phone", field="phone")
    if country is None:
        if not _PHONE_RE.match(raw):
            raise Invalid("phone must be E.164 digits without '+'", code="invalid_phone", field="phone")
        return raw
    try:
        return phones.normalize(raw, country).digits
    except phones.PhoneError as exc:
        raise Invalid("phone is not a valid number", code="invalid_phone", field="phone",
                      reason=exc.reason) from None


def _item(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    phone, source, created_at, name = row
    return {"phone": phone, "source": source, "created_at": created_at, "name": name or ""}


_SELECT = (
    "SELECT s.phone, s.source, s.created_at, ct.name FROM suppressions s"
    " LEFT JOIN contacts ct ON ct.tenant_id = s.tenant_id AND ct.phone = s.phone"
)


def is_contact(conn: sqlite3.Connection, tenant_id: int, phone: str) -> bool:
    """Whether the tenant has a contact with exactly this stored phone."""
    return conn.execute("SELECT 1 FROM contacts WHERE tenant_id = ? AND phone = ?",
                        (tenant_id, phone)).fetchone() is not None


def is_suppressed(conn: sqlite3.Connection, tenant_id: int, phone: str) -> bool:
    """Whether bulk sends must skip this phone."""
    return conn.execute("SELECT 1 FROM suppressions WHERE tenant_id = ? AND phone = ?",
                        (tenant_id, phone)).fetchone() is not None


def add(tx: Tx, tenant_id: int, phone: str, source: str, user_id: int | None = None
        ) -> tuple[dict[str, Any], bool]:
    """Put a phone on the list (a no-op if it is there). Returns (item, added)."""
    assert source in SOURCES
    added = tx.execute(
        "INSERT INTO suppressions (tenant_id, phone, source, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, phone) DO NOTHING",
        (tenant_id, phone, source, user_id, now_ms()),
    ).rowcount == 1
    row = tx.execute(_SELECT + " WHERE s.tenant_id = ? AND s.phone = ?", (tenant_id, phone)).fetchone()
    return _item(row), added


def remove(tx: Tx, tenant_id: int, phone: str) -> None:
    """Take a phone off the list; NotFound if it was not on it."""
    if tx.execute("DELETE FROM suppressions WHERE tenant_id = ? AND phone = ?",
                  (tenant_id, phone)).rowcount == 0:
        raise NotFound("phone is not on the suppression list")


def list_page(conn: sqlite3.Connection, tenant_id: int, *, cursor: str | None, limit: int
              ) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; the cursor is (created_at, id) of the last item served."""
    where, params = "s.tenant_id = ?", [tenant_id]
    if cursor:
        created_at, last_id = conversations.decode_cursor(cursor, 2)
        where += " AND (s.created_at < ? OR (s.created_at = ? AND s.id < ?))"
        params += [created_at, created_at, last_id]
    rows = conn.execute(
        "SELECT s.phone, s.source, s.created_at, ct.name, s.id FROM suppressions s"
        " LEFT JOIN contacts ct ON ct.tenant_id = s.tenant_id AND ct.phone = s.phone"
        f" WHERE {where} ORDER BY s.created_at DESC, s.id DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    nxt = conversations.encode_cursor(rows[limit - 1][2], rows[limit - 1][4]) if len(rows) > limit else None
    return [_item(r[:4]) for r in rows[:limit]], nxt


def count(conn: sqlite3.Connection, tenant_id: int) -> int:
    """How many phones the tenant's list holds."""
    return int(conn.execute("SELECT COUNT(*) FROM suppressions WHERE tenant_id = ?",
                            (tenant_id,)).fetchone()[0])


def handle_inbound(tx: Tx, tenant: TenantRef, msg: InboundMessage, ingested: Ingested) -> bool:
    """Inside the ingest write of a new inbound message: a stop word suppresses the sender and
    queues one confirmation. True when a confirmation was queued (the outbox has work)."""
    if msg.type != "text" or not is_opt_out(get_words(tx.conn, tenant.id), msg.body):
        return False
    _, added = add(tx, tenant.id, msg.from_phone, "keyword")
    if not added:  # already on the list: answered the first time, stay quiet now
        return False
    row = tx.execute("SELECT default_lang FROM tenants WHERE id = ?", (tenant.id,)).fetchone()
    text = t("optout.confirmation", row[0] if row else "es")
    messages.queue_outbound(tx, tenant, int(ingested.conversation_id), text,
                            idempotency_key=f"optout:{ingested.message_id}", author_kind="bot")
    return True
