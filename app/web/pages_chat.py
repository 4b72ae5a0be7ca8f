"""The chat page (`/chat`, `/chat/{conversation_id}`): the inbox shell; the list and the thread
load over REST from static/js/chat/main.js, everything user-supplied filled with textContent."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.services import conversations, link
from app.web.render import render_page


async def handle_chat(request: web.Request) -> web.Response:
    """GET /chat and /chat/{id}; an unknown or foreign id is the 404 page."""
    p = request[keys.PRINCIPAL]
    raw_id = request.match_info.get("conversation_id")
    conv_id = conversations.parse_id(raw_id) if raw_id is not None else None

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        if conv_id is not None:
            conversations.get_item(conn, p.tenant_id, conv_id)  # NotFound for another tenant's id
        return {"link": link.get_link(conn, p.tenant_id)}

    return await render_page(request, "chat.html", "chat", read,
                             conversation_id=str(conv_id) if conv_id is not None else "")


def setup_routes(app: web.Application) -> None:
    """Register the chat pages."""
    app.router.add_get("/chat", handle_chat, name="chat")
    app.router.add_get("/chat/{conversation_id}", handle_chat, name="chat_conversation")
