"""Slow and idle clients: a deadline for request headers, one for bodies, and quiet disconnects.

Headers: aiohttp closes a connection whose handler is waiting for a request when its keep-alive
timer fires, and arms that timer when the connection opens and after each answer; the timer is not
pushed back by bytes that arrive. So `keepalive_timeout` is both the idle limit between requests
and a deadline for a whole request head (a client dripping header bytes is cut all the same).

Bodies: once a handler runs, aiohttp has no deadline for the body. A timer per request with an
unfinished body fails the body stream with BodyTimeout when it fires; the handler's read raises,
the client gets 408 and the connection is closed (aiohttp stops lingering on a TimeoutError).

A client that disconnects in the middle of its body is not an error of ours: one DEBUG line, no
traceback (a client could otherwise fill the log with them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from app.config import Config
from app.web.errors import error_response

log = logging.getLogger("condorito.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTimeout(TimeoutError):
    """The request body did not arrive in time (a TimeoutError so aiohttp stops lingering)."""


def handler_args(config: Config) -> dict[str, Any]:
    """Arguments for aiohttp's request handler (web.Application(handler_args=...))."""
    return {"keepalive_timeout": config.header_timeout}


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def body_guard(timeout: float) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware (inside the error middleware): body deadline, 408, quiet disconnects."""

    @web.middleware
    async def guard_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        stream = request.content
        timer = None
        if request.body_exists and not stream.is_eof():
            def expire() -> None:
                if not stream.is_eof():
                    stream.set_exception(BodyTimeout())
            timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await handler(request)
        except BodyTimeout:
            log.info("request body timed out", extra={"fields": {"path": request.path,
                                                                  "timeout": timeout}})
            resp = error_response(408, "request_timeout",
                                  f"the request body did not arrive within {timeout:g} s")
            resp.force_close()
            return resp
        except ConnectionError:
            if not _client_gone(request):
                raise
            log.debug("client disconnected during the request",
                      extra={"fields": {"path": request.path, "method": request.method}})
            # Nobody will read this answer; returning one keeps the error middleware quiet.
            return web.Response(status=400)
        finally:
            if timer is not None:
                timer.cancel()

    return guard_body
