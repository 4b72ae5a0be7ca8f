"""What every signed-in page shares: the top bar's data and the stream position it was read at.

Pages call `render_page`; it reads the unread count for the "Chats" tab together with the stream
head and epoch in one transaction, so the realtime client starts exactly where the page's data
ends (no event is missed or applied twice between the HTML and the socket).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from app import keys
from app.i18n import pick_lang
from app.realtime import stream
from app.services import stats

# The top bar, in order: (nav id, path, translation key of its label).
NAV_ITEMS = (
    ("dashboard", "/", "nav.dashboard"),
    ("chat", "/chat", "nav.chat"),
    ("bulk", "/bulk", "nav.bulk"),
    ("bot", "/bot", "nav.bot"),
    ("settings", "/settings", "nav.settings"),
)

Reader = Callable[[sqlite3.Connection], dict[str, Any]]


async def render_page(
    request: web.Request, template: str, active: str, read: Reader | None = None,
    *, status: int = 200, **ctx: Any,
) -> web.Response:
    """Render a signed-in page with the top bar; `read` adds the page's own data to the same read."""
    p = request[keys.PRINCIPAL]

    def read_all(conn: sqlite3.Connection) -> dict[str, Any]:
        data = {"nav_unread": stats.unread_total(conn, p.tenant_id),
                "seq": stream.head(conn, p.tenant_id),
                "epoch": stream.read_state(conn, p.tenant_id).epoch}
        if read is not None:
            data.update(read(conn))
        return data

    data = await request.app[keys.DB].read(read_all)
    context = {**data, **ctx, "lang": pick_lang(request), "user": p.user_object(),
               "nav_items": NAV_ITEMS, "nav_active": active}
    return aiohttp_jinja2.render_template(template, request, context, status=status)
