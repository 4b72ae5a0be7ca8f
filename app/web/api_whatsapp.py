"""REST: the WhatsApp link (state, connect, logout), the sandbox inbound injector, and the
sandbox pairing page the phone opens from the QR code."""

from __future__ import annotations

import re
import secrets
import sqlite3
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from app import keys
from app.auth.middleware import public
from app.db import Tx
from app.errors import Conflict, Invalid
from app.i18n import pick_lang
from app.services import link, messages, tenants, whatsapp_config
from app.web.api_auth import require_admin
from app.web.api_media import sandbox_media
from app.web.bodies import json_response, read_json, string_field
from app.whatsapp.base import CLOUD, SANDBOX, WEB

PHONE_RE = re.compile(r"^\d{5,20}$")


def public_base(request: web.Request) -> str:
    """The base URL a phone uses to reach this server (configured, else as the caller sees it)."""
    configured = request.app[keys.CONFIG].public_url
    return configured or f"{request.scheme}://{request.host}"


def normalise_phone(raw: str) -> str:
    """E.164 digits without '+', spaces or dashes."""
    digits = re.sub(r"[\s+\-().]", "", raw)
    if not PHONE_RE.match(digits):
        raise Invalid("from must be a phone number (5 to 20 digits)", code="invalid_phone")
    return digits


async def handle_get(request: web.Request) -> web.Response:
    """GET /api/v1/whatsapp."""
    p = request[keys.PRINCIPAL]
    state: dict[str, Any] = await request.app[keys.DB].read(lambda c: link.get_link(c, p.tenant_id))
    provider = await request.app[keys.PROVIDERS].for_tenant(p.tenant_id)
    qr = provider.current_qr(p.tenant_id) if state["state"] == "qr_pending" else None
    state["qr"] = qr.public() if qr else None
    return json_response(state)


async def handle_connect(request: web.Request) -> web.Response:
    """POST /api/v1/whatsapp/connect: progress arrives as events."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    provider = await request.app[keys.PROVIDERS].for_tenant(p.tenant_id)
    await provider.connect(p.tenant_id, public_base(request))
    state = await request.app[keys.DB].read(lambda c: link.get_link(c, p.tenant_id))
    return json_response(state, status=202)


async def handle_logout(request: web.Request) -> web.Response:
    """POST /api/v1/whatsapp/logout."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    provider = await request.app[keys.PROVIDERS].for_tenant(p.tenant_id)
    await provider.logout(p.tenant_id)
    state = await request.app[keys.DB].read(lambda c: link.get_link(c, p.tenant_id))
    return json_response(state, status=202)


async def handle_sandbox_inbound(request: web.Request) -> web.Response:
    """POST /api/v1/sandbox/inbound: the sandbox phone messages the caller's tenant."""
    p = request[keys.PRINCIPAL]
    tenant = await request.app[keys.TENANTS].get(p.tenant_id)
    if tenant.provider != SANDBOX:
        raise Conflict("this tenant does not use the sandbox provider", code="not_sandbox")
    data = await read_json(request)
    phone = normalise_phone(string_field(data, "from", max_len=40))
    file = sandbox_media(data.get("media"))  # a photo, voice note... (the caption is optional)
    body = (messages.check_body(data.get("body")) if not file or data.get("body")
            else "")  # the one body check, as for replies
    name = string_field(data, "name", required=False, max_len=100)
    wa_id = data.get("id")
    if wa_id is not None and (not isinstance(wa_id, str) or not 1 <= len(wa_id) <= 128):
        raise Invalid("id must be a string of 1..128 characters", code="invalid_field", field="id")
    result = await request.app[keys.SANDBOX].inject(
        p.tenant_id, phone=phone, name=name.strip(), body=body, wa_id=wa_id, media=file
    )
    return json_response({"message_id": result.message_id,
                          "conversation_id": result.conversation_id,
                          "duplicate": result.duplicate}, status=202)


