"""The application factory: routes, middlewares and every resource in a cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable
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
from app.metrics import Metrics
from app.private_files import private_dir
from app.realtime import const, longpoll, sio, ws
from app.realtime.heartbeat import Heartbeat
from app.realtime.hub import Hub
from app.serve_lock import LockBusy, ServeLock
from app.services import link, whatsapp_config
from app.services.bot import Bot
from app.services.bulk_runner import BulkRunner
from app.services.governor import Governor
from app.services.inbox import Inbox
from app.services.media_fetcher import MediaFetcher
from app.services.media_out import OutboundFiles
from app.services.media_store import MediaStore
from app.services.outbox import OutboxWorker
from app.services.providers import ProviderRegistry
from app.services.retention import Retention
from app.services.revocations import RevocationWatch
from app.services.search import SearchIndexer
from app.services.stats import StatsCoalescer
from app.services.tenants import Directory
from app.services.webhook_queue import WebhookQueue
from app.web import (
    api_auth,
    api_bot,
    api_bulk,
    api_bulk_preview,
    api_inbox,
    api_media,
    api_suppressions,
    api_tenant,
    api_upload,
    api_whatsapp,
    headers,
    inbox_calls,
    openapi,
    ops,
    pages,
    pages_bulk,
    pages_chat,
    pages_shell,
    request_ids,
    timeouts,
    webhooks,
)
from app.web.bodies import MAX_BODY_BYTES
from app.web.errors import error_middleware
from app.web.inflight import InFlight
from app.whatsapp.base import WEB_INSTALLED
from app.whatsapp.cloud import CloudProvider
from app.whatsapp.sandbox import SandboxProvider
from app.whatsapp.web import WebProvider

log = logging.getLogger("condorito")

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Config) -> web.Application:
    """Build the application: routes, middlewares, and every resource in a cleanup_ctx."""
    if not config.secret:
        raise ValueError("config.secret must be set (see config.resolve_secret)")
    inflight = InFlight()
    app = web.Application(
        middlewares=[request_ids.middleware(), inflight.middleware(), error_middleware,
                     timeouts.body_guard(config.body_timeout), auth_middleware],
        client_max_size=MAX_BODY_BYTES, handler_args=timeouts.handler_args(config),
    )
    app[keys.INFLIGHT] = inflight
    app[keys.CONFIG] = config
    app[keys.SOCKETS] = weakref.WeakSet()
    app[keys.METRICS] = Metrics(hub=lambda: app.get(keys.HUB), db=lambda: app.get(keys.DB))
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(ROOT / "templates")), autoescape=True
    )
    env.globals["t"] = t
    env.globals["client_text"] = client_text
    _routes(app)
    headers.setup(app)
    request_ids.setup(app)
    app.cleanup_ctx.extend(_resources())
    app.on_shutdown.append(_close_sockets)
    return app


def _routes(app: web.Application) -> None:
    app.router.add_get("/ws", ws.handle_ws, name="ws")
    door = app[keys.SIO] = sio.SocketIODoor(app)
    door.setup_routes()
    inbox_calls.setup_calls()
    api_auth.setup_routes(app)
    api_tenant.setup_routes(app)
    api_inbox.setup_routes(app)
    api_media.setup_routes(app)
    api_upload.setup_routes(app)
    api_whatsapp.setup_routes(app)
    api_bulk_preview.setup_routes(app)
    api_suppressions.setup_routes(app)
    api_bulk.setup_routes(app)
    api_bot.setup_routes(app)
    longpoll.setup_routes(app)
    openapi.setup_routes(app)
    webhooks.setup_routes(app)
    pages.setup_routes(app)
    pages_chat.setup_routes(app)
    pages_bulk.setup_routes(app)
    pages_shell.setup_routes(app)
    ops.setup_routes(app)
    app.router.add_static("/static/", ROOT / "static", name="static")


# One cleanup context per resource, in dependency order (aiohttp "Cleanup Context"): when one
# fails to start, aiohttp's cleanup closes exactly those that started before it, in reverse.
def _resources() -> tuple[Callable[[web.Application], AsyncIterator[None]], ...]:
    return (_gc_policy, _database, _hub, _auth, _stats, _search, _inbox, _http_client,
            _providers, _media, _outbox, _bulk, _bot, _webhook_queue, _retention, _revocations,
            _started)


async def _gc_policy(app: web.Application) -> AsyncIterator[None]:
    gc_policy = GcPolicy()
    gc_policy.start()
    yield
    await gc_policy.stop()


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The single writer, its readers and its checkpointer; the serve lock (see serve_lock.py)."""
    config = app[keys.CONFIG]
    private_dir(config.db_path.parent)
    lock = ServeLock(config.db_path)
    try:
        lock.acquire(exclusive=False)
    except LockBusy:
        raise RuntimeError(f"a restore is writing {config.db_path}; start again once it is done"
                           ) from None
    try:
        db = Database(config.db_path, wal_limit=config.wal_limit_mb * 1024 * 1024)
        db.set_busy_probe(app[keys.INFLIGHT].busy)
        db.on_batch = app[keys.METRICS].write_batch_done
        await db.open()
        app[keys.DB] = db
        try:
            yield
        finally:
            await db.close()
    finally:
        lock.release()


