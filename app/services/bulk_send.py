"""The bulk runner's writes: hand recipients to the outbox, finish campaigns, reconcile after a
restart, withdraw sends not started when a campaign pauses or is cancelled.

Every send goes through the outbox with a key unique per (campaign, recipient, attempt); the
recipient is `sending` from that write on, and bulk_track.py moves it when the outbox and the
provider report.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from app.clock import now_ms
from app.db import Tx
from app.services import bulk, bulk_import, bulk_track, messages, optout, outbox
from app.services.messages import TenantRef
from app.sqlite import fold
from app.whatsapp.base import OutboundMessage


@dataclass(frozen=True, slots=True)
class Active:
    """A campaign the runner serves."""

    id: int
    tenant_id: int
    status: str
    start_at: int | None
    pacing: dict[str, Any]


def active(conn: sqlite3.Connection) -> list[Active]:
    """Campaigns scheduled or running, every tenant (the runner serves them all)."""
    rows = conn.execute(
        "SELECT id, tenant_id, status, start_at, pacing FROM campaigns INDEXED BY campaigns_active"
        " WHERE status IN ('scheduled', 'running') ORDER BY id"
    ).fetchall()
    return [Active(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows]


def promote(tx: Tx, tenant_id: int, campaign_id: int) -> bool:
    """A scheduled campaign whose start time came starts running."""
    now = now_ms()
    moved = tx.execute(
        "UPDATE campaigns SET status = 'running', started_at = COALESCE(started_at, ?), updated_at = ?"
        " WHERE id = ? AND tenant_id = ? AND status = 'scheduled' AND start_at <= ?",
        (now, now, campaign_id, tenant_id, now),
    ).rowcount == 1
    if moved:
        bulk.emit(tx, tenant_id, campaign_id)
    return moved


def _conversation(tx: Tx, tenant_id: int, phone: str, name: str, now: int) -> int:
    """The recipient's conversation, created closed when new (a campaign is no inbox work
    until the customer answers, which reopens it)."""
    contact_id = tx.execute(
        "INSERT INTO contacts (tenant_id, phone, name, name_folded, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tenant_id, phone) DO UPDATE SET"
        " name = CASE WHEN contacts.name = '' THEN excluded.name ELSE contacts.name END,"
        " name_folded = CASE WHEN contacts.name = '' THEN excluded.name_folded"
        " ELSE contacts.name_folded END RETURNING id",
        (tenant_id, phone, name, fold(name), now),
    ).fetchone()[0]
    tx.execute(
        "INSERT INTO conversations (tenant_id, contact_id, status, unread_count, updated_at, created_at)"
        " VALUES (?, ?, 'closed', 0, ?, ?) ON CONFLICT (tenant_id, contact_id) DO NOTHING",
        (tenant_id, contact_id, now, now),
    )
    return int(tx.execute("SELECT id FROM conversations WHERE tenant_id = ? AND contact_id = ?",
                          (tenant_id, contact_id)).fetchone()[0])


def queue_batch(tx: Tx, tenant: TenantRef, campaign_id: int, limit: int) -> tuple[list[int], int]:
    """Hand up to `limit` due recipients of a running campaign to the outbox. Suppressed phones
    are `skipped` (counted, not sent). Returns (message ids queued, recipients taken)."""
    row = tx.execute("SELECT status, body FROM campaigns WHERE id = ? AND tenant_id = ?",
                     (campaign_id, tenant.id)).fetchone()
    if row is None or row[0] != "running":
        return [], 0
    now = now_ms()
    due = tx.execute(
        "SELECT id, phone, name, vars, attempts FROM campaign_recipients"
        " WHERE campaign_id = ? AND tenant_id = ? AND state = 'pending' AND not_before <= ?"
        " ORDER BY id LIMIT ?", (campaign_id, tenant.id, now, limit),
    ).fetchall()
    queued: list[int] = []
    for rid, phone, name, raw_vars, attempts in due:
        if optout.is_suppressed(tx.conn, tenant.id, phone):
            tx.execute("UPDATE campaign_recipients SET state = 'skipped', error = 'opted_out',"
                       " updated_at = ? WHERE id = ? AND tenant_id = ?", (now, rid, tenant.id))
            continue
        conversation_id = _conversation(tx, tenant.id, phone, name, now)
        text = bulk_import.render(row[1], name, orjson.loads(raw_vars) if raw_vars else {})
        text = text.strip()[:messages.MAX_BODY] or "-"
        message, created = messages.queue_outbound(
            tx, tenant, conversation_id, text, idempotency_key=f"bulk:{campaign_id}:{rid}:{attempts + 1}",
            author_kind="bulk")
        # A key already used means that attempt was queued before: never queue it again.
        state = "sending" if created else "unknown"
        tx.execute(
            "UPDATE campaign_recipients SET state = ?, message_id = ?, attempts = attempts + 1,"
            " queued_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
            (state, int(message["id"]), now, now, rid, tenant.id),
        )
        if created:
            queued.append(int(message["id"]))
    return queued, len(due)


def finish_if_done(tx: Tx, tenant_id: int, campaign_id: int) -> bool:
    """A running campaign with nobody left to send to (or waiting for) is `completed`."""
    now = now_ms()
    done = tx.execute(
        "UPDATE campaigns SET status = 'completed', finished_at = ?, updated_at = ?"
        " WHERE id = ? AND tenant_id = ? AND status = 'running' AND n_pending = 0 AND n_sending = 0",
        (now, now, campaign_id, tenant_id),
    ).rowcount == 1
    if done:
        bulk.emit(tx, tenant_id, campaign_id)
    return done


def next_retry(conn: sqlite3.Connection, tenant_id: int, campaign_id: int) -> int | None:
    """When the earliest recipient waiting on a back-off becomes due (unix ms)."""
    row = conn.execute(
        "SELECT MIN(not_before) FROM campaign_recipients WHERE campaign_id = ? AND tenant_id = ?"
        " AND state = 'pending'", (campaign_id, tenant_id),
    ).fetchone()
    return row[0] if row else None


def withdraw(tx: Tx, tenant_id: int, campaign_id: int, code: str) -> list[int]:
    """Sends of this campaign still queued in the outbox (not started) are refused with `code`;
    their recipients go back to `pending` (bulk_track). Returns their message ids."""
    rows = tx.execute(
        "SELECT o.id, o.message_id FROM campaign_recipients r"
        " JOIN outbox o ON o.message_id = r.message_id AND o.tenant_id = r.tenant_id"
        " WHERE r.campaign_id = ? AND r.tenant_id = ? AND r.state = 'sending' AND o.state = 'queued'",
        (campaign_id, tenant_id),
    ).fetchall()
    for outbox_id, message_id in rows:
        outbox.failed(tx, tenant_id, OutboundMessage(outbox_id, message_id, "", ""), code)
    return [int(r[1]) for r in rows]


def reconcile(tx: Tx) -> int:
    """At start-up, after the outbox's own recovery: a recipient left `sending` takes the state
    its send reached (an unconfirmed send is `unknown`, never sent again). Returns how many."""
    fixed = 0
    for campaign_id, tenant_id in tx.execute(
            "SELECT id, tenant_id FROM campaigns WHERE n_sending > 0").fetchall():
        rows = tx.execute(
            "SELECT r.message_id, o.state, m.status, m.error FROM campaign_recipients r"
            " JOIN outbox o ON o.message_id = r.message_id AND o.tenant_id = r.tenant_id"
            " JOIN messages m ON m.id = r.message_id AND m.tenant_id = r.tenant_id"
            " WHERE r.campaign_id = ? AND r.tenant_id = ? AND r.state = 'sending'",
            (campaign_id, tenant_id),
        ).fetchall()
        for message_id, state, status, error in rows:
            if state == "queued":
                continue  # the outbox sends it; its outcome arrives through bulk_track
            fixed += 1
            if status in ("sent", "delivered", "read"):
                bulk_track.on_status(tx, tenant_id, message_id, status, None)
            elif state == "accepted":
                bulk_track.on_accepted(tx, tenant_id, message_id)
            elif state == "failed" and status == "failed":
                bulk_track.on_status(tx, tenant_id, message_id, "failed", error)
            else:
                bulk_track.on_status(tx, tenant_id, message_id, "failed", bulk_track.UNCONFIRMED)
    return fixed


def dirty(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(campaign id, tenant id) of campaigns whose counts changed since their last event."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, tenant_id FROM campaigns INDEXED BY campaigns_dirty WHERE dirty = 1").fetchall()]


def sent_since(conn: sqlite3.Connection, tenant_id: int, since: int) -> int:
    """Campaign messages the tenant's number was handed since `since` (the 24 h cap)."""
    return int(conn.execute(
        "SELECT COUNT(*) FROM campaign_recipients INDEXED BY campaign_recipients_queued"
        " WHERE tenant_id = ? AND queued_at >= ?", (tenant_id, since)).fetchone()[0])


def linked_since(conn: sqlite3.Connection, tenant_id: int) -> int | None:
    """When the tenant's number was linked (the warm-up ramp counts days from it)."""
    row = conn.execute("SELECT since FROM whatsapp_sessions WHERE tenant_id = ? AND state = 'connected'",
                       (tenant_id,)).fetchone()
    return row[0] if row else None
