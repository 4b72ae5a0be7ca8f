"""The WhatsApp link of each tenant: its stored state and the events that announce changes."""

from __future__ import annotations

import sqlite3
from typing import Any

from app.clock import now_ms
from app.db import Tx
from app.realtime import stream
from app.whatsapp.base import STATES


def get_link(conn: sqlite3.Connection, tenant_id: int) -> dict[str, Any]:
    """The stored state of a tenant's link (provider, state, phone, since, reason)."""
    row = conn.execute(
        "SELECT t.provider, s.state, s.phone, s.since, s.reason FROM tenants t"
        " LEFT JOIN whatsapp_sessions s ON s.tenant_id = t.id WHERE t.id = ?",
        (tenant_id,),
    ).fetchone()
    if row is None:
        raise LookupError(tenant_id)
    return {"provider": row[0], "state": row[1] or "stopped", "phone": row[2], "since": row[3],
            "reason": row[4]}


def set_state(
    tx: Tx, tenant_id: int, state: str, *, phone: str | None = None, reason: str | None = None
) -> None:
    """Store a new state; entering connected or leaving it is announced on the stream."""
    if state not in STATES:
        raise ValueError(f"unknown link state {state!r}")
    prev = tx.execute(
        "SELECT state FROM whatsapp_sessions WHERE tenant_id = ?", (tenant_id,)
    ).fetchone()
    now = now_ms()
    keep_phone = state == "connected"
    tx.execute(
        "INSERT INTO whatsapp_sessions (tenant_id, state, phone, since, reason) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tenant_id) DO UPDATE SET state = excluded.state, since = excluded.since,"
        " reason = excluded.reason,"
        " phone = CASE WHEN ? THEN excluded.phone ELSE whatsapp_sessions.phone END",
        (tenant_id, state, phone, now, reason, keep_phone),
    )
    if state == "connected":
        stream.append(tx, tenant_id, "whatsapp:authenticated", {"phone": phone, "at": now})
    elif state in ("disconnected", "logged_out", "failed") and (prev is None or prev[0] != state):
        stream.append(tx, tenant_id, "whatsapp:disconnected",
                      {"reason": reason or state, "at": now, "state": state})


def reset_transient(tx: Tx) -> int:
    """At start-up: links left half-way (starting, qr_pending) by a previous process are over."""
    rows = tx.execute(
        "SELECT tenant_id FROM whatsapp_sessions WHERE state IN ('starting', 'qr_pending')"
    ).fetchall()
    for (tenant_id,) in rows:
        set_state(tx, tenant_id, "disconnected", reason="restart")
    return len(rows)


def paired_sandboxes(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """At start-up, over every tenant: sandbox links that were connected, to pair them again."""
    rows = conn.execute(
        "SELECT s.tenant_id, s.phone FROM whatsapp_sessions s JOIN tenants t ON t.id = s.tenant_id"
        " WHERE t.provider = 'sandbox' AND s.state = 'connected'"
    ).fetchall()
    return [(r[0], r[1] or "") for r in rows]


def summary(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Over every tenant, for /healthz and /metrics: how many tenants per (provider, state).

    Counts only: no tenant is named, so the answer can be public."""
    rows = conn.execute(
        "SELECT t.provider, COALESCE(s.state, 'stopped'), COUNT(*) FROM tenants t"
        " LEFT JOIN whatsapp_sessions s ON s.tenant_id = t.id GROUP BY 1, 2"
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def web_tenants(conn: sqlite3.Connection) -> list[int]:
    """At start-up, over every tenant: those on QR pairing, whose stored sessions resume."""
    return [r[0] for r in conn.execute("SELECT id FROM tenants WHERE provider = 'web'").fetchall()]
