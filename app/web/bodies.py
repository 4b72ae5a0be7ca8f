"""Reading request bodies and query parameters with clear 400s."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from app.errors import Invalid
from app.jsonenc import dumps

MAX_BODY_BYTES = 1024 * 1024  # request bodies of the API (aiohttp answers 413 above)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body of a request, or a 400 that says what is wrong."""
    raw = await request.read()
    return json_object(raw) if raw else {}


def json_object(raw: bytes) -> dict[str, Any]:
    """`raw` parsed as a JSON object, or a 400 that says what is wrong."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object", code="invalid_json")
    return data


def string_field(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 4096) -> str:
    """A string field of a JSON body."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(f"{name} must be a non-empty string", code="invalid_field", field=name)
    if len(value) > max_len:
        raise Invalid(f"{name} is too long", code="invalid_field", field=name)
    return value


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer serialized with orjson."""
    return web.Response(body=dumps(data), status=status, content_type="application/json")
