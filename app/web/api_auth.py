"""REST: login, logout, the current user, password change, and users of the tenant (admin)."""

from __future__ import annotations

from aiohttp import web

from app import keys
from app.auth import users
from app.auth.middleware import public
from app.auth.principal import Principal
from app.auth.session import clear_session_cookie
from app.errors import Forbidden, Invalid
from app.i18n import set_lang_cookie
from app.realtime import const
from app.services import conversations
from app.web import login as auth_login
from app.web.bodies import json_response, read_json, string_field
from app.web.client_addr import client_address


def require_admin(principal: Principal) -> None:
    """Admin-only routes."""
    if principal.role != "admin":
        raise Forbidden("admin role required")


@public
async def handle_login(request: web.Request) -> web.Response:
    """POST /api/v1/auth/login."""
    data = await read_json(request)
    email = string_field(data, "email", max_len=254)
    password = string_field(data, "password", max_len=users.MAX_PASSWORD)
    result = await auth_login.login(request.app, email, password, client_address(request))
    return json_response({"token": result.token, "expires_at": result.expires_at,
                          "user": result.user.public()})


async def handle_logout(request: web.Request) -> web.Response:
    """POST /api/v1/auth/logout: this token and its sockets stop working."""
    await auth_login.logout(request.app, request[keys.PRINCIPAL])
    resp = web.Response(status=204)
    clear_session_cookie(resp)
    return resp


async def handle_me(request: web.Request) -> web.Response:
    """GET /api/v1/me."""
    return json_response(request[keys.PRINCIPAL].user_object())


async def handle_change_password(request: web.Request) -> web.Response:
    """POST /api/v1/me/password: every token of the user is revoked; log in again."""
    p = request[keys.PRINCIPAL]
    data = await read_json(request)
    current = string_field(data, "current_password", max_len=users.MAX_PASSWORD)
    new = string_field(data, "new_password", max_len=users.MAX_PASSWORD)
    try:
        await auth_login.change_password(request.app, p, current, new)
    except auth_login.InvalidCredentials:
        # 400, not 401: the caller is signed in; only the field is wrong.
        raise Invalid("current password is wrong", code="invalid_credentials") from None
    return web.Response(status=204)


async def handle_list_users(request: web.Request) -> web.Response:
    """GET /api/v1/users (admin)."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    items = await request.app[keys.DB].read(lambda c: users.list_users(c, p.tenant_id))
    return json_response({"items": [u.public() for u in items], "next": None})


async def handle_create_user(request: web.Request) -> web.Response:
    """POST /api/v1/users (admin)."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    data = await read_json(request)
    email = users.check_email(string_field(data, "email", max_len=254))
    role = users.check_role(data.get("role", "agent"))
    name = string_field(data, "name", required=False, max_len=100)
    # Without a password the server makes a one-time one, answered once; the new user must
    # choose their own at first sign-in (nobody else then knows it).
    generated = "password" not in data
    password = users.one_time_password() if generated else users.check_password(
        string_field(data, "password", max_len=users.MAX_PASSWORD))
    password_hash = await request.app[keys.HASHER].hash(password)
    user = await request.app[keys.DB].write(
        lambda tx: users.create_user(tx, p.tenant_id, email, name, role, password_hash,
                                     must_change_password=generated)
    )
    body = user.public()
    if generated:
        body["one_time_password"] = password
    return json_response(body, status=201)


