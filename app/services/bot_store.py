"""The bot's tables: its settings per tenant, its memory per conversation, today's counts.

Write functions run inside `db.write` and append the events their change causes; read
functions take a connection. Every statement is scoped by tenant.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from app.clock import now_ms
from app.db import Tx
from app.i18n import t
from app.realtime import stream
from app.services import bot_config
from app.services.bot_config import BotSettings
from app.services.bot_rules import Answer, Facts

BUCKET_MS = 15 * 60 * 1000  # every UTC offset is a multiple of 15 min: "today" anywhere is whole buckets
KEEP_COUNTS_MS = 3 * 24 * 3600 * 1000  # "today" anywhere on Earth lies within this
FOREVER = 2**62  # paused "until the conversation is closed" (pause_minutes = 0)


def _tenant_row(conn: sqlite3.Connection, tenant_id: int) -> tuple[str, str]:
    row = conn.execute("SELECT timezone, default_lang FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    return (row[0], row[1]) if row else ("UTC", "es")


def load_settings(conn: sqlite3.Connection, tenant_id: int) -> BotSettings:
    """The tenant's settings; before the first save, defaults in the business's language."""
    timezone, lang = _tenant_row(conn, tenant_id)
    texts = {name: t(f"bot.default.{name}", lang)
             for name in ("welcome_text", "away_text", "fallback_text", "handoff_text")}
    base = bot_config.defaults(timezone, texts)
    row = conn.execute("SELECT enabled, rules FROM bot_settings WHERE tenant_id = ?",
                       (tenant_id,)).fetchone()
    if row is None:
        return base
    stored = bot_config.from_stored(orjson.loads(row[1]), base)
    # The time zone is the business's own (tenants.timezone, also "today" on the dashboard).
    return replace(stored, enabled=bool(row[0]), timezone=timezone)


def enabled_since(conn: sqlite3.Connection, tenant_id: int) -> int | None:
    """When the bot was last switched on (it never answers older messages); None when off."""
    row = conn.execute("SELECT enabled, enabled_at FROM bot_settings WHERE tenant_id = ?",
                       (tenant_id,)).fetchone()
    return int(row[1]) if row and row[0] and row[1] is not None else None


def save_settings(tx: Tx, tenant_id: int, settings: BotSettings) -> dict[str, Any]:
    """Store validated settings; emit bot_status_changed. Returns the status object."""
    now = now_ms()
    rules = settings.public()
    for name in ("enabled", "timezone"):
        rules.pop(name)
    tx.execute(
        "INSERT INTO bot_settings (tenant_id, enabled, enabled_at, rules, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET"
        " enabled_at = CASE WHEN excluded.enabled AND NOT bot_settings.enabled THEN excluded.enabled_at"
        " ELSE bot_settings.enabled_at END,"
        " enabled = excluded.enabled, rules = excluded.rules, updated_at = excluded.updated_at",
        (tenant_id, int(settings.enabled), now, orjson.dumps(rules).decode(), now),
    )
    tx.execute("UPDATE tenants SET timezone = ? WHERE id = ?", (settings.timezone, tenant_id))
    return emit_status(tx, tenant_id)


def _day_start_ms(timezone: str, now: int) -> int:
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = datetime.fromtimestamp(now / 1000, tz)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def status(conn: sqlite3.Connection, tenant_id: int) -> dict[str, Any]:
    """The bot card: on/off, today's answers and hand-offs, conversations waiting for a person."""
    timezone, _ = _tenant_row(conn, tenant_id)
    since = _day_start_ms(timezone, now_ms())
    counts = dict(conn.execute(
        "SELECT kind, SUM(n) FROM bot_counts WHERE tenant_id = ? AND bucket >= ? GROUP BY kind",
        (tenant_id, since // BUCKET_MS),
    ).fetchall())
    attention = conn.execute(
        "SELECT COUNT(*) FROM conversations WHERE tenant_id = ? AND needs_attention = 1",
        (tenant_id,),
    ).fetchone()[0]
    enabled = conn.execute("SELECT enabled FROM bot_settings WHERE tenant_id = ?",
                           (tenant_id,)).fetchone()
    return {"enabled": bool(enabled and enabled[0]), "answered_today": counts.get("answered", 0),
            "handed_off_today": counts.get("handoff", 0), "needs_attention": attention}


def emit_status(tx: Tx, tenant_id: int) -> dict[str, Any]:
    """Append bot_status_changed with the current status (latest-wins: replay keeps the newest)."""
    data = status(tx.conn, tenant_id)
    stream.append(tx, tenant_id, "bot:status_changed", data)
    return data


def count(tx: Tx, tenant_id: int, kind: str, at: int) -> None:
    """One more bot answer or hand-off today; quarter hours older than any "today" are dropped."""
    tx.execute(
        "INSERT INTO bot_counts (tenant_id, bucket, kind, n) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (tenant_id, bucket, kind) DO UPDATE SET n = n + 1",
        (tenant_id, at // BUCKET_MS, kind),
    )
    tx.execute("DELETE FROM bot_counts WHERE tenant_id = ? AND bucket < ?",
               (tenant_id, (at - KEEP_COUNTS_MS) // BUCKET_MS))


# -- per conversation --------------------------------------------------------------------------

def conversation_state(conn: sqlite3.Connection, tenant_id: int, conversation_id: int) -> dict[str, Any]:
    """The bot's memory of one conversation (zeros for one it never saw)."""
    row = conn.execute(
        "SELECT handled_through, paused_until, last_away_at, last_fallback_at, menu, window_start,"
        " window_replies FROM bot_conversations WHERE tenant_id = ? AND conversation_id = ?",
        (tenant_id, conversation_id),
    ).fetchone()
    if row is None:
        return {"handled_through": 0, "paused_until": None, "last_away_at": None,
                "last_fallback_at": None, "menu": None, "window_start": 0, "window_replies": 0}
    return dict(row)


def facts(conn: sqlite3.Connection, tenant_id: int, conversation_id: int, first_message_id: int,
          state: dict[str, Any]) -> Facts:
    """What the rules need: the contact's previous message before this burst, and the memory."""
    prev = conn.execute(
        "SELECT MAX(created_at) FROM messages WHERE tenant_id = ? AND conversation_id = ?"
        " AND direction = 'in' AND id < ?",
        (tenant_id, conversation_id, first_message_id),
    ).fetchone()[0]
    return Facts(previous_inbound_at=prev, last_away_at=state["last_away_at"],
                 last_fallback_at=state["last_fallback_at"], menu=state["menu"])


def remember(tx: Tx, tenant_id: int, conversation_id: int, state: dict[str, Any]) -> None:
    """Store the bot's memory of a conversation."""
    tx.execute(
        "INSERT INTO bot_conversations (tenant_id, conversation_id, handled_through, paused_until,"
        " last_away_at, last_fallback_at, menu, window_start, window_replies)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET"
        " handled_through = excluded.handled_through, paused_until = excluded.paused_until,"
        " last_away_at = excluded.last_away_at, last_fallback_at = excluded.last_fallback_at,"
        " menu = excluded.menu, window_start = excluded.window_start,"
        " window_replies = excluded.window_replies",
        (tenant_id, conversation_id, state["handled_through"], state["paused_until"],
         state["last_away_at"], state["last_fallback_at"], state["menu"], state["window_start"],
         state["window_replies"]),
    )


def after_answer(state: dict[str, Any], answer: Answer, now: int) -> dict[str, Any]:
    """The memory after an answer (the rules' side effects: windows and the open menu)."""
    new = dict(state, menu=answer.menu)
    if "away" in answer.parts:
        new["last_away_at"] = now
    if "fallback" in answer.parts:
        new["last_fallback_at"] = now
    return new


def set_attention(tx: Tx, tenant_id: int, conversation_id: int, needs: bool) -> bool:
    """Mark (or clear) "a person is needed here"; True if it changed (the caller announces it)."""
    return tx.execute(
        "UPDATE conversations SET needs_attention = ? WHERE id = ? AND tenant_id = ?"
        " AND needs_attention != ?",
        (int(needs), conversation_id, tenant_id, int(needs)),
    ).rowcount > 0


def pause_for_agent(tx: Tx, tenant_id: int, conversation_id: int, now: int) -> bool:
    """An agent replied: the bot steps back here for `pause_minutes` (0: until closed), and the
    conversation no longer waits for a person. True if the attention mark was cleared."""
    row = tx.execute("SELECT rules FROM bot_settings WHERE tenant_id = ?", (tenant_id,)).fetchone()
    if row is not None:
        minutes = orjson.loads(row[0]).get("pause_minutes", 60)
        until = FOREVER if minutes == 0 else now + int(minutes) * 60_000
        state = conversation_state(tx.conn, tenant_id, conversation_id)
        remember(tx, tenant_id, conversation_id, dict(state, paused_until=until, menu=None))
    return set_attention(tx, tenant_id, conversation_id, False)
