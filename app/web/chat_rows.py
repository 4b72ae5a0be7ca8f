"""The first rows of the conversation list, drawn by the server so the list shows at the first
paint; static/js/chat/list.js takes over with the same markup (format.js has the twins of these
functions: keep them in step)."""

from __future__ import annotations

import re
from typing import Any

from app.i18n import t

SSR_ROWS = 14  # a tall laptop screen's worth of 72 px rows; the rest waits for the script

# The same list as format.js AVATAR_COLOURS and chat.css .av-0 … .av-7 (no inline styles: CSP).
AVATAR_COLOURS = ("#0b7a55", "#1f6fb2", "#8a4baf", "#b3541e", "#2d7d8c", "#6b5d1f", "#a33a5d", "#4a5a8c")


def avatar_index(contact_id: str) -> int:
    """A stable colour index from the contact id (format.js avatarColour; CSS class av-N)."""
    h = 0
    for ch in str(contact_id):
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return h % len(AVATAR_COLOURS)


def initials(name: str) -> str:
    """Up to two initials; "" for a contact without a name (a person icon shows)."""
    parts = name.split()
    if not parts:
        return ""
    first = parts[0][:1]
    last = parts[-1][:1] if len(parts) > 1 else ""
    return (first + last).upper()


def format_phone(digits: str) -> str:
    """+56 9 8765 4321 for Chilean mobiles, else grouped in threes (format.js formatPhone)."""
    s = re.sub(r"\D", "", digits or "")
    if not s:
        return ""
    if re.fullmatch(r"569\d{8}", s):
        return f"+56 9 {s[3:7]} {s[7:]}"
    if len(s) > 8:
        cc = s[:3] if len(s) > 11 else s[:2]
        rest = re.sub(r"(\d{3})(?=\d{3,})", r"\1 ", s[len(cc):])
        return f"+{cc} {rest}"
    return "+" + s


def row(item: dict[str, Any], me_id: str, lang: str) -> dict[str, Any]:
    """What one list row shows (list.js fill)."""
    contact = item["contact"]
    name = (contact.get("name") or "").strip()
    last = item.get("last_message")
    prefix = ""
    preview = ""
    status = None
    if last:
        if last["direction"] == "out":
            status = last["status"]
            author = last.get("author") or {}
            if author.get("kind") == "user" and author.get("id") == me_id:
                prefix = t("chat.you", lang) + ": "
            elif author.get("kind") == "bot":
                prefix = t("chat.bot", lang) + ": "
            elif author.get("name"):
                prefix = author["name"] + ": "
        kind = last.get("type") or "text"
        if kind != "text":
            key = f"chat.media_{kind}"
            preview = t(key, lang) if t(key, lang) != key else t("chat.media_other", lang)
        else:
            preview = last.get("body") or ""
    return {
        "id": item["id"], "initials": initials(name), "colour": avatar_index(contact["id"]),
        "label": name or format_phone(contact.get("phone") or ""), "prefix": prefix,
        "preview": preview, "status": status, "unread": item["unread_count"],
    }


def rows(items: list[dict[str, Any]], me_id: str, lang: str) -> list[dict[str, Any]]:
    """The rows drawn by the server."""
    return [row(item, me_id, lang) for item in items[:SSR_ROWS]]
