"""Pages of bulk sends: the campaign list, the new-campaign form, one campaign, the do-not-send list.

The pages are frames: their data comes over REST (/api/v1/bulk..., /bulk/preview, /suppressions)
and stays live through bulk_message_progress, so a page never shows figures older than its socket.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from app import keys
from app.services import bulk, tenants
from app.web.render import Reader, render_page


def _read_tenant(tenant_id: int) -> Reader:
    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        tenant = tenants.get_tenant(conn, tenant_id)
        assert tenant is not None  # the principal's tenant exists (auth checked it)
        return {"country": tenant.default_country, "provider": tenant.provider}
    return read


async def handle_list(request: web.Request) -> web.Response:
    """GET /bulk: the campaigns, newest first, with live status."""
    return await render_page(request, "bulk.html", "bulk")


async def handle_new(request: web.Request) -> web.Response:
    """GET /bulk/new: name, message, recipients, preview, start time, pacing."""
    p = request[keys.PRINCIPAL]
    return await render_page(request, "bulk_new.html", "bulk", _read_tenant(p.tenant_id))


async def handle_campaign(request: web.Request) -> web.Response:
    """GET /bulk/{id}: live progress of one campaign; an unknown or foreign id is the 404 page."""
    p = request[keys.PRINCIPAL]
    campaign_id = bulk.parse_id(request.match_info["id"])
    tenant = _read_tenant(p.tenant_id)

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        bulk.get(conn, p.tenant_id, campaign_id)  # NotFound for another tenant's campaign
        return tenant(conn)

    return await render_page(request, "bulk_campaign.html", "bulk", read, campaign_id=str(campaign_id))


async def handle_suppressions(request: web.Request) -> web.Response:
    """GET /bulk/suppressions: the do-not-send list and the stop words."""
    p = request[keys.PRINCIPAL]
    return await render_page(request, "bulk_suppressions.html", "bulk", _read_tenant(p.tenant_id))


def setup_routes(app: web.Application) -> None:
    """Register these pages (the fixed paths before /bulk/{id})."""
    r = app.router
    r.add_get("/bulk", handle_list, name="bulk")
    r.add_get("/bulk/new", handle_new, name="bulk_new")
    r.add_get("/bulk/suppressions", handle_suppressions, name="bulk_suppressions")
    r.add_get("/bulk/{id}", handle_campaign, name="bulk_campaign")