async def _hub(app: web.Application) -> AsyncIterator[None]:
    """Fan-out of committed events to sockets and long-polls, and the sockets' heartbeat."""
    config = app[keys.CONFIG]
    hub = app[keys.HUB] = Hub()
    hub.set_closer(sio.closer(ws.close_connection))
    app[keys.DB].set_publisher(hub.publish)
    heartbeat = app[keys.HEARTBEAT] = Heartbeat(config.ping_interval, config.pong_timeout, hub.close)
    yield
    heartbeat.stop()
    await hub.drain_closing()


async def _auth(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    app[keys.AUTH] = Authenticator(app[keys.DB], config.secret)
    app[keys.HASHER] = Hasher()
    app[keys.THROTTLE] = LoginThrottle(max_account=config.login_max_failures,
                                       max_ip=config.login_ip_max_failures,
                                       window=config.login_window)
    yield


async def _stats(app: web.Application) -> AsyncIterator[None]:
    stats = app[keys.STATS] = StatsCoalescer(app[keys.DB])
    yield
    await stats.close()


async def _search(app: web.Application) -> AsyncIterator[None]:
    search = app[keys.SEARCH] = SearchIndexer(app[keys.DB])
    yield
    await search.close()


async def _inbox(app: web.Application) -> AsyncIterator[None]:
    db = app[keys.DB]
    tenants = app[keys.TENANTS] = Directory(db)
    app[keys.INBOX] = Inbox(db, app[keys.HUB], app[keys.STATS], tenants, app[keys.SEARCH])
    yield


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """The outgoing HTTP session (Cloud API sends)."""
    app[keys.HTTP] = http = aiohttp.ClientSession()
    yield
    await http.close()


async def _providers(app: web.Application) -> AsyncIterator[None]:
    """The sandbox and the Cloud API; paired sandboxes come back, half-done links are over."""
    config, db, inbox = app[keys.CONFIG], app[keys.DB], app[keys.INBOX]
    providers = app[keys.PROVIDERS] = ProviderRegistry(app[keys.TENANTS])
    sandbox = app[keys.SANDBOX] = SandboxProvider(inbox)
    providers.add(sandbox)
    cloud = app[keys.CLOUD] = CloudProvider(
        lambda tid: db.read(lambda c: whatsapp_config.get_cloud(
            c, tid, allow_custom_base=config.allow_custom_api_base)), app[keys.HTTP], inbox
    )
    providers.add(cloud)
    web_provider = None
    if WEB_INSTALLED:  # QR pairing: neonize itself is imported at the first link, not here
        web_provider = app[keys.WEB] = WebProvider(inbox, config.data_dir)
        providers.add(web_provider)
    try:
        await db.write(link.reset_transient)
        for tenant_id, phone in await db.read(link.paired_sandboxes):
            sandbox.restore(tenant_id, phone)
        if web_provider is not None:
            for tenant_id in await db.read(link.web_tenants):
                await web_provider.resume(tenant_id)  # paired ones only: no QR after a restart
        yield
    finally:  # restore() may have started pairings before a failure
        await providers.close()
        await sandbox.close()
        if web_provider is not None:
            await web_provider.close()


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    outbox = app[keys.OUTBOX] = OutboxWorker(app[keys.DB], app[keys.PROVIDERS],
                                             OutboundFiles(app[keys.DB], app[keys.MEDIA_STORE]),
                                             Governor(app[keys.CONFIG].send_rate))
    app[keys.INBOX].on_queued = outbox.wake
    outbox.on_failed = app[keys.METRICS].send_error
    app[keys.INBOX].on_read = app[keys.PROVIDERS].read_soon
    await outbox.start()
    yield
    await outbox.stop()


async def _bulk(app: web.Application) -> AsyncIterator[None]:
    """The bulk runner; after the outbox, whose recovery it builds on, and stopped before it."""
    outbox = app[keys.OUTBOX]
    runner = app[keys.BULK] = BulkRunner(app[keys.DB], app[keys.TENANTS], app[keys.STATS],
                                         app[keys.SEARCH], outbox.wake)
    outbox.gate = runner.gate
    await runner.start()
    yield
    await runner.stop()


async def _media(app: web.Application) -> AsyncIterator[None]:
    """Media files on disk and the downloader of inbound ones (pending ones from before first)."""
    store = app[keys.MEDIA_STORE] = MediaStore(app[keys.CONFIG].data_dir / "media")
    fetcher = app[keys.MEDIA_FETCHER] = MediaFetcher(app[keys.DB], app[keys.PROVIDERS], store)
    app[keys.INBOX].on_media = fetcher.wake
    fetcher.start()
    yield
    await fetcher.stop()


async def _bot(app: web.Application) -> AsyncIterator[None]:
    """The auto-reply bot: hears committed inbound messages, answers through the outbox."""
    inbox, stats, search = app[keys.INBOX], app[keys.STATS], app[keys.SEARCH]

    def touch(tenant_id: int) -> None:
        stats.touch(tenant_id)
        search.touch()

    bot = app[keys.BOT] = Bot(app[keys.DB], app[keys.TENANTS], touch, app[keys.OUTBOX].wake)
    inbox.on_inbound = bot.on_inbound
    yield
    inbox.on_inbound = lambda tenant_id, conversation_id: None
    await bot.close()


async def _webhook_queue(app: web.Application) -> AsyncIterator[None]:
    webhook_queue = app[keys.WEBHOOKS] = WebhookQueue(app[keys.DB], app[keys.INBOX])
    webhook_queue.start()
    yield
    await webhook_queue.stop()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    retention = Retention(app[keys.DB], max_age_ms=config.retention_seconds * 1000,
                          keep_events=config.retention_events, period=config.retention_period)
    retention.start()
    yield
    await retention.stop()


async def _revocations(app: web.Application) -> AsyncIterator[None]:
    """Revocations committed by the command line reach this server's cache and sockets."""
    watch = RevocationWatch(app[keys.DB], app[keys.AUTH], app[keys.HUB],
                            app[keys.CONFIG].revocation_check)
    watch.start()
    yield
    await watch.stop()


async def _started(app: web.Application) -> AsyncIterator[None]:
    log.info("started", extra={"fields": {"db": str(app[keys.CONFIG].db_path)}})
    yield
    log.info("stopped")


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
    await app[keys.SIO].shutdown()
