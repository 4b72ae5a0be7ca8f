"""REST: conversations, messages, replies, read marks, stats. Lists report the stream seq."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.errors import Conflict, Invalid
from app.realtime import stream
from app.services import conversations, messages, stats
from app.web.bodies import json_response, read_json
from app.whatsapp.base import CLOUD
from app.whatsapp.cloud_templates import Template, TemplateSend, check_template_send

MAX_IDEMPOTENCY_KEY = 200


async def handle_list_conversations(request: web.Request) -> web.Response:
    """GET /api/v1/conversations?q&status&unread&cursor&limit."""
    p = request[keys.PRINCIPAL]
    q = request.query.get("q", "")[:200]
    status = request.query.get("status", "open")
    cursor = request.query.get("cursor") or None
    limit = conversations.parse_limit(request.query.get("limit"))
    unread = request.query.get("unread", "") in ("1", "true")
    if q.strip():
        await request.app[keys.SEARCH].catch_up()  # results never miss a committed message

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        items, nxt = conversations.list_conversations(
            conn, p.tenant_id, q=q, status=status, cursor=cursor, limit=limit, unread=unread
        )
        # Same read transaction: a client resuming from this seq misses nothing.
        return {"items": items, "next": nxt, "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def handle_list_messages(request: web.Request) -> web.Response:
    """GET /api/v1/conversations/{id}/messages?before&limit."""
    p = request[keys.PRINCIPAL]
    conv_id = conversations.parse_id(request.match_info["id"])
    before = request.query.get("before") or None
    limit = conversations.parse_limit(request.query.get("limit"))

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        items, nxt = conversations.list_messages(conn, p.tenant_id, conv_id, before=before, limit=limit)
        return {"items": items, "next": nxt, "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def handle_get_conversation(request: web.Request) -> web.Response:
    """GET /api/v1/conversations/{id}: one list item."""
    p = request[keys.PRINCIPAL]
    conv_id = conversations.parse_id(request.match_info["id"])

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        item = conversations.get_item(conn, p.tenant_id, conv_id)
        return {**item, "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def template_to_send(request: web.Request, tenant_id: int,
                           raw: Any) -> tuple[TemplateSend, Template]:
    """The `template` field checked against the tenant's approved templates."""
    send = check_template_send(raw)
    tenant = await request.app[keys.TENANTS].get(tenant_id)
    if tenant.provider != CLOUD:
        raise Conflict("templates need the WhatsApp Cloud API", code="templates_unavailable")
    approved = await request.app[keys.CLOUD].templates.get(tenant_id)
    found = next((t for t in approved if (t.name, t.language) == (send.name, send.language)), None)
    if found is None:
        raise Invalid("no approved template with that name and language",
                      code="unknown_template", field="template")
    if len(send.params) != found.params:
        raise Invalid(f"the template takes {found.params} parameters", code="template_params",
                      field="template")
    return send, found


def _reply_to(raw: Any) -> int | None:
    """The optional `reply_to` message id (an opaque id string, as the API gives them)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Invalid("reply_to must be a message id", code="invalid_reply_to", field="reply_to")
    return int(raw)


async def handle_send(request: web.Request) -> web.Response:
    """POST /api/v1/conversations/{id}/messages: queued through the outbox."""
    p = request[keys.PRINCIPAL]
    conv_id = conversations.parse_id(request.match_info["id"])
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise Invalid("Idempotency-Key must be 1..200 characters", code="invalid_idempotency_key")
    data = await read_json(request)
    reply_to = _reply_to(data.get("reply_to"))
    template: dict[str, Any] | None = None
    if data.get("template") is not None:
        # Outside the 24-hour window: an approved template, its text rendered for the thread.
        send, found = await template_to_send(request, p.tenant_id, data["template"])
        template, body = send.stored(), messages.check_body(found.render(list(send.params)))
    else:
        body = messages.check_body(data.get("body"))
    message, created = await request.app[keys.INBOX].send_reply(
        p.tenant_id, p.user_id, conv_id, body, key, reply_to=reply_to, template=template
    )
    resp = json_response(message, status=201)
    if not created:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


async def handle_read(request: web.Request) -> web.Response:
    """POST /api/v1/conversations/{id}/read."""
    p = request[keys.PRINCIPAL]
    conv_id = conversations.parse_id(request.match_info["id"])
    await request.app[keys.INBOX].mark_read(p.tenant_id, conv_id)
    return web.Response(status=204)


async def handle_stats(request: web.Request) -> web.Response:
    """GET /api/v1/stats."""
    p = request[keys.PRINCIPAL]

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {**stats.compute(conn, p.tenant_id), "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


async def handle_stats_hourly(request: web.Request) -> web.Response:
    """GET /api/v1/stats/hourly: today's messages in/out per hour, for the dashboard's chart."""
    p = request[keys.PRINCIPAL]

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {**stats.hourly(conn, p.tenant_id), "seq": stream.head(conn, p.tenant_id)}

    return json_response(await request.app[keys.DB].read(read))


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    r = app.router
    r.add_get("/api/v1/conversations", handle_list_conversations, name="api_conversations")
    r.add_get("/api/v1/conversations/{id}", handle_get_conversation, name="api_conversation")
    r.add_get("/api/v1/conversations/{id}/messages", handle_list_messages, name="api_messages")
    r.add_post("/api/v1/conversations/{id}/messages", handle_send, name="api_send")
    r.add_post("/api/v1/conversations/{id}/read", handle_read, name="api_read")
    r.add_get("/api/v1/stats", handle_stats, name="api_stats")
    r.add_get("/api/v1/stats/hourly", handle_stats_hourly, name="api_stats_hourly")
