"""REST: the bot's settings and status (PROTOCOL §2 `GET/PUT /bot`) and the "try a message" box."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.clock import now_ms
from app.db import Tx
from app.errors import Invalid
from app.realtime import stream
from app.services import bot, bot_config, bot_store
from app.services.bot_config import BotSettings
from app.services.bot_rules import Facts
from app.web.api_auth import require_admin
from app.web.bodies import json_response, read_json

MAX_TRY_TEXT = 4096  # a WhatsApp text message at most


def _public(conn: sqlite3.Connection, tenant_id: int, settings: BotSettings) -> dict[str, Any]:
    return {**settings.public(), "status": bot_store.status(conn, tenant_id),
            "seq": stream.head(conn, tenant_id)}


async def handle_get(request: web.Request) -> web.Response:
    """GET /api/v1/bot: settings, today's status and the stream seq they were read at."""
    p = request[keys.PRINCIPAL]
    return json_response(await request.app[keys.DB].read(
        lambda conn: _public(conn, p.tenant_id, bot_store.load_settings(conn, p.tenant_id))))


async def handle_put(request: web.Request) -> web.Response:
    """PUT /api/v1/bot (admin): any subset of the settings; 400 `invalid_bot_settings` lists
    every bad field and changes nothing. Emits bot_status_changed."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    data = await read_json(request)

    def write(tx: Tx) -> dict[str, Any]:
        settings = bot_config.parse(data, bot_store.load_settings(tx.conn, p.tenant_id))
        bot_store.save_settings(tx, p.tenant_id, settings)
        return _public(tx.conn, p.tenant_id, settings)

    answer = await request.app[keys.DB].write(write)
    request.app[keys.TENANTS].forget(p.tenant_id)  # the time zone lives on the tenant
    request.app[keys.BOT].forget(p.tenant_id)
    return json_response(answer)


async def handle_try(request: web.Request) -> web.Response:
    """POST /api/v1/bot/try `{"text", "settings"?, "new_contact"?, "menu"?}`: what the bot would
    answer now, with the saved settings or a draft of them (validated like a PUT, not saved)."""
    p = request[keys.PRINCIPAL]
    data = await read_json(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TRY_TEXT:
        raise Invalid("text must be a non-empty string", code="invalid_field", field="text")
    draft = data.get("settings")
    if draft is not None and not isinstance(draft, dict):
        raise Invalid("settings must be an object", code="invalid_field", field="settings")
    new_contact = data.get("new_contact", False)
    menu = data.get("menu")
    if not isinstance(new_contact, bool) or not (
            menu is None or (isinstance(menu, int) and not isinstance(menu, bool) and menu >= 0)):
        raise Invalid("new_contact must be a boolean, menu null or an index", code="invalid_field")
    settings, opt_out = await request.app[keys.DB].read(
        lambda c: (bot_store.load_settings(c, p.tenant_id), bot.is_opt_out(c, p.tenant_id, text)))
    if draft is not None:
        settings = bot_config.parse(draft, settings)
    now = now_ms()
    # A returning contact wrote a minute ago: no "first after N days" welcome.
    facts = Facts(previous_inbound_at=None if new_contact else now - 60_000, menu=menu)
    answer = bot.evaluate(settings, facts, text, now, opt_out=opt_out)
    return json_response({"rule": answer.rule, "reply": answer.reply, "parts": list(answer.parts),
                          "keyword": answer.keyword, "menu": answer.menu,
                          "handoff": answer.handoff})


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/api/v1/bot", handle_get, name="api_bot")
    app.router.add_put("/api/v1/bot", handle_put, name="api_bot_update")
    app.router.add_post("/api/v1/bot/try", handle_try, name="api_bot_try")
