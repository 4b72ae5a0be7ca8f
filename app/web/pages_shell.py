"""Pages of the frame around the inbox: "coming soon" pages, settings, the password form."""

from __future__ import annotations

from aiohttp import web

from app import keys
from app.auth import users
from app.auth.session import set_session_cookie
from app.errors import Invalid
from app.i18n import pick_lang, t
from app.web import login as auth_login
from app.web.render import render_page


async def handle_bulk(request: web.Request) -> web.Response:
    """GET /bulk: an honest "coming soon" until bulk sends land."""
    return await render_page(request, "soon.html", "bulk", title_key="soon.title_bulk",
                             text_key="soon.bulk_text")


async def handle_bot(request: web.Request) -> web.Response:
    """GET /bot: an honest "coming soon" until the bot lands."""
    return await render_page(request, "soon.html", "bot", title_key="soon.title_bot",
                             text_key="soon.bot_text")


async def handle_settings(request: web.Request) -> web.Response:
    """GET /settings: own profile for everyone; team, WhatsApp and business for admins."""
    return await render_page(request, "settings.html", "settings")


async def handle_password_page(request: web.Request) -> web.Response:
    """GET /account/password: the form to change one's own password."""
    return await render_page(request, "password.html", "", error=None,
                             done=request.query.get("done") == "1")


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
        return await render_page(request, "password.html", "", status=400, error=error, done=False)
    # Every token of the user was revoked, this browser's too: open a fresh session.
    result = await auth_login.login(request.app, p.email, new, auth_login.client_ip(request))
    resp = web.HTTPSeeOther("/account/password?done=1")
    config = request.app[keys.CONFIG]
    set_session_cookie(resp, result.token, config.token_ttl, config.secure_cookies)
    raise resp


def setup_routes(app: web.Application) -> None:
    """Register these pages."""
    r = app.router
    r.add_get("/bulk", handle_bulk, name="bulk")
    r.add_get("/bot", handle_bot, name="bot")
    r.add_get("/settings", handle_settings, name="settings")
    r.add_get("/account/password", handle_password_page, name="password")
    r.add_post("/account/password", handle_password_submit, name="password_submit")
