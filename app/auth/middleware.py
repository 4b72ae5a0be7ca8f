"""Every route requires a verified principal unless its handler is marked @public."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web

from app import keys
from app.auth.principal import AuthFailure
from app.auth.session import COOKIE_NAME
from app.errors import Forbidden, Unauthorized
from app.http import is_api

F = TypeVar("F", bound=Callable[..., Any])
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a user holding a one-time password may do: see who they are, set a password, sign out.
_WHILE_MUST_CHANGE = frozenset({
    ("GET", "/account/password"), ("POST", "/account/password"), ("POST", "/logout"),
    ("GET", "/api/v1/me"), ("POST", "/api/v1/me/password"), ("POST", "/api/v1/auth/logout"),
})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def public(handler: F) -> F:
    """Mark a handler that needs no login (login, webhooks, pairing page)."""
    handler.__condorito_public__ = True  # type: ignore[attr-defined]
    return handler


def _is_public(request: web.Request, handler: Handler) -> bool:
    if getattr(handler, "__condorito_public__", False):
        return True
    route = request.match_info.route
    return isinstance(route.resource, web.StaticResource) or route.resource is None


def same_origin(request: web.Request, *, required: bool) -> bool:
    """True when the request's Origin is this server (or configured); absent counts if not required."""
    origin = request.headers.get("Origin")
    if origin is None:
        return not required
    allowed = request.app[keys.CONFIG].allowed_origins
    return origin in allowed or urlsplit(origin).netloc == request.host


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header (scheme case-insensitive), if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def request_token(request: web.Request) -> str:
    """The bearer token, else the session cookie's token ('' when neither)."""
    token = bearer_token(request)
    return token if token is not None else request.cookies.get(COOKIE_NAME, "")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the bearer token or session cookie into request[PRINCIPAL]."""
    if _is_public(request, handler) or request.path == "/ws":
        return await handler(request)  # /ws authenticates its first frame instead
    token = request_token(request)
    from_cookie = bearer_token(request) is None
    try:
        if not token:
            raise Unauthorized("authentication required")
        principal = await request.app[keys.AUTH].authenticate(token)
    except (AuthFailure, Unauthorized):
        if not is_api(request) and request.method == "GET":
            raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/")) from None
        raise
    # Cookies ride along on cross-site requests; a form post from elsewhere must not act as the
    # user (CSRF). Browsers always send Origin on such requests.
    unsafe = from_cookie and request.method not in _SAFE_METHODS
    if unsafe and not same_origin(request, required=True):
        raise Forbidden("cross-site request refused", code="csrf_failed")
    if principal.must_change_password and (request.method, request.path) not in _WHILE_MUST_CHANGE:
        # A one-time password opens one door: choosing one's own (and signing out).
        if not is_api(request) and request.method == "GET":
            raise web.HTTPFound("/account/password")
        raise Forbidden("choose a new password first (POST /api/v1/me/password)",
                        code="password_change_required")
    request[keys.PRINCIPAL] = principal
    return await handler(request)
