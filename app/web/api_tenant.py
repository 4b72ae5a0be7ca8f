"""REST: the business settings of the caller's tenant (name, default language, time zone, country)."""

from __future__ import annotations

from aiohttp import web

from app import keys
from app.services import tenants
from app.web.api_auth import require_admin
from app.web.bodies import json_response, read_json, string_field


async def handle_get(request: web.Request) -> web.Response:
    """GET /api/v1/tenant: any member may read them."""
    p = request[keys.PRINCIPAL]
    tenant = await request.app[keys.DB].read(lambda c: tenants.get_tenant(c, p.tenant_id))
    assert tenant is not None  # the principal's tenant exists (auth checked it)
    return json_response(tenant.public())


async def handle_patch(request: web.Request) -> web.Response:
    """PATCH /api/v1/tenant (admin): `name`, `default_lang`, `timezone`, `default_country`, each optional."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    data = await read_json(request)
    name = string_field(data, "name", max_len=100) if "name" in data else None
    default_lang = data.get("default_lang")
    timezone = data.get("timezone")
    country = data.get("default_country")
    tenant = await request.app[keys.DB].write(
        lambda tx: tenants.update_tenant(tx, p.tenant_id, name=name, default_lang=default_lang,
                                         timezone=timezone, default_country=country))
    request.app[keys.TENANTS].forget(p.tenant_id)
    return json_response(tenant.public())


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/api/v1/tenant", handle_get, name="api_tenant")
    app.router.add_patch("/api/v1/tenant", handle_patch, name="api_tenant_update")
