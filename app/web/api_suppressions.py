"""REST: the tenant's suppression list (phones bulk campaigns skip) and its opt-out words."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.errors import Invalid, NotFound
from app.realtime import stream
from app.services import conversations, optout
from app.web.api_auth import require_admin
from app.web.bodies import json_response, read_json


async def handle_list(request: web.Request) -> web.Response:
    """GET /api/v1/suppressions?cursor&limit: newest first."""
    p = request[keys.PRINCIPAL]
    cursor = request.query.get("cursor") or None
    limit = conversations.parse_limit(request.query.get("limit"))

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        items, nxt = optout.list_page(conn, p.tenant_id, cursor=cursor, limit=limit)
        return {"items": items, "next": nxt, "total": optout.count(conn, p.tenant_id),
                "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def handle_add(request: web.Request) -> web.Response:
    """POST /api/v1/suppressions {"phone"}: 201 when added, 200 when it was there already."""
    p = request[keys.PRINCIPAL]
    raw = (await read_json(request)).get("phone")
    tenant = await request.app[keys.TENANTS].get(p.tenant_id)
    db = request.app[keys.DB]
    # A contact's phone as stored is taken as it is (a provider's id for a number that the
    # numbering plan does not know yet must still be suppressible); anything else is read as
    # people write numbers, with the business's default country.
    known = isinstance(raw, str) and await db.read(lambda c: optout.is_contact(c, p.tenant_id, raw))
    phone = raw if known else optout.check_phone(raw, tenant.default_country)
    item, added = await db.write(
        lambda tx: optout.add(tx, p.tenant_id, phone, "agent", p.user_id))
    return json_response(item, status=201 if added else 200)


async def handle_remove(request: web.Request) -> web.Response:
    """DELETE /api/v1/suppressions/{phone}: 204, or 404 when the phone is not on the list."""
    p = request[keys.PRINCIPAL]
    try:
        phone = optout.check_phone(request.match_info["phone"])
    except Invalid:  # no phone of that shape can be on the list
        raise NotFound("phone is not on the suppression list") from None
    await request.app[keys.DB].write(lambda tx: optout.remove(tx, p.tenant_id, phone))
    return web.Response(status=204)


async def handle_get_words(request: web.Request) -> web.Response:
    """GET /api/v1/optout: the stop words and the defaults."""
    p = request[keys.PRINCIPAL]
    words = await request.app[keys.DB].read(lambda c: optout.get_words(c, p.tenant_id))
    return json_response({"words": words, "default_words": list(optout.DEFAULT_WORDS)})


async def handle_put_words(request: web.Request) -> web.Response:
    """PUT /api/v1/optout {"words"} (admin)."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    raw = (await read_json(request)).get("words")
    words = await request.app[keys.DB].write(lambda tx: optout.set_words(tx, p.tenant_id, raw))
    return json_response({"words": words, "default_words": list(optout.DEFAULT_WORDS)})


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    r = app.router
    r.add_get("/api/v1/suppressions", handle_list, name="api_suppressions")
    r.add_post("/api/v1/suppressions", handle_add, name="api_suppressions_add")
    r.add_delete("/api/v1/suppressions/{phone}", handle_remove, name="api_suppressions_remove")
    r.add_get("/api/v1/optout", handle_get_words, name="api_optout")
    r.add_put("/api/v1/optout", handle_put_words, name="api_optout_update")
