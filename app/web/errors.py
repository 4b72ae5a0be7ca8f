"""One error middleware: exceptions become `{"error": {"code", "message"}}` with a 4xx/5xx."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from app.errors import AppError
from app.http import is_api
from app.i18n import pick_lang
from app.jsonenc import dumps

log = logging.getLogger("condorito.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's own HTTP errors, given stable codes.
_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """The JSON error body of the API."""
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    resp = web.Response(status=status, body=dumps({"error": body}), content_type="application/json")
    if status == 429 and "retry_after" in extra:
        resp.headers["Retry-After"] = str(extra["retry_after"])
    return resp


def _page(request: web.Request, status: int, code: str) -> web.Response:
    return aiohttp_jinja2.render_template(
        "error.html", request, {"status": status, "code": code, "lang": pick_lang(request)},
        status=status,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to a clear status and code; never leak a traceback."""
    try:
        return await handler(request)
    except AppError as exc:
        if not is_api(request) and request.method == "GET":
            return _page(request, exc.status, exc.code)
        return error_response(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status == 101:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        if not is_api(request) and request.method == "GET":
            return _page(request, exc.status, code)
        return error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("unhandled error", extra={"fields": {"path": request.path,
                                                           "method": request.method}})
        if not is_api(request) and request.method == "GET":
            return _page(request, 500, "internal")
        return error_response(500, "internal", "internal error")
