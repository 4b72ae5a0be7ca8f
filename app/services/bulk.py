"""Bulk campaigns: creation, the campaign object, lists, and the start/pause/resume/cancel moves.

Recipients are rows (`campaign_recipients`); their counters on the campaign row are kept by
triggers (schema.sql), so they always equal the rows. Sending is the runner's job
(bulk_runner.py, bulk_send.py); what providers report back is bulk_track.py's.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from app.clock import now_ms
from app.db import Tx
from app.errors import Conflict, Invalid, NotFound
from app.realtime import stream
from app.services import bulk_import, conversations, messages, pacing, phones
from app.text import clean_text

MAX_NAME = 100
MAX_VARS = bulk_import.MAX_COLUMNS
STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
RECIPIENT_STATES = ("pending", "sending", "sent", "delivered", "read", "failed", "skipped", "unknown")
RATE_WINDOW_MS = 60_000  # the `rate` of the campaign object: recipients handed over in the last minute

# action -> (statuses it applies to, resulting status); "start" of a future start_at schedules.
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft", "scheduled"), "running"),  # a scheduled one: now, not at its time
    "pause": (("running", "scheduled"), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("draft", "scheduled", "running", "paused"), "cancelled"),
}


def parse_id(raw: str) -> int:
    """A campaign id from a path; anything else is a campaign that does not exist."""
    if not raw.isdecimal() or len(raw) > 18:
        raise NotFound("campaign not found")
    return int(raw)


def _check_vars(raw: Any, index: int) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_VARS:
        raise Invalid(f"recipients[{index}].vars must be an object of at most {MAX_VARS} values",
                      code="invalid_recipients", index=index)
    out: dict[str, str] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, str | int | float) or not bulk_import.key(str(k)):
            raise Invalid(f"recipients[{index}].vars values must be strings or numbers",
                          code="invalid_recipients", index=index)
        out[bulk_import.key(str(k))] = clean_text(str(v))[:bulk_import.MAX_CELL]
    return out


def check_recipients(raw: Any, country: str) -> list[tuple[str, str, dict[str, str]]]:
    """(phone digits, name, vars) per recipient; a bad or repeated phone refuses the whole list,
    naming the row, so nothing is dropped without the sender knowing."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= bulk_import.MAX_ROWS:
        raise Invalid(f"recipients must be a list of 1..{bulk_import.MAX_ROWS}", code="invalid_recipients")
    out: list[tuple[str, str, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise Invalid(f"recipients[{i}] must be an object", code="invalid_recipients", index=i)
        try:
            phone = phones.normalize(item.get("phone"), country).digits
        except phones.PhoneError as err:
            raise Invalid(f"recipients[{i}].phone is not a valid number", code="invalid_recipients",
                          index=i, reason=err.reason) from None
        if phone in seen:
            raise Invalid(f"recipients[{i}].phone repeats recipients[{seen[phone]}]",
                          code="invalid_recipients", index=i, reason="duplicate")
        seen[phone] = i
        name = item.get("name") or ""
        if not isinstance(name, str):
            raise Invalid(f"recipients[{i}].name must be a string", code="invalid_recipients", index=i)
        out.append((phone, clean_text(name).strip()[:MAX_NAME], _check_vars(item.get("vars"), i)))
    return out


def check_template(raw: Any) -> dict[str, str] | None:
    """An approved template reference `{"name", "language"}` (Cloud API), or None."""
    if raw is None:
        return None
    if (not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip()
            or not isinstance(raw.get("language", "es"), str) or len(raw["name"]) > 512):
        raise Invalid('template must be {"name", "language"}', code="invalid_field", field="template")
    return {"name": raw["name"].strip(), "language": str(raw.get("language", "es"))[:15]}


def check_start_at(raw: Any, field: str = "start_at") -> int | None:
    """Optional start time in unix milliseconds."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**53:
        raise Invalid(f"{field} must be unix milliseconds", code="invalid_field", field=field)
    return raw


def create(tx: Tx, tenant_id: int, user_id: int | None, data: dict[str, Any], provider: str,
           country: str) -> dict[str, Any]:
    """A draft campaign with its recipients; suppressed phones are `skipped` at send time."""
    name = data.get("name")
    if not isinstance(name, str) or not clean_text(name).strip() or len(name) > MAX_NAME:
        raise Invalid(f"name must be 1..{MAX_NAME} characters", code="invalid_field", field="name")
    template = check_template(data.get("template"))
    body = data.get("body")
    if template is None or body not in (None, ""):
        body = messages.check_body(body)
    recipients = check_recipients(data.get("recipients"), country)
    settings = pacing.check(provider, data.get("pacing"))
    # `scheduled_at` (what the bulk pages send) creates it scheduled: it starts by itself then.
    scheduled_at = check_start_at(data.get("scheduled_at"), "scheduled_at")
    start_at = scheduled_at if scheduled_at is not None else check_start_at(data.get("start_at"))
    now = now_ms()
    campaign_id = tx.execute(
        "INSERT INTO campaigns (tenant_id, name, body, template, status, pacing, start_at,"
        " created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (tenant_id, clean_text(name).strip(), body or "",
         orjson.dumps(template).decode() if template else None,
         "draft" if scheduled_at is None else "scheduled", orjson.dumps(settings).decode(),
         start_at, user_id, now, now),
    ).fetchone()[0]
    tx.conn.executemany(
        "INSERT INTO campaign_recipients (tenant_id, campaign_id, phone, name, vars, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(tenant_id, campaign_id, p, n, orjson.dumps(v).decode() if v else None, now)
         for p, n, v in recipients],
    )
    return emit(tx, tenant_id, campaign_id)


def _row(conn: sqlite3.Connection, tenant_id: int, campaign_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM campaigns WHERE id = ? AND tenant_id = ?",
                       (campaign_id, tenant_id)).fetchone()
    if row is None:
        raise NotFound("campaign not found")
    return row


def rate_now(conn: sqlite3.Connection, tenant_id: int, row: sqlite3.Row, now: int) -> float:
    """Recipients handed over per second over the last minute (0 unless running)."""
    if row["status"] != "running" or not row["started_at"]:
        return 0.0
    since = max(now - RATE_WINDOW_MS, row["started_at"])
    n = conn.execute(
        "SELECT COUNT(*) FROM campaign_recipients INDEXED BY campaign_recipients_queued"
        " WHERE tenant_id = ? AND queued_at >= ? AND campaign_id = ?", (tenant_id, since, row["id"]),
    ).fetchone()[0]
    return round(n / max(1.0, (now - since) / 1000), 2)


def _pacing(conn: sqlite3.Connection, row: sqlite3.Row, now: int) -> dict[str, Any]:
    """The campaign's pace settings; a human-paced number also shows its 24 h allowance today
    (`cap_24h`, with the warm-up ramp) and what it used (`sent_24h`), so the UI can explain a
    campaign that waits."""
    settings: dict[str, Any] = orjson.loads(row["pacing"])
    if settings.get("mode") == "human":
        linked = conn.execute("SELECT since FROM whatsapp_sessions WHERE tenant_id = ?"
                              " AND state = 'connected'", (row["tenant_id"],)).fetchone()
        settings["cap_24h"] = pacing.cap_today(settings, linked[0] if linked else None, now)
        settings["sent_24h"] = conn.execute(
            "SELECT COUNT(*) FROM campaign_recipients INDEXED BY campaign_recipients_queued"
            " WHERE tenant_id = ? AND queued_at >= ?", (row["tenant_id"], now - pacing.DAY_MS),
        ).fetchone()[0]
    return settings


def campaign_object(conn: sqlite3.Connection, row: sqlite3.Row, now: int | None = None) -> dict[str, Any]:
    """The campaign as the API and `bulk_message_progress` show it.

    `sent` counts every recipient the provider took (delivered and read ones too), `delivered`
    includes read ones: the numbers a progress bar stacks. `pending` includes those being sent.
    """
    now = now or now_ms()
    rate = rate_now(conn, row["tenant_id"], row, now)
    pending = row["n_pending"] + row["n_sending"]
    return {
        "id": str(row["id"]), "name": row["name"], "body": row["body"],
        "template": orjson.loads(row["template"]) if row["template"] else None,
        "status": row["status"], "pause_reason": row["pause_reason"], "start_at": row["start_at"],
        "scheduled_at": row["start_at"],
        "total": row["total"], "pending": pending, "sending": row["n_sending"],
        "sent": row["n_sent"] + row["n_delivered"] + row["n_read"],
        "delivered": row["n_delivered"] + row["n_read"], "read": row["n_read"],
        "failed": row["n_failed"], "skipped": row["n_skipped"], "unknown": row["n_unknown"],
        "replied": row["n_replied"], "rate": rate,
        "eta": round(pending / rate) if rate > 0 and pending else None,
        "pacing": _pacing(conn, row, now),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "started_at": row["started_at"], "finished_at": row["finished_at"],
    }


def get(conn: sqlite3.Connection, tenant_id: int, campaign_id: int) -> dict[str, Any]:
    """One campaign of the tenant, or NotFound (also for another tenant's)."""
    return campaign_object(conn, _row(conn, tenant_id, campaign_id))


def list_page(conn: sqlite3.Connection, tenant_id: int, *, cursor: str | None, limit: int
              ) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first."""
    where, params = "tenant_id = ?", [tenant_id]
    if cursor:
        (last,) = conversations.decode_cursor(cursor, 1)
        where += " AND id < ?"
        params.append(last)
    rows = conn.execute(f"SELECT * FROM campaigns WHERE {where} ORDER BY id DESC LIMIT ?",
                        (*params, limit + 1)).fetchall()
    nxt = conversations.encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    now = now_ms()
    return [campaign_object(conn, r, now) for r in rows[:limit]], nxt


def check_states(raw: str | None) -> tuple[str, ...]:
    """`state=sent,failed` of the recipients list."""
    if not raw:
        return ()
    states = tuple(dict.fromkeys(s.strip() for s in raw.split(",")))
    if not all(s in RECIPIENT_STATES for s in states):
        raise Invalid(f"state must be among {', '.join(RECIPIENT_STATES)}", code="invalid_field",
                      field="state")
    return states


def recipient_object(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    rid, phone, name, state, error, attempts, replied_at, updated_at = row
    return {"id": str(rid), "phone": phone, "name": name, "state": state, "error": error,
            "attempts": attempts, "replied": replied_at is not None, "updated_at": updated_at}


_RECIPIENT_COLUMNS = "id, phone, name, state, error, attempts, replied_at, updated_at"


def recipients_page(conn: sqlite3.Connection, tenant_id: int, campaign_id: int, *,
                    states: tuple[str, ...], cursor: str | None, limit: int
                    ) -> tuple[list[dict[str, Any]], str | None]:
    """In list order (id ascending), optionally only some states."""
    _row(conn, tenant_id, campaign_id)
    where, params = "campaign_id = ? AND tenant_id = ?", [campaign_id, tenant_id]
    if states:
        where += f" AND state IN ({','.join('?' * len(states))})"
        params += states
    if cursor:
        (last,) = conversations.decode_cursor(cursor, 1)
        where += " AND id > ?"
        params.append(last)
    rows = conn.execute(
        f"SELECT {_RECIPIENT_COLUMNS} FROM campaign_recipients WHERE {where} ORDER BY id LIMIT ?",
        (*params, limit + 1)).fetchall()
    nxt = conversations.encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return [recipient_object(r) for r in rows[:limit]], nxt


def export_rows(conn: sqlite3.Connection, tenant_id: int, campaign_id: int, after: int, limit: int
                ) -> list[tuple[Any, ...]]:
    """A slice of the recipients (id > after) for the CSV export."""
    return conn.execute(
        f"SELECT {_RECIPIENT_COLUMNS} FROM campaign_recipients"
        " WHERE campaign_id = ? AND tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
        (campaign_id, tenant_id, after, limit)).fetchall()


def name_of(conn: sqlite3.Connection, tenant_id: int, campaign_id: int) -> str:
    """The campaign's name (NotFound for another tenant's)."""
    return str(_row(conn, tenant_id, campaign_id)["name"])


def emit(tx: Tx, tenant_id: int, campaign_id: int) -> dict[str, Any]:
    """Append the campaign's progress event with its true counts now; clears `dirty`."""
    tx.execute("UPDATE campaigns SET dirty = 0 WHERE id = ? AND tenant_id = ?", (campaign_id, tenant_id))
    obj = campaign_object(tx.conn, _row(tx.conn, tenant_id, campaign_id))
    stream.append(tx, tenant_id, "bulk:progress", obj, key=campaign_id)
    return obj


def move(tx: Tx, tenant_id: int, campaign_id: int, action: str) -> tuple[dict[str, Any], str]:
    """Apply start/pause/resume/cancel; returns (campaign object, previous status).
    409 `invalid_state` when the campaign's status does not allow it."""
    row = _row(tx.conn, tenant_id, campaign_id)
    allowed, target = MOVES[action]
    if row["status"] not in allowed:
        raise Conflict(f"cannot {action} a {row['status']} campaign", code="invalid_state",
                       current=row["status"])
    now = now_ms()
    if action == "start" and row["status"] == "draft" and row["start_at"] and row["start_at"] > now:
        target = "scheduled"
    tx.execute(
        "UPDATE campaigns SET status = ?, pause_reason = ?, updated_at = ?,"
        " started_at = COALESCE(started_at, CASE WHEN ? = 'running' THEN ? END),"
        " finished_at = CASE WHEN ? = 'cancelled' THEN ? ELSE finished_at END"
        " WHERE id = ? AND tenant_id = ?",
        (target, "user" if target == "paused" else None, now, target, now, target, now,
         campaign_id, tenant_id),
    )
    return emit(tx, tenant_id, campaign_id), str(row["status"])


def running_count(conn: sqlite3.Connection, tenant_id: int) -> int:
    """Campaigns sending now (the dashboard's `bulk_active`)."""
    return int(conn.execute(
        "SELECT COUNT(*) FROM campaigns WHERE status = 'running' AND tenant_id = ?", (tenant_id,)
    ).fetchone()[0])