async def handle_reset_password(request: web.Request) -> web.Response:
    """POST /api/v1/users/{id}/password-reset (admin): a new one-time password, answered once;
    the user's sessions end and they must choose a password at next sign-in."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    user_id = conversations.parse_id(request.match_info["id"])
    if user_id == p.user_id:
        raise Invalid("change your own password with POST /api/v1/me/password",
                      code="cannot_reset_self")
    password = users.one_time_password()
    password_hash = await request.app[keys.HASHER].hash(password)
    user = await request.app[keys.DB].write(
        lambda tx: users.update_user(tx, p.tenant_id, user_id, password_hash=password_hash,
                                     must_change_password=True)
    )
    auth_login.revoke_user(request.app, user_id, "password reset")
    return json_response({**user.public(), "one_time_password": password})


async def handle_update_me(request: web.Request) -> web.Response:
    """PATCH /api/v1/me: one's own name and interface language ("" = the business default)."""
    p = request[keys.PRINCIPAL]
    data = await read_json(request)
    name = string_field(data, "name", max_len=100) if "name" in data else None
    lang = users.check_lang(data["lang"]) if "lang" in data else None
    before = await request.app[keys.DB].read(lambda c: users.get_user(c, p.tenant_id, p.user_id))
    user = await request.app[keys.DB].write(
        lambda tx: users.update_user(tx, p.tenant_id, p.user_id, name=name, lang=lang))
    _after_change(request.app, before, user)
    resp = json_response(user.public())
    if lang is not None:
        tenant = await request.app[keys.TENANTS].get(p.tenant_id)
        set_lang_cookie(resp, lang or tenant.default_lang)
    return resp


def _after_change(app: web.Application, before: users.User | None, user: users.User) -> None:
    """Tokens revoked: close their sockets; only the name changed: ask sockets to reconnect."""
    app[keys.AUTH].forget_user(user.id)
    if before is not None and user.token_version != before.token_version:
        auth_login.revoke_user(app, user.id, "access changed")
    elif before is not None and user.name != before.name:
        # Their sockets carry the old name (typing indicators show it): ask them to reconnect.
        app[keys.HUB].close_where(lambda c: c.ident.user_id == user.id,
                                  const.CLOSE_RECONNECT, "profile changed")


async def handle_update_user(request: web.Request) -> web.Response:
    """PATCH /api/v1/users/{id} (admin): name, role, disabled, password."""
    p = request[keys.PRINCIPAL]
    require_admin(p)
    user_id = conversations.parse_id(request.match_info["id"])
    data = await read_json(request)
    disabled = data.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise Invalid("disabled must be a boolean", code="invalid_field", field="disabled")
    if user_id == p.user_id and disabled:
        raise Invalid("you cannot disable yourself", code="cannot_disable_self")
    if user_id == p.user_id and "role" in data and data["role"] != p.role:
        # The last admin demoting themselves would leave the business without one.
        raise Invalid("you cannot change your own role", code="cannot_change_own_role")
    role = users.check_role(data["role"]) if "role" in data else None
    name = string_field(data, "name", max_len=100) if "name" in data else None
    password_hash = None
    if "password" in data:
        password = users.check_password(string_field(data, "password", max_len=users.MAX_PASSWORD))
        password_hash = await request.app[keys.HASHER].hash(password)
    before = await request.app[keys.DB].read(lambda c: users.get_user(c, p.tenant_id, user_id))
    user = await request.app[keys.DB].write(
        lambda tx: users.update_user(tx, p.tenant_id, user_id, name=name, role=role,
                                     disabled=disabled, password_hash=password_hash)
    )
    _after_change(request.app, before, user)
    return json_response(user.public())


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    r = app.router
    r.add_post("/api/v1/auth/login", handle_login, name="api_login")
    r.add_post("/api/v1/auth/logout", handle_logout, name="api_logout")
    r.add_get("/api/v1/me", handle_me, name="api_me")
    r.add_patch("/api/v1/me", handle_update_me, name="api_me_update")
    r.add_post("/api/v1/me/password", handle_change_password, name="api_password")
    r.add_get("/api/v1/users", handle_list_users, name="api_users")
    r.add_post("/api/v1/users", handle_create_user, name="api_users_create")
    r.add_patch("/api/v1/users/{id}", handle_update_user, name="api_users_update")
    r.add_post("/api/v1/users/{id}/password-reset", handle_reset_password, name="api_users_reset")
