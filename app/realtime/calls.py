"""WebSocket calls: ephemeral or read-only actions (mutations go through REST).

Methods register with `@method(name)`; errors map to codes in `call_error`, the one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from app import keys
from app.errors import AppError
from app.realtime import const, frames
from app.realtime.connection import Connection

log = logging.getLogger("condorito.ws")

Handler = Callable[[web.Application, Connection, dict[str, Any]], Awaitable[Any]]
METHODS: dict[str, Handler] = {}


def register(name: str, fn: Handler) -> None:
    """Make a call method available under its wire name (upper layers add theirs at startup)."""
    METHODS[name] = fn


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a call method of this module under its wire name."""
    def decorate(fn: Handler) -> Handler:
        register(name, fn)
        return fn
    return decorate


def call_error(exc: BaseException) -> tuple[str, str, bool]:
    """Map an exception to (code, message, retryable); unexpected ones are logged."""
    if isinstance(exc, AppError):
        return exc.code, exc.message, exc.retryable
    if isinstance(exc, TimeoutError):
        return const.ERR_TIMEOUT, "the call timed out", True
    log.error("call failed", exc_info=exc)
    return const.ERR_INTERNAL, "internal error", True


class Dispatcher:
    """Per-connection call state: increasing ids and a rate limit."""

    def __init__(self, app: web.Application, conn: Connection) -> None:
        self._app = app
        self._conn = conn
        self._last_id = 0
        self._window_start = time.monotonic()
        self._window_calls = 0

    def _fail(self, call_id: int | None, code: str, message: str, *, retryable: bool = False) -> None:
        self._conn.send_now(frames.result_error_frame(call_id, code, message, retryable))

    async def handle(self, frame: dict[str, Any]) -> None:
        """Validate, run and answer one call frame."""
        conn = self._conn
        call_id = frame.get("id")
        if not isinstance(call_id, int) or isinstance(call_id, bool) or call_id <= 0:
            self._fail(None, const.ERR_INVALID_FRAME, "call id must be a positive int")
            return
        if call_id <= self._last_id:
            self._fail(call_id, const.ERR_ID_REUSE, "call ids must increase")
            return
        self._last_id = call_id
        now = time.monotonic()
        if now - self._window_start >= 60:
            self._window_start, self._window_calls = now, 0
        self._window_calls += 1
        if self._window_calls > const.CALLS_PER_MINUTE:
            self._fail(call_id, const.ERR_RATE_LIMITED, "too many calls", retryable=True)
            return
        name = frame.get("method")
        handler = METHODS.get(name) if isinstance(name, str) else None
        if handler is None:
            self._fail(call_id, const.ERR_UNKNOWN_METHOD, f"unknown method {name!r}")
            return
        params = frame.get("params", {})
        if not isinstance(params, dict):
            self._fail(call_id, const.ERR_INVALID_PARAMS, "params must be an object")
            return
        try:
            data = await handler(self._app, conn, params)
        except Exception as exc:
            code, message, retryable = call_error(exc)
            conn.send_now(frames.result_error_frame(call_id, code, message, retryable))
            return
        conn.send_now(frames.result_frame(call_id, data))


@method("presence")
async def handle_presence(app: web.Application, conn: Connection, params: dict[str, Any]) -> Any:
    """Which of the tenant's users are online now."""
    return {"online": [str(u) for u in app[keys.HUB].online_users(conn.ident.tenant_id)]}
