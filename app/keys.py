"""Every web.AppKey and web.RequestKey, typed, in one place."""

from __future__ import annotations

import weakref

from aiohttp import web

from app.auth.passwords import Hasher
from app.auth.principal import Authenticator, Principal
from app.auth.throttle import LoginThrottle
from app.config import Config
from app.db import Database
from app.realtime.heartbeat import Heartbeat
from app.realtime.hub import Hub
from app.services.inbox import Inbox
from app.services.outbox import OutboxWorker
from app.services.search import SearchIndexer
from app.services.stats import StatsCoalescer
from app.services.tenants import Directory
from app.services.webhook_queue import WebhookQueue
from app.web.inflight import InFlight
from app.whatsapp.cloud import CloudProvider
from app.whatsapp.registry import ProviderRegistry
from app.whatsapp.sandbox import SandboxProvider

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
HUB = web.AppKey("hub", Hub)
HEARTBEAT = web.AppKey("heartbeat", Heartbeat)
AUTH = web.AppKey("auth", Authenticator)
HASHER = web.AppKey("hasher", Hasher)
THROTTLE = web.AppKey("throttle", LoginThrottle)
TENANTS = web.AppKey("tenants", Directory)
STATS = web.AppKey("stats", StatsCoalescer)
SEARCH = web.AppKey("search", SearchIndexer)
INBOX = web.AppKey("inbox", Inbox)
OUTBOX = web.AppKey("outbox", OutboxWorker)
WEBHOOKS = web.AppKey("webhooks", WebhookQueue)
PROVIDERS = web.AppKey("providers", ProviderRegistry)
SANDBOX = web.AppKey("sandbox", SandboxProvider)
CLOUD = web.AppKey("cloud", CloudProvider)
INFLIGHT = web.AppKey("inflight", InFlight)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])

PRINCIPAL = web.RequestKey("principal", Principal)
