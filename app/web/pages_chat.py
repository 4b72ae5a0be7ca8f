"""The chat page (`/chat`, `/chat/{conversation_id}`): the inbox shell; the list and the thread
load over REST from static/js/chat/main.js, everything user-supplied filled with textContent."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.i18n import pick_lang
from app.services import conversations, link
from app.web import chat_rows
from app.web.render import render_page

FIRST_PAGE = 50  # rows in the HTML: a tall screen's worth (13 rows at 72 px) with room to scroll


async def handle_chat(request: web.Request) -> web.Response:
    """GET /chat and /chat/{id}; an unknown or foreign id is the 404 page."""
    p = request[keys.PRINCIPAL]
    raw_id = request.match_info.get("conversation_id")
    conv_id = conversations.parse_id(raw_id) if raw_id is not None else None

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        if conv_id is not None:
            conversations.get_item(conn, p.tenant_id, conv_id)  # NotFound for another tenant's id
        # The first page of the list rides in the HTML, read at the page's seq: the list paints
        # without a round trip and the realtime client resumes exactly after it.
        items, nxt = conversations.list_conversations(conn, p.tenant_id, status="all", limit=FIRST_PAGE)
        return {"link": link.get_link(conn, p.tenant_id), "first_page": {"items": items, "next": nxt}}

    def read_and_draw(conn: sqlite3.Connection) -> dict[str, Any]:
        data = read(conn)
        data["ssr_rows"] = chat_rows.rows(data["first_page"]["items"], str(p.user_id), pick_lang(request))
        return data

    return await render_page(request, "chat.html", "chat", read_and_draw,
                             conversation_id=str(conv_id) if conv_id is not None else "")


def setup_routes(app: web.Application) -> None:
    """Register the chat pages."""
    app.router.add_get("/chat", handle_chat, name="chat")
    app.router.add_get("/chat/{conversation_id}", handle_chat, name="chat_conversation")
