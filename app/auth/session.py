"""The browser session: the login token kept in an HttpOnly cookie."""

from __future__ import annotations

from aiohttp import web

COOKIE_NAME = "condorito_session"


def set_session_cookie(response: web.StreamResponse, token: str, max_age: int, secure: bool) -> None:
    """Keep the token where page scripts cannot read it; Lax blocks cross-site POSTs."""
    response.set_cookie(
        COOKIE_NAME, token, max_age=max_age, httponly=True, samesite="Lax", secure=secure, path="/"
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    """Forget the browser session."""
    response.del_cookie(COOKIE_NAME, path="/")
