"""Existing contacts as campaign recipients (the "my contacts" source of a bulk send)."""

from __future__ import annotations

import sqlite3
from typing import Any

from app.sqlite import fold


def _like(q: str) -> str:
    return "%" + (fold(q) or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contacts(conn: sqlite3.Connection, tenant_id: int, q: str = "",
             limit: int = 10_000) -> list[dict[str, Any]]:
    """The tenant's contacts with a phone (name or phone holding `q`), oldest first, at most `limit`.

    Only digit phones: a contact known by a provider user id (QR mode's @lid) has no number to send to.
    """
    rows = conn.execute(
        "SELECT id, phone, name FROM contacts INDEXED BY contacts_search"
        " WHERE tenant_id = ? AND (name_folded LIKE ? ESCAPE '\\' OR phone LIKE ? ESCAPE '\\')"
        " AND phone NOT GLOB '*[^0-9]*' ORDER BY id LIMIT ?",
        (tenant_id, _like(q), _like(q), limit)).fetchall()
    return [{"id": r["id"], "phone": r["phone"], "name": r["name"]} for r in rows]
