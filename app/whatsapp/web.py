"""QR pairing: a tenant's own number linked as a WhatsApp Web device, through neonize (whatsmeow,
in-process, its asyncio client). Optional: `pip install -e '.[whatsapp-web]'`.

Each tenant has its own session store (whatsmeow's SQLite) under the data directory, 0700/0600
like the database; once paired, a restart resumes it without a new QR. neonize runs each client's
blocking Go loop in a worker thread and posts its events to our loop; every other Go call it makes
also goes through a thread, so nothing here blocks the event loop.

States (PROTOCOL §2): starting -> qr_pending -> connected; a dropped connection is `disconnected`
and is brought back with backoff; logged out from the phone is `logged_out` (the store is purged,
pair again); stream replaced (the same device connected elsewhere) is `disconnected` without
reconnecting, or the two would take the session from each other forever; bans and an outdated
client are `failed`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno

from app.clock import now_ms
from app.whatsapp import web_parse
from app.whatsapp.base import (
    WEB,
    FetchedMedia,
    OutboundMessage,
    ProviderError,
    ProviderSink,
    QrCode,
    StatusUpdate,
)
from app.whatsapp.web_neonize import NeonizeApi, load_neonize
from app.whatsapp.web_store import SessionStores

log = logging.getLogger("condorito.web")

FIRST_QR_TTL = 60.0    # whatsmeow shows its first code for 60 s, each later one for 20 s
NEXT_QR_TTL = 20.0
QR_GRACE = 5.0         # after the last code expires, the pairing is over
RECONNECT_BASE = 10.0  # whatsmeow retries by itself after 2, 4, 6 s...; ours is the fallback
RECONNECT_CAP = 300.0
STOP_WAIT = 5.0
MAX_SESSIONS = 64      # each connected number holds one worker thread (neonize's Go loop)
# whatsmeow connect failures that are the server's trouble, not ours: retried.
TRANSIENT_FAILURES = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}


def render_qr(value: str) -> str:
    """An SVG of a full QR code (never a Micro QR, which phones' WhatsApp scanners do not read)."""
    return segno.make_qr(value, error="m").svg_inline(scale=4, border=4, omitsize=True)


def backoff(attempt: int) -> float:
    """Seconds before reconnect attempt `attempt` (0-based): doubling, capped, jittered."""
    ceiling = min(RECONNECT_CAP, RECONNECT_BASE * 2 ** attempt)
    return random.uniform(ceiling / 2, ceiling)


@dataclass(slots=True)
class _Session:
    tenant_id: int
    client: Any = None
    task: asyncio.Task[Any] | None = None     # neonize's connect task (the Go loop)
    state: str = "starting"
    phone: str | None = None
    qr: QrCode | None = None
    codes: int = 0
    attempts: int = 0
    timer: asyncio.Task[None] | None = None   # QR expiry or reconnect backoff


class WebProvider:
    """One instance serves every QR-paired tenant."""

    name = WEB

    def __init__(self, sink: ProviderSink, data_dir: Path,
                 loader: Callable[[], NeonizeApi] | None = None) -> None:
        self._sink = sink
        self.stores = SessionStores(data_dir)
        self._loader = loader
        self._loaded: NeonizeApi | None = None
        self._sessions: dict[int, _Session] = {}
        self._executor_ready = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def resume(self, tenant_id: int) -> None:
        """At start-up: a paired tenant connects again with its stored session (no QR)."""
        if self.stores.paired(tenant_id) and tenant_id not in self._sessions:
            await self._begin(tenant_id)

    async def connect(self, tenant_id: int, public_base: str) -> None:
        """Start linking: resume the stored session, or show QR codes until scanned."""
        session = self._sessions.get(tenant_id)
        if session is not None:
            if session.state == "connected":
                await self._sink.link_state(tenant_id, "connected", phone=session.phone)
            elif session.qr is not None:
                self._sink.qr(tenant_id, session.qr)   # the code on screen now, for a new screen
            return
        await self._begin(tenant_id)

    @property
    def _api(self) -> NeonizeApi:
        # Loaded at the first link, not at start-up: an install without QR tenants never pays for
        # the Go library, and without the extra the error names it (provider_unavailable).
        if self._loaded is None:
            self._loaded = (self._loader or load_neonize)()
        return self._loaded

    async def _begin(self, tenant_id: int) -> None:
        api = self._api
        self._ensure_threads()
        session = self._sessions[tenant_id] = _Session(tenant_id, phone=self.stores.phone(tenant_id))
        await self._sink.link_state(tenant_id, "starting")
        try:
            await self._start_client(session, api)
        except Exception as exc:
            log.exception("web client start failed", extra={"fields": {"tenant": tenant_id}})
            await self._stop(session, "failed", "start_error")
            raise ProviderError("web_start_failed", str(exc)[:200]) from None

    def _ensure_threads(self) -> None:
        # neonize runs each client's Go loop for as long as it is connected in a thread of the
        # loop's default executor (asyncio.to_thread); the default pool (min(32, cpus + 4)) would
        # be used up by a few numbers and starve everything else that uses it (password hashing).
        if not self._executor_ready:
            asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(
                max_workers=MAX_SESSIONS + 16, thread_name_prefix="neonize"))
            self._executor_ready = True

    async def _start_client(self, session: _Session, api: NeonizeApi) -> None:
        tenant_id = session.tenant_id
        path = await asyncio.to_thread(self.stores.prepare, tenant_id)
        # A fresh id per client: neonize stops a client by id when its Python object is collected,
        # which must never stop the client that replaced it.
        client = api.new_client(path, f"t{tenant_id}.{secrets.token_hex(6)}")
        session.client = client
        self._wire(session, client, api.events)
        session.task = await client.connect()
        session.task.add_done_callback(lambda task: self._ended(session, client, task))

    def _wire(self, session: _Session, client: Any, ev: Any) -> None:

        def on(kind: Any, handler: Callable[[Any], Any]) -> None:
            async def call(c: Any, event: Any) -> None:
                if session.client is not client or self._sessions.get(session.tenant_id) is not session:
                    return  # a replaced or stopped client's late event
                try:
                    await handler(event)
                except Exception:
                    log.exception("web event failed", extra={"fields": {
                        "tenant": session.tenant_id, "event": kind.__name__}})
            client.event(kind)(call)

        async def qr(c: Any, data: bytes) -> None:
            if session.client is client and self._sessions.get(session.tenant_id) is session:
                await self._on_qr(session, data)

        client.qr(qr)
        on(ev.PairStatusEv, lambda e: self._on_pair(session, e))
        on(ev.ConnectedEv, lambda e: self._on_connected(session))
        on(ev.DisconnectedEv, lambda e: self._on_dropped(session, "connection_lost"))
        on(ev.LoggedOutEv, lambda e: self._on_logged_out(session, e))
        on(ev.StreamReplacedEv, lambda e: self._stop(session, "disconnected", "stream_replaced"))
        on(ev.TemporaryBanEv, lambda e: self._stop(session, "failed", "temporary_ban"))
        on(ev.ClientOutdatedEv, lambda e: self._stop(session, "failed", "client_outdated"))
        on(ev.ConnectFailureEv, lambda e: self._on_connect_failure(session, e))
        on(ev.MessageEv, lambda e: self._on_message(session, e))
        on(ev.ReceiptEv, lambda e: self._on_receipt(session, e))

    def _ended(self, session: _Session, client: Any, task: asyncio.Task[Any]) -> None:
        """neonize's Go loop returned: an error while connecting is a drop to retry."""
        if task.cancelled() or session.client is not client:
            return
        if self._sessions.get(session.tenant_id) is session and task.exception() is not None:
            log.warning("web client ended", extra={"fields": {"tenant": session.tenant_id,
                                                              "error": str(task.exception())[:200]}})
            asyncio.get_running_loop().create_task(self._on_dropped(session, "connect_error"))

    # -- events ------------------------------------------------------------------------------

    async def _on_qr(self, session: _Session, data: bytes) -> None:
        session.codes += 1
        ttl = FIRST_QR_TTL if session.codes == 1 else NEXT_QR_TTL
        value = data.decode() if isinstance(data, bytes) else str(data)
        session.qr = QrCode(value=value, svg=render_qr(value), expires_at=now_ms() + int(ttl * 1000))
        if session.state != "qr_pending":
            session.state = "qr_pending"
            await self._sink.link_state(session.tenant_id, "qr_pending")
        self._sink.qr(session.tenant_id, session.qr)
        # whatsmeow gives up quietly after its last code: when no new code comes, it is over.
        self._timer(session, self._qr_expired(session, ttl + QR_GRACE))

    async def _qr_expired(self, session: _Session, after: float) -> None:
        await asyncio.sleep(after)
        if session.state == "qr_pending":
            await self._stop(session, "disconnected", "qr_timeout")

    async def _on_pair(self, session: _Session, ev: Any) -> None:
        if web_parse.enum_name(ev, "Status") != "SUCCESS":
            await self._stop(session, "failed", "pair_error")
            return
        session.phone = str(ev.ID.User)
        session.qr = None
        self._cancel_timer(session)
        await asyncio.to_thread(self.stores.mark_paired, session.tenant_id, session.phone)

    async def _on_connected(self, session: _Session) -> None:
        self._cancel_timer(session)
        session.attempts, session.qr = 0, None
        if not session.phone:
            session.phone = str((await session.client.get_me()).JID.User) or None
        session.state = "connected"
        await self._sink.link_state(session.tenant_id, "connected", phone=session.phone)

    async def _on_dropped(self, session: _Session, reason: str) -> None:
        if self._sessions.get(session.tenant_id) is not session:
            return
        if not self.stores.paired(session.tenant_id):   # never paired: nothing to come back to
            await self._stop(session, "failed", reason)
            return
        if session.state != "disconnected":
            session.state = "disconnected"
            await self._sink.link_state(session.tenant_id, "disconnected", reason=reason)
        if session.timer is None or session.timer.done():
            self._timer(session, self._reconnect(session))

    async def _reconnect(self, session: _Session) -> None:
        await asyncio.sleep(backoff(session.attempts))
        session.attempts += 1
        if session.state == "connected" or self._sessions.get(session.tenant_id) is not session:
            return  # whatsmeow came back by itself
        session.timer = None
        old = session.client
        session.client = None   # the old client's late events are ignored from here on
        await self._halt(old, session.task)
        log.info("web reconnect", extra={"fields": {"tenant": session.tenant_id,
                                                    "attempt": session.attempts}})
        try:
            await self._start_client(session, self._api)
        except Exception:
            log.exception("web reconnect failed", extra={"fields": {"tenant": session.tenant_id}})
            await self._stop(session, "failed", "reconnect_error")

    async def _on_logged_out(self, session: _Session, ev: Any) -> None:
        await self._stop(session, "logged_out", "logged_out_on_phone", purge=True)

    async def _on_connect_failure(self, session: _Session, ev: Any) -> None:
        reason = web_parse.enum_name(ev, "Reason")
        if reason in TRANSIENT_FAILURES:
            await self._on_dropped(session, "service_unavailable")
        else:
            await self._stop(session, "failed", f"connect_failure_{reason.lower() or 'unknown'}")

    async def _on_message(self, session: _Session, ev: Any) -> None:
        msg = web_parse.inbound(ev)
        if msg is not None:
            await self._sink.inbound(session.tenant_id, msg)

    async def _on_receipt(self, session: _Session, ev: Any) -> None:
        for update in web_parse.receipts(ev):
            await self._sink.status(session.tenant_id, update)

    # -- stopping ----------------------------------------------------------------------------

    def _timer(self, session: _Session, coro: Any) -> None:
        self._cancel_timer(session)
        session.timer = asyncio.get_running_loop().create_task(coro)

    @staticmethod
    def _cancel_timer(session: _Session) -> None:
        current = asyncio.current_task()
        if session.timer is not None and session.timer is not current:
            session.timer.cancel()
        session.timer = None

    async def _halt(self, client: Any, task: asyncio.Task[Any] | None) -> None:
        """Stop a client's Go loop and wait (bounded) for its thread to return."""
        if client is None:
            return
        try:
            await client.stop()
        except Exception:
            log.warning("web client stop failed", exc_info=True)
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=STOP_WAIT)

    async def _stop(self, session: _Session, state: str, reason: str, *, purge: bool = False) -> None:
        """End a session for good (until the admin connects again) and say why."""
        if self._sessions.get(session.tenant_id) is not session:
            return
        del self._sessions[session.tenant_id]
        self._cancel_timer(session)
        client, session.client = session.client, None
        await self._halt(client, session.task)
        if purge:
            await asyncio.to_thread(self.stores.purge, session.tenant_id)
        await self._sink.link_state(session.tenant_id, state, reason=reason)

    async def logout(self, tenant_id: int) -> None:
        """Unlink the device (WhatsApp is told when connected) and forget its keys."""
        session = self._sessions.get(tenant_id)
        if session is not None and session.state == "connected":
            try:
                await session.client.logout()
            except Exception as exc:  # unlinked here anyway; the phone lists it until it notices
                log.warning("web logout failed", extra={"fields": {"tenant": tenant_id,
                                                                   "error": str(exc)[:200]}})
        if session is not None:
            await self._stop(session, "logged_out", "logout", purge=True)
        else:
            await asyncio.to_thread(self.stores.purge, tenant_id)
            await self._sink.link_state(tenant_id, "logged_out", reason="logout")

    async def release(self, tenant_id: int) -> None:
        """The tenant chose another provider: stop its client and keep its store, so choosing
        QR again and linking resumes the session without a new code."""
        session = self._sessions.pop(tenant_id, None)
        if session is not None:
            self._cancel_timer(session)
            client, session.client = session.client, None
            await self._halt(client, session.task)

    def current_qr(self, tenant_id: int) -> QrCode | None:
        """The code on screen now."""
        session = self._sessions.get(tenant_id)
        return session.qr if session is not None and session.state == "qr_pending" else None

    async def close(self) -> None:
        """Shutdown: stop every client; the stores stay, so the next start resumes them."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            self._cancel_timer(session)
        await asyncio.gather(*(self._halt(s.client, s.task) for s in sessions))

    # -- messages ----------------------------------------------------------------------------

    async def fetch_media(self, tenant_id: int, media_id: str, max_bytes: int) -> FetchedMedia:
        """Download and decrypt an inbound file through the linked session (whatsmeow)."""
        session = self._sessions.get(tenant_id)
        if session is None or session.state != "connected":
            raise ProviderError("whatsapp_not_connected", retryable=True)
        try:
            message, announced = web_parse.decode_media(media_id, self._api.message_type)
        except (ValueError, TypeError):
            raise ProviderError("media_not_found") from None
        if announced > max_bytes:   # refused before downloading anything
            raise ProviderError("media_too_large")
        try:
            data = await session.client.download_any(message)
        except Exception as exc:    # expired on WhatsApp's servers, network: worth another try
            raise ProviderError("media_download_failed", str(exc)[:200], retryable=True) from None
        if len(data) > max_bytes:
            raise ProviderError("media_too_large")
        part = next(getattr(message, f) for f in web_parse.MEDIA_FIELDS if message.HasField(f))
        return FetchedMedia(bytes(data), str(part.mimetype) or "application/octet-stream")

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        """Send a text, photo or document from the linked number; return WhatsApp's message id."""
        session = self._sessions.get(tenant_id)
        if session is None or session.state != "connected":
            # Coming back (a drop, a restart): the outbox retries with backoff. Ended (logged out,
            # banned, replaced, never linked): nothing will take it soon, it fails now.
            raise ProviderError("whatsapp_not_connected", "the QR-linked number is not connected",
                                retryable=session is not None)
        media, client = msg.media, session.client
        if media is not None and media.kind not in ("image", "document"):
            raise ProviderError("media_unsupported", f"cannot send {media.kind} by QR link")
        try:
            if media is None:
                resp = await client.send_message(msg.to, msg.body)
            elif media.kind == "image":   # neonize uploads it (encrypted) and adds a thumbnail
                resp = await client.send_image(msg.to, media.data, caption=msg.body or None)
            else:
                resp = await client.send_document(msg.to, media.data, caption=msg.body or None,
                                                  filename=media.filename, mimetype=media.mime)
        except Exception as exc:  # neonize's SendMessageError and the Go layer's errors
            raise ProviderError("web_send_failed", str(exc)[:200]) from None
        wa_id = str(resp.ID)
        # whatsmeow returns once WhatsApp's server took it: that is `sent` (one tick). Stored
        # before the outbox records the id, it waits as an orphan receipt and is applied then.
        await self._sink.status(tenant_id, StatusUpdate(wa_id, "sent"))
        return wa_id
