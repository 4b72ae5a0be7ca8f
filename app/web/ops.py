"""Operator endpoints: `GET /healthz` (public, counts only) and `GET /metrics` (Prometheus).

/healthz makes one real write (a single probe row), at most once a second however often it is
asked: concurrent and repeated checks share the last answer, so an anonymous caller cannot turn
it into a stream of fsyncs. /metrics answers with a bearer token when CONDORITO_METRICS_TOKEN is
set; without one, only to a client on this machine that did not come through a proxy (a request
carrying X-Forwarded-For or Forwarded is refused, so a reverse proxy on loopback does not make
the whole Internet local).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from typing import Any

from aiohttp import web

from app import keys
from app.auth.middleware import bearer_token, public
from app.errors import Forbidden, Unauthorized
from app.metrics import CONTENT_TYPE, Gauges
from app.services import health, link, outbox
from app.web.bodies import json_response

log = logging.getLogger("condorito.ops")

PROBE_EVERY = 1.0     # seconds an answer of /healthz is reused
PROBE_TIMEOUT = 5.0   # a write that takes longer than this counts as failed


class HealthCheck:
    """Runs the write probe at most once per PROBE_EVERY; callers in between share its result."""

    def __init__(self) -> None:
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self._at = 0.0

    async def check(self, app: web.Application) -> dict[str, Any]:
        """The current health report (shared between callers within PROBE_EVERY)."""
        now = time.monotonic()
        if self._task is None or (self._task.done() and now - self._at >= PROBE_EVERY):
            self._at = now
            self._task = asyncio.get_running_loop().create_task(_report(app))
        return await asyncio.shield(self._task)


async def _report(app: web.Application) -> dict[str, Any]:
    db = app[keys.DB]
    started = time.perf_counter()
    writable = True
    try:
        await asyncio.wait_for(db.write(health.probe), PROBE_TIMEOUT)
    except Exception as exc:  # any failure of the write (disk full, locked, timeout) is the answer
        writable = False
        log.warning("health probe failed", extra={"fields": {"error": type(exc).__name__}})
    write_ms = round((time.perf_counter() - started) * 1000, 2)
    whatsapp: dict[str, dict[str, int]] = {}
    try:
        for (provider, state), n in (await db.read(link.summary)).items():
            whatsapp.setdefault(provider, {})[state] = n
    except Exception:
        writable = False  # a database we cannot read is no better
    return {"status": "ok" if writable else "unhealthy",
            "database": {"writable": writable, "write_ms": write_ms},
            "whatsapp": whatsapp}


@public
async def handle_healthz(request: web.Request) -> web.Response:
    """Process up, database writable, tenants per WhatsApp provider and state; 503 if unhealthy."""
    report = await request.app[keys.HEALTH].check(request.app)
    return json_response(report, status=200 if report["status"] == "ok" else 503)


def _local_direct(request: web.Request) -> bool:
    """A peer on this machine that did not come through a proxy."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


@public
async def handle_metrics(request: web.Request) -> web.Response:
    """The Prometheus text exposition (token, or local-only when no token is configured)."""
    token = request.app[keys.CONFIG].metrics_token
    if token:
        given = bearer_token(request) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("metrics token required", code="unauthorized")
    elif not _local_direct(request):
        raise Forbidden("metrics are served to this machine only (or set CONDORITO_METRICS_TOKEN)",
                        code="forbidden")
    db = request.app[keys.DB]
    gauges = await db.read(lambda c: Gauges(outbox.depth(c), link.summary(c)))
    body = request.app[keys.METRICS].render(gauges)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def setup_routes(app: web.Application) -> None:
    """Register /healthz and /metrics."""
    app[keys.HEALTH] = HealthCheck()
    app.router.add_get("/healthz", handle_healthz, name="healthz")
    app.router.add_get("/metrics", handle_metrics, name="metrics")