async def handle_get_config(request: web.Request) -> web.Response:
    """GET /api/v1/whatsapp/config (admin): secrets masked, plus the webhook URL for Meta."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    tenant = await request.app[keys.TENANTS].get(p.tenant_id)
    allow = request.app[keys.CONFIG].allow_custom_api_base
    cloud = await request.app[keys.DB].read(
        lambda c: whatsapp_config.get_cloud(c, p.tenant_id, allow_custom_base=allow)
    )
    url = f"{public_base(request)}/webhooks/whatsapp/{tenant.code}"
    return json_response(whatsapp_config.public_config(tenant.provider, cloud, url))


async def handle_put_config(request: web.Request) -> web.Response:
    """PUT /api/v1/whatsapp/config (admin): choose the provider; Cloud API credentials."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    data = await read_json(request)
    allow = request.app[keys.CONFIG].allow_custom_api_base

    def write(tx: Tx) -> tuple[str, str]:
        tenant = tenants.get_tenant(tx.conn, p.tenant_id)
        before = tenant.provider if tenant else ""
        after = whatsapp_config.save(tx, p.tenant_id, data, allow_custom_base=allow)
        if after != before:  # the old provider's link says nothing about the new one
            link.set_state(tx, p.tenant_id, "stopped", reason="provider_changed")
        return before, after

    before, after = await request.app[keys.DB].write(write)
    request.app[keys.TENANTS].forget(p.tenant_id)
    request.app[keys.CLOUD].forget(p.tenant_id)
    if before == WEB and after != WEB and keys.WEB in request.app:
        await request.app[keys.WEB].release(p.tenant_id)   # its number must not keep sending here
    return await handle_get_config(request)


async def handle_templates(request: web.Request) -> web.Response:
    """GET /api/v1/whatsapp/templates: the tenant's approved templates (any role: the composer
    offers them when the 24-hour window is closed)."""
    p = request[keys.PRINCIPAL]
    tenant = await request.app[keys.TENANTS].get(p.tenant_id)
    if tenant.provider != CLOUD:
        raise Conflict("templates need the WhatsApp Cloud API", code="templates_unavailable")
    templates = await request.app[keys.CLOUD].templates.get(p.tenant_id)
    return json_response({"items": [t.public() for t in templates]})


def _tenant_name(conn: sqlite3.Connection, tenant_id: int) -> str:
    row = conn.execute("SELECT name FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    return row[0] if row else ""


@public
async def handle_pair_page(request: web.Request) -> web.Response:
    """GET /sandbox/pair/{token}: what the phone shows after scanning the QR."""
    sandbox = request.app[keys.SANDBOX]
    token = request.match_info["token"]
    tenant_id = sandbox.pairing_tenant(token)
    lang = pick_lang(request)
    if tenant_id is None:
        return aiohttp_jinja2.render_template("pair.html", request, {"lang": lang, "state": "expired"},
                                              status=410)
    name = await request.app[keys.DB].read(lambda c: _tenant_name(c, tenant_id))
    phone = "569" + "".join(secrets.choice("0123456789") for _ in range(8))
    return aiohttp_jinja2.render_template(
        "pair.html", request,
        {"lang": lang, "state": "confirm", "tenant": name, "token": token, "phone": phone},
    )


@public
async def handle_pair_confirm(request: web.Request) -> web.Response:
    """POST /sandbox/pair/{token}: the phone confirms; the tenant is connected."""
    sandbox = request.app[keys.SANDBOX]
    token = request.match_info["token"]
    lang = pick_lang(request)
    if sandbox.pairing_tenant(token) is None:  # an expired code says so before anything else
        return aiohttp_jinja2.render_template("pair.html", request, {"lang": lang, "state": "expired"},
                                              status=410)
    form = await request.post()
    raw_phone = form.get("phone")
    phone = normalise_phone(raw_phone if isinstance(raw_phone, str) else "")
    tenant_id = await sandbox.confirm(token, phone)
    state = "done" if tenant_id is not None else "expired"
    return aiohttp_jinja2.render_template("pair.html", request, {"lang": lang, "state": state},
                                          status=200 if tenant_id is not None else 410)


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    r = app.router
    r.add_get("/api/v1/whatsapp", handle_get, name="api_whatsapp")
    r.add_post("/api/v1/whatsapp/connect", handle_connect, name="api_whatsapp_connect")
    r.add_post("/api/v1/whatsapp/logout", handle_logout, name="api_whatsapp_logout")
    r.add_get("/api/v1/whatsapp/config", handle_get_config, name="api_whatsapp_config")
    r.add_put("/api/v1/whatsapp/config", handle_put_config, name="api_whatsapp_config_put")
    r.add_get("/api/v1/whatsapp/templates", handle_templates, name="api_whatsapp_templates")
    r.add_post("/api/v1/sandbox/inbound", handle_sandbox_inbound, name="api_sandbox_inbound")
    r.add_get("/sandbox/pair/{token}", handle_pair_page, name="pair_page")
    r.add_post("/sandbox/pair/{token}", handle_pair_confirm, name="pair_confirm")
