"""Request ids: `X-Request-Id` taken from the client (or a proxy) when sane, else made here,
set on every answer and on every log line written while the request is handled."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from app.keys import REQUEST_ID_KEY
from app.logs import REQUEST_ID

HEADER = "X-Request-Id"
# What we accept from outside: short, and nothing that could forge a log line or a header.
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The outermost middleware: names the request before anything can log about it.

    Made ids are a per-process random prefix and a counter: unique, and cheaper than random
    bytes per request."""
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)

    @web.middleware
    async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(HEADER)
        rid = given if given is not None and _SANE.fullmatch(given) else f"{prefix}-{next(counter):x}"
        request[REQUEST_ID_KEY] = rid
        # One task serves every request of a keep-alive connection: reset, do not leak.
        token = REQUEST_ID.set(rid)
        try:
            return await handler(request)
        finally:
            REQUEST_ID.reset(token)

    return request_ids


async def answer_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer (errors, static files, WebSocket upgrades) names it."""
    rid = request.get(REQUEST_ID_KEY)
    if rid is not None:
        response.headers[HEADER] = rid


def setup(app: web.Application) -> None:
    """Install the header hook (the middleware goes first in create_app's list)."""
    app.on_response_prepare.append(answer_header)
