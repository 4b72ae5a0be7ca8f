"""Pages of the frame around the inbox: "coming soon" pages, settings, the password form."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from aiohttp import web

from app import keys
from app.auth import users
from app.auth.middleware import public
from app.auth.session import set_session_cookie
from app.errors import Forbidden, Invalid
from app.i18n import pick_lang, t
from app.services import bot_store, link, phones, tenants
from app.web import login as auth_login
from app.web.client_addr import client_address
from app.web.render import render_page
from app.whatsapp.base import WEB_INSTALLED

FAVICON = (Path(__file__).resolve().parents[2] / "static" / "favicon.svg").read_bytes()


@public
async def handle_favicon(request: web.Request) -> web.Response:
    """GET /favicon.svg from memory: every page asks for it, and a file response cut short by a
    closing tab leaves its file open until garbage collection (a ResourceWarning in tests)."""
    return web.Response(body=FAVICON, content_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


async def handle_bot(request: web.Request) -> web.Response:
    """GET /bot: the bot's switch, figures and rules, with the "try a message" box."""
    p = request[keys.PRINCIPAL]

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {"settings": bot_store.load_settings(conn, p.tenant_id).public(),
                "bot": bot_store.status(conn, p.tenant_id)}

    return await render_page(request, "bot.html", "bot", read)


async def handle_settings(request: web.Request) -> web.Response:
    """GET /settings: own profile for everyone; team, business and WhatsApp for admins."""
    return await _settings(request, admin_only=False)


async def handle_settings_team(request: web.Request) -> web.Response:
    """GET /settings/team: the team alone (admins; an agent gets the 403 page)."""
    return await _settings(request, admin_only=True)


async def _settings(request: web.Request, *, admin_only: bool) -> web.Response:
    p = request[keys.PRINCIPAL]
    admin = p.role == "admin"
    if admin_only and not admin:
        raise Forbidden("admin role required")

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        tenant = tenants.get_tenant(conn, p.tenant_id)
        assert tenant is not None
        data: dict[str, Any] = {"tenant": tenant.public(), "me": None, "team": [], "link": None}
        # the short list to pick from, plus a country set over the API that is not on it
        data["countries"] = list(dict.fromkeys((*phones.COUNTRIES, tenant.default_country)))
        me = users.get_user(conn, p.tenant_id, p.user_id)
        data["me"] = me.public() if me else None
        if admin:
            data["team"] = [u.public() for u in users.list_users(conn, p.tenant_id)]
            data["link"] = link.get_link(conn, p.tenant_id)
        return data

    return await render_page(request, "settings.html", "settings", read, admin=admin,
                             team_only=admin_only, web_installed=WEB_INSTALLED)


async def handle_password_page(request: web.Request) -> web.Response:
    """GET /account/password: the form to change one's own password."""
    p = request[keys.PRINCIPAL]
    return await render_page(request, "password.html", "", error=None,
                             done=request.query.get("done") == "1",
                             must_change=p.must_change_password, bare=p.must_change_password)


async def handle_password_submit(request: web.Request) -> web.Response:
    """POST /account/password: change it, then sign this browser in again with the new one."""
    p = request[keys.PRINCIPAL]
    lang = pick_lang(request)
    form = await request.post()
    current = str(form.get("current_password", ""))[: users.MAX_PASSWORD + 1]
    new = str(form.get("new_password", ""))[: users.MAX_PASSWORD + 1]
    confirm = str(form.get("confirm_password", ""))[: users.MAX_PASSWORD + 1]
    error = None
    if new != confirm:
        error = t("password.mismatch", lang)
    else:
        try:
            await auth_login.change_password(request.app, p, current, new)
        except auth_login.InvalidCredentials:
            error = t("password.wrong_current", lang)
        except Invalid:
            error = t("password.weak", lang, n=users.MIN_PASSWORD)
    if error is not None:
        return await render_page(request, "password.html", "", status=400, error=error, done=False,
                                 must_change=p.must_change_password, bare=p.must_change_password)
    # Every token of the user was revoked, this browser's too: open a fresh session.
    result = await auth_login.login(request.app, p.email, new, client_address(request))
    resp = web.HTTPSeeOther("/account/password?done=1")
    config = request.app[keys.CONFIG]
    set_session_cookie(resp, result.token, config.token_ttl, config.secure_cookies)
    raise resp


def setup_routes(app: web.Application) -> None:
    """Register these pages."""
    r = app.router
    r.add_get("/favicon.svg", handle_favicon, name="favicon")
    r.add_get("/bot", handle_bot, name="bot")
    r.add_get("/settings", handle_settings, name="settings")
    r.add_get("/settings/team", handle_settings_team, name="settings_team")
    r.add_get("/account/password", handle_password_page, name="password")
    r.add_post("/account/password", handle_password_submit, name="password_submit")
