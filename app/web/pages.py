"""HTML pages (Jinja2): login, logout, the dashboard."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from app import keys
from app.auth import users
from app.auth.middleware import public, same_origin
from app.auth.session import clear_session_cookie, set_session_cookie
from app.errors import Forbidden, RateLimited
from app.i18n import LANG_COOKIE, LANGS, pick_lang, set_lang_cookie, t
from app.services import bot_store, link, stats, tenants
from app.web import login as auth_login
from app.web.client_addr import client_address
from app.web.render import render_page


def _safe_next(raw: str | None) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or urlsplit(raw).netloc:
        return "/"
    return raw


@public
async def handle_login_page(request: web.Request) -> web.Response:
    """GET /login."""
    lang = pick_lang(request)
    resp = aiohttp_jinja2.render_template(
        "login.html", request, {"lang": lang, "next": _safe_next(request.query.get("next")),
                                "error": None, "email": ""},
    )
    if request.query.get("lang") in LANGS:
        set_lang_cookie(resp, lang)
    return resp


@public
async def handle_login_submit(request: web.Request) -> web.Response:
    """POST /login: the form; sets the session cookie and goes on."""
    if not same_origin(request, required=False):
        # Login CSRF: another site must not sign the browser into the attacker's account.
        raise Forbidden("cross-site login refused", code="csrf_failed")
    form = await request.post()
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:256]
    nxt = _safe_next(str(form.get("next", "/")))
    lang = pick_lang(request)
    try:
        result = await auth_login.login(request.app, email, password, client_address(request))
    except RateLimited as exc:
        error = t("login.rate_limited", lang, seconds=exc.extra.get("retry_after", 60))
        return aiohttp_jinja2.render_template(
            "login.html", request, {"lang": lang, "next": nxt, "error": error, "email": email},
            status=429,
        )
    except auth_login.InvalidCredentials:
        return aiohttp_jinja2.render_template(
            "login.html", request,
            {"lang": lang, "next": nxt, "error": t("login.invalid_credentials", lang), "email": email},
            status=401,
        )
    # A one-time password leads straight to choosing one's own (nothing else is allowed yet).
    resp = web.HTTPSeeOther("/account/password" if result.user.must_change_password else nxt)
    config = request.app[keys.CONFIG]
    set_session_cookie(resp, result.token, config.token_ttl, config.secure_cookies)
    # The language: the user's own choice, else one picked on the login page, else the business's.
    chosen = request.cookies.get(LANG_COOKIE)
    tenant = await request.app[keys.TENANTS].get(result.user.tenant_id)
    set_lang_cookie(resp, result.user.lang or (chosen if chosen in LANGS else tenant.default_lang))
    raise resp


async def handle_logout_submit(request: web.Request) -> web.Response:
    """POST /logout: revoke this session and forget the cookie."""
    await auth_login.logout(request.app, request[keys.PRINCIPAL])
    resp = web.HTTPSeeOther("/login")
    clear_session_cookie(resp)
    raise resp


async def handle_dashboard(request: web.Request) -> web.Response:
    """GET /: figures, WhatsApp link, first-run checklist and today's activity, read at one
    stream position."""
    p = request[keys.PRINCIPAL]

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        figures = stats.compute(conn, p.tenant_id)
        wa = link.get_link(conn, p.tenant_id)
        tenant = tenants.get_tenant(conn, p.tenant_id)
        checklist = {
            # A phone is kept after a disconnect: a number that was ever linked counts.
            "whatsapp": wa["state"] == "connected" or bool(wa["phone"]),
            "first_message": figures["contacts"] > 0,
            "teammate": users.count_active_users(conn, p.tenant_id) > 1,
        }
        return {"stats": figures, "link": wa, "checklist": checklist,
                "hourly": stats.hourly(conn, p.tenant_id),
                "business": tenant.name if tenant else "",
                "bot": bot_store.status(conn, p.tenant_id)}

    return await render_page(request, "dashboard.html", "dashboard", read)


def setup_routes(app: web.Application) -> None:
    """Register the pages."""
    r = app.router
    r.add_get("/login", handle_login_page, name="login")
    r.add_post("/login", handle_login_submit, name="login_submit")
    r.add_post("/logout", handle_logout_submit, name="logout")
    r.add_get("/", handle_dashboard, name="dashboard")
