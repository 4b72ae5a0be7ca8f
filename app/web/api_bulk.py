"""REST: bulk campaigns (PROTOCOL §2 `/bulk`), their recipients and the CSV export of results."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from app import keys
from app.realtime import stream
from app.services import bulk, conversations
from app.web.bodies import json_response, read_json

EXPORT_SLICE = 1000  # recipients read per query of the CSV export
CSV_COLUMNS = ("phone", "name", "state", "error", "attempts", "replied", "updated_at")


async def handle_create(request: web.Request) -> web.Response:
    """POST /api/v1/bulk: a draft campaign (201)."""
    p = request[keys.PRINCIPAL]
    data = await read_json(request)
    campaign = await request.app[keys.BULK].create(p.tenant_id, p.user_id, data)
    return json_response(campaign, status=201)


async def handle_list(request: web.Request) -> web.Response:
    """GET /api/v1/bulk?cursor&limit: newest first."""
    p = request[keys.PRINCIPAL]
    cursor = request.query.get("cursor") or None
    limit = conversations.parse_limit(request.query.get("limit"))

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        items, nxt = bulk.list_page(conn, p.tenant_id, cursor=cursor, limit=limit)
        return {"items": items, "next": nxt, "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def handle_get(request: web.Request) -> web.Response:
    """GET /api/v1/bulk/{id}: the campaign and the stream seq it was read at."""
    p = request[keys.PRINCIPAL]
    campaign_id = bulk.parse_id(request.match_info["id"])

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {**bulk.get(conn, p.tenant_id, campaign_id), "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


def _action(action: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        p = request[keys.PRINCIPAL]
        campaign_id = bulk.parse_id(request.match_info["id"])
        campaign = await request.app[keys.BULK].control(p.tenant_id, campaign_id, action)
        return json_response(campaign, status=202)
    handle.__doc__ = f"POST /api/v1/bulk/{{id}}/{action}: 202 with the campaign."
    return handle


async def handle_recipients(request: web.Request) -> web.Response:
    """GET /api/v1/bulk/{id}/recipients?state&cursor&limit: in list order."""
    p = request[keys.PRINCIPAL]
    campaign_id = bulk.parse_id(request.match_info["id"])
    states = bulk.check_states(request.query.get("state"))
    cursor = request.query.get("cursor") or None
    limit = conversations.parse_limit(request.query.get("limit"))

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        items, nxt = bulk.recipients_page(conn, p.tenant_id, campaign_id, states=states,
                                          cursor=cursor, limit=limit)
        return {"items": items, "next": nxt, "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(rows: list[tuple[Any, ...]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for _rid, phone, name, state, error, attempts, replied_at, updated_at in rows:
        stamp = datetime.fromtimestamp(updated_at / 1000, UTC).isoformat(timespec="seconds")
        writer.writerow([_cell(v) for v in (phone, name, state, error or "", attempts,
                                            "yes" if replied_at else "no", stamp)])
    return buf.getvalue().encode()


async def handle_export(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/bulk/{id}/export.csv: one row per recipient with its outcome (UTF-8, BOM so
    Excel reads the accents)."""
    p = request[keys.PRINCIPAL]
    db = request.app[keys.DB]
    campaign_id = bulk.parse_id(request.match_info["id"])
    # NotFound (another tenant's, or none) before a single byte of the answer is written.
    await db.read(lambda c: bulk.name_of(c, p.tenant_id, campaign_id))
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"',
        "Cache-Control": "private, no-store",
    })
    await resp.prepare(request)
    await resp.write("\ufeff".encode() + ",".join(CSV_COLUMNS).encode() + b"\r\n")
    after = 0
    while True:
        rows = await db.read(
            lambda c, a=after: bulk.export_rows(c, p.tenant_id, campaign_id, a, EXPORT_SLICE))
        if not rows:
            break
        await resp.write(_csv_rows(rows))
        after = rows[-1][0]
    await resp.write_eof()
    return resp


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    r = app.router
    r.add_post("/api/v1/bulk", handle_create, name="api_bulk_create")
    r.add_get("/api/v1/bulk", handle_list, name="api_bulk")
    r.add_get("/api/v1/bulk/{id}", handle_get, name="api_bulk_get")
    for action in bulk.MOVES:
        r.add_post(f"/api/v1/bulk/{{id}}/{action}", _action(action), name=f"api_bulk_{action}")
    r.add_get("/api/v1/bulk/{id}/recipients", handle_recipients, name="api_bulk_recipients")
    r.add_get("/api/v1/bulk/{id}/export.csv", handle_export, name="api_bulk_export")
