"""The chat page (`/chat`, `/chat/{conversation_id}`). A placeholder until the chat UI lands."""

from __future__ import annotations

from aiohttp import web

from app.web.render import render_page


async def handle_chat(request: web.Request) -> web.Response:
    """GET /chat and /chat/{id}."""
    return await render_page(request, "chat.html", "chat")


def setup_routes(app: web.Application) -> None:
    """Register the chat pages."""
    app.router.add_get("/chat", handle_chat, name="chat")
    app.router.add_get("/chat/{conversation_id}", handle_chat, name="chat_conversation")
