"""The application factory: routes, middlewares and every resource in a cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from app import keys
from app.auth.middleware import auth_middleware
from app.auth.passwords import Hasher
from app.auth.principal import Authenticator
from app.auth.throttle import LoginThrottle
from app.config import Config
from app.db import Database
from app.gc_policy import GcPolicy
from app.i18n import client_text, t
from app.realtime import const, longpoll, ws
from app.realtime.connection import Connection
from app.realtime.heartbeat import Heartbeat
from app.realtime.hub import Hub
from app.services import link, whatsapp_config
from app.services.inbox import Inbox
from app.services.outbox import OutboxWorker
from app.services.providers import ProviderRegistry
from app.services.retention import Retention
from app.services.search import SearchIndexer
from app.services.stats import StatsCoalescer
from app.services.tenants import Directory
from app.services.webhook_queue import WebhookQueue
from app.web import (
    api_auth,
    api_inbox,
    api_whatsapp,
    headers,
    inbox_calls,
    pages,
    pages_chat,
    pages_shell,
    webhooks,
)
from app.web.bodies import MAX_BODY_BYTES
from app.web.errors import error_middleware
from app.web.inflight import InFlight
from app.whatsapp.cloud import CloudProvider
from app.whatsapp.sandbox import SandboxProvider

log = logging.getLogger("condorito")

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Config) -> web.Application:
    """Build the application: routes, middlewares, and every resource in a cleanup_ctx."""
    if not config.secret:
        raise ValueError("config.secret must be set (see config.resolve_secret)")
    inflight = InFlight()
    app = web.Application(middlewares=[inflight.middleware(), error_middleware, auth_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app[keys.INFLIGHT] = inflight
    app[keys.CONFIG] = config
    app[keys.SOCKETS] = weakref.WeakSet()
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(ROOT / "templates")), autoescape=True
    )
    env.globals["t"] = t
    env.globals["client_text"] = client_text
    _routes(app)
    headers.setup(app)
    app.cleanup_ctx.append(_services)
    app.on_shutdown.append(_close_sockets)
    return app


def _routes(app: web.Application) -> None:
    app.router.add_get("/ws", ws.handle_ws, name="ws")
    inbox_calls.setup_calls()
    api_auth.setup_routes(app)
    api_inbox.setup_routes(app)
    api_whatsapp.setup_routes(app)
    longpoll.setup_routes(app)
    webhooks.setup_routes(app)
    pages.setup_routes(app)
    pages_chat.setup_routes(app)
    pages_shell.setup_routes(app)
    app.router.add_static("/static/", ROOT / "static", name="static")


async def _services(app: web.Application) -> AsyncIterator[None]:
    """Open the database, then wire the hub, auth, domain and providers; close in reverse."""
    config = app[keys.CONFIG]
    db = Database(config.db_path, wal_limit=config.wal_limit_mb * 1024 * 1024)
    hub = Hub()
    db.set_publisher(hub.publish)
    db.set_busy_probe(app[keys.INFLIGHT].busy)
    await db.open()
    app[keys.DB] = db
    app[keys.HUB] = hub
    hub.set_closer(ws.close_connection)
    heartbeat = app[keys.HEARTBEAT] = Heartbeat(config.ping_interval, config.pong_timeout, hub.close)
    hub.set_presence_hook(
        lambda conn, online: _presence(hub, conn, online)
    )
    app[keys.AUTH] = Authenticator(db, config.secret)
    app[keys.HASHER] = Hasher()
    app[keys.THROTTLE] = LoginThrottle(max_account=config.login_max_failures,
                                       max_ip=config.login_ip_max_failures,
                                       window=config.login_window)
    tenants = app[keys.TENANTS] = Directory(db)
    stats = app[keys.STATS] = StatsCoalescer(db)
    search = app[keys.SEARCH] = SearchIndexer(db)
    inbox = app[keys.INBOX] = Inbox(db, hub, stats, tenants, search)
    providers = app[keys.PROVIDERS] = ProviderRegistry(tenants)
    sandbox = app[keys.SANDBOX] = SandboxProvider(inbox)
    providers.add(sandbox)
    http = aiohttp.ClientSession()
    cloud = app[keys.CLOUD] = CloudProvider(
        lambda tid: db.read(lambda c: whatsapp_config.get_cloud(
            c, tid, allow_custom_base=config.allow_custom_api_base)), http, inbox
    )
    providers.add(cloud)
    outbox = app[keys.OUTBOX] = OutboxWorker(db, providers)
    inbox.on_queued = outbox.wake
    webhook_queue = app[keys.WEBHOOKS] = WebhookQueue(db, inbox)

    await db.write(link.reset_transient)
    for tenant_id, phone in await db.read(_paired_sandboxes):
        sandbox.restore(tenant_id, phone)
    await outbox.start()
    webhook_queue.start()
    retention = Retention(db, max_age_ms=config.retention_seconds * 1000,
                          keep_events=config.retention_events, period=config.retention_period)
    retention.start()
    gc_policy = GcPolicy()
    gc_policy.start()
    log.info("started", extra={"fields": {"db": str(config.db_path)}})
    try:
        yield
    finally:
        heartbeat.stop()
        await retention.stop()
        await webhook_queue.stop()
        await outbox.stop()
        await sandbox.close()
        await http.close()
        await stats.close()
        await search.close()
        await hub.drain_closing()
        await db.close()
        await gc_policy.stop()
        log.info("stopped")


def _paired_sandboxes(conn: object) -> list[tuple[int, str]]:
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT s.tenant_id, s.phone FROM whatsapp_sessions s JOIN tenants t ON t.id = s.tenant_id"
        " WHERE t.provider = 'sandbox' AND s.state = 'connected'"
    ).fetchall()
    return [(r[0], r[1] or "") for r in rows]


def _presence(hub: Hub, conn: Connection, online: bool) -> None:
    hub.publish_ephemeral(conn.ident.tenant_id, "presence:changed",
                          {"user_id": str(conn.ident.user_id), "online": online}, exclude=conn)


async def _close_sockets(app: web.Application) -> None:
    """Shutdown: every socket gets 1001, in parallel, so clients reconnect and resume later."""
    hub = app[keys.HUB]
    hub.release_polls()
    live = {c.ws for c in hub.all_connections()}
    for conn in hub.all_connections():
        hub.close(conn, const.CLOSE_GOING_AWAY, "server shutting down")
    others = [
        asyncio.get_running_loop().create_task(
            sock.close(code=const.CLOSE_GOING_AWAY, message=b"server shutting down"))
        for sock in list(app[keys.SOCKETS]) if not sock.closed and sock not in live
    ]
    await asyncio.gather(hub.drain_closing(), *others, return_exceptions=True)
