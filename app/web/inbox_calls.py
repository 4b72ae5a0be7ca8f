"""WebSocket calls that need the inbox: registered into the realtime dispatcher from above.

The dispatcher (app/realtime/calls.py) knows frames and connections, not conversations; calls
that check a conversation live here, in the layer that may import services.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app import keys
from app.errors import Invalid
from app.realtime import calls, const
from app.realtime.connection import Connection
from app.services import conversations


def _conversation_id(params: dict[str, Any]) -> int:
    raw = params.get("conversation_id")
    if not isinstance(raw, str):
        raise Invalid("conversation_id must be a string", code=const.ERR_INVALID_PARAMS)
    return conversations.parse_id(raw)


async def handle_typing(app: web.Application, conn: Connection, params: dict[str, Any]) -> Any:
    """Tell the tenant's other screens an agent is typing in a conversation."""
    state = params.get("state", "start")
    if state not in ("start", "stop"):
        raise Invalid("state must be start or stop", code=const.ERR_INVALID_PARAMS)
    conv_id = _conversation_id(params)
    tenant_id = conn.ident.tenant_id
    # Same answer for a foreign id as for a missing one.
    await app[keys.DB].read(lambda c: conversations.get_item(c, tenant_id, conv_id))
    app[keys.HUB].publish_ephemeral(
        tenant_id, "typing",
        {"conversation_id": str(conv_id), "state": state,
         "user": {"id": str(conn.ident.user_id), "name": conn.ident.name}},
        exclude=conn,
    )
    return {}


def setup_calls() -> None:
    """Add this module's calls to the WebSocket dispatcher."""
    calls.register("typing", handle_typing)
