"""Every web.AppKey and web.RequestKey, typed, in one place.

A leaf module: any layer may read app state through these keys, so the types are imported for
the type checker only (at run time this module imports nothing of the app).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from app.auth.passwords import Hasher
    from app.auth.principal import Authenticator, Principal
    from app.auth.throttle import LoginThrottle
    from app.config import Config
    from app.db import Database
    from app.metrics import Metrics
    from app.realtime.heartbeat import Heartbeat
    from app.realtime.hub import Hub
    from app.realtime.sio import SocketIODoor
    from app.services.bot import Bot
    from app.services.bulk_runner import BulkRunner
    from app.services.inbox import Inbox
    from app.services.media_fetcher import MediaFetcher
    from app.services.media_store import MediaStore
    from app.services.outbox import OutboxWorker
    from app.services.providers import ProviderRegistry
    from app.services.search import SearchIndexer
    from app.services.stats import StatsCoalescer
    from app.services.tenants import Directory
    from app.services.webhook_queue import WebhookQueue
    from app.web.inflight import InFlight
    from app.web.ops import HealthCheck
    from app.whatsapp.cloud import CloudProvider
    from app.whatsapp.sandbox import SandboxProvider
    from app.whatsapp.web import WebProvider

CONFIG: web.AppKey[Config] = web.AppKey("config")
DB: web.AppKey[Database] = web.AppKey("db")
HUB: web.AppKey[Hub] = web.AppKey("hub")
HEARTBEAT: web.AppKey[Heartbeat] = web.AppKey("heartbeat")
AUTH: web.AppKey[Authenticator] = web.AppKey("auth")
HASHER: web.AppKey[Hasher] = web.AppKey("hasher")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle")
TENANTS: web.AppKey[Directory] = web.AppKey("tenants")
STATS: web.AppKey[StatsCoalescer] = web.AppKey("stats")
SEARCH: web.AppKey[SearchIndexer] = web.AppKey("search")
INBOX: web.AppKey[Inbox] = web.AppKey("inbox")
OUTBOX: web.AppKey[OutboxWorker] = web.AppKey("outbox")
BULK: web.AppKey[BulkRunner] = web.AppKey("bulk")
BOT: web.AppKey[Bot] = web.AppKey("bot")
WEBHOOKS: web.AppKey[WebhookQueue] = web.AppKey("webhooks")
PROVIDERS: web.AppKey[ProviderRegistry] = web.AppKey("providers")
SANDBOX: web.AppKey[SandboxProvider] = web.AppKey("sandbox")
CLOUD: web.AppKey[CloudProvider] = web.AppKey("cloud")
WEB: web.AppKey[WebProvider] = web.AppKey("web")  # only when the whatsapp-web extra is installed
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")  # outgoing requests (Cloud API)
INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight")
MEDIA_STORE: web.AppKey[MediaStore] = web.AppKey("media_store")
MEDIA_FETCHER: web.AppKey[MediaFetcher] = web.AppKey("media_fetcher")
SIO: web.AppKey[SocketIODoor] = web.AppKey("sio")  # the Socket.IO door (app/realtime/sio.py)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthCheck] = web.AppKey("health")
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("request_id")
