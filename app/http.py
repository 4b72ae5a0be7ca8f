"""Neutral request helpers used by more than one layer: query parsing and "is this an API path"."""

from __future__ import annotations

from aiohttp import web

from app.errors import Invalid

# Paths answered with JSON (errors too) and never redirected to the login page.
API_PREFIXES = ("/api/", "/ws", "/webhooks/", "/healthz", "/metrics")


def is_api(request: web.Request) -> bool:
    """True for the machine endpoints (REST, WebSocket, long-poll, webhooks); False for pages."""
    return request.path.startswith(API_PREFIXES)


def int_query(request: web.Request, name: str, *, lo: int, hi: int | None = None) -> int | None:
    """An optional integer query parameter within bounds."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be an integer", code="invalid_query", field=name) from None
    if value < lo or (hi is not None and value > hi):
        raise Invalid(f"{name} out of range", code="invalid_query", field=name)
    return value
