"""The shared inbox as the rest of the app uses it: what providers report, what agents do."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from app.clock import now_ms
from app.db import Database, Tx
from app.realtime import stream
from app.realtime.hub import Hub
from app.services import bot_store, bulk_track, conversations, link, media, messages, optout
from app.services.messages import TenantRef
from app.services.search import SearchIndexer
from app.services.stats import StatsCoalescer
from app.services.tenants import Directory
from app.whatsapp.base import InboundMessage, Ingested, QrCode, StatusUpdate

log = logging.getLogger("condorito.inbox")


class Inbox:
    """Implements the provider sink and the agent actions; every change is one db.write."""

    def __init__(
        self, db: Database, hub: Hub, stats: StatsCoalescer, tenants: Directory,
        search: SearchIndexer,
    ) -> None:
        self._db = db
        self._hub = hub
        self._stats = stats
        self._tenants = tenants
        self._search = search
        self.on_queued: Callable[[], None] = lambda: None
        self.on_media: Callable[[], None] = lambda: None  # a media message to download
        self.on_read: Callable[[int, str], None] = lambda tenant_id, wa_id: None
        # A customer's message committed: (tenant, conversation). The bot listens (issue 11).
        self.on_inbound: Callable[[int, int], None] = lambda tenant_id, conversation_id: None

    async def _ref(self, tenant_id: int) -> TenantRef:
        tenant = await self._tenants.get(tenant_id)
        return TenantRef(tenant.id, tenant.code)

    def _touch(self, tx: Tx, tenant_id: int) -> None:
        """New messages committed: the figures and the search index have work to do."""
        tx.after_commit.append(lambda: self._stats.touch(tenant_id))
        tx.after_commit.append(self._search.touch)

    # -- provider sink -----------------------------------------------------------------------

    async def inbound(self, tenant_id: int, msg: InboundMessage) -> Ingested:
        """Store a customer's message once, announce it, refresh the stats."""
        ref = await self._ref(tenant_id)

        def write(tx: Tx) -> Ingested:
            result = messages.ingest_inbound(tx, ref, msg)
            if not result.duplicate:
                self._touch(tx, tenant_id)
                if msg.media is not None:
                    tx.after_commit.append(self.on_media)
                self._after_inbound(tx, ref, msg, result)
            return result

        result = await self._db.write(write)
        log.debug("inbound", extra={"fields": {"tenant": tenant_id, "message": result.message_id,
                                              "duplicate": result.duplicate}})
        return result

    def ingest_items(
        self, tx: Tx, tenant: TenantRef, inbound: list[InboundMessage], statuses: list[StatusUpdate]
    ) -> tuple[int, int]:
        """Inside a write: a provider delivery of many items; one bad item skips alone.

        A delivery of one item runs without its own savepoint (the caller's covers it, and its
        failure is the caller's to record). Returns (new messages, items that failed).
        """
        isolate = len(inbound) + len(statuses) > 1
        new = failed = 0
        files = False
        item: InboundMessage | StatusUpdate
        for item in (*inbound, *statuses):
            try:
                with tx.savepoint() if isolate else nullcontext():
                    if isinstance(item, InboundMessage):
                        ingested = messages.ingest_inbound(tx, tenant, item)
                        fresh = not ingested.duplicate
                        new += fresh
                        files = files or (fresh and item.media is not None)
                        if fresh:
                            self._after_inbound(tx, tenant, item, ingested)
                    else:
                        messages.set_status_by_wa_id(tx, tenant.id, item.wa_id, item.status,
                                                     item.error)
            except Exception:
                if not isolate:
                    raise
                failed += 1
                log.exception("delivery item failed", extra={"fields": {"tenant": tenant.id}})
        if new:
            self._touch(tx, tenant.id)
        if files:
            tx.after_commit.append(self.on_media)
        return new, failed

    def _after_inbound(self, tx: Tx, tenant: TenantRef, msg: InboundMessage, ingested: Ingested) -> None:
        """Inside the write of a new (not duplicate) inbound message: what it sets off."""
        bulk_track.on_reply(tx, tenant.id, msg.from_phone)
        if optout.handle_inbound(tx, tenant, msg, ingested):
            tx.after_commit.append(lambda: self.on_queued())
        # The bot hears every new customer message (it leaves opt-out words alone itself).
        conversation_id = int(ingested.conversation_id)
        tx.after_commit.append(lambda: self.on_inbound(tenant.id, conversation_id))

    async def status(self, tenant_id: int, update: StatusUpdate) -> None:
        """Apply a receipt (forward-only)."""
        await self._db.write(
            lambda tx: messages.set_status_by_wa_id(tx, tenant_id, update.wa_id, update.status,
                                                    update.error)
        )

    async def link_state(
        self, tenant_id: int, state: str, *, phone: str | None = None, reason: str | None = None
    ) -> None:
        """Store and announce a change of the WhatsApp link."""
        await self._db.write(lambda tx: link.set_state(tx, tenant_id, state, phone=phone, reason=reason))
        if state == "connected":
            self.on_queued()  # sends held by a failed link (expired token, restriction) resume
        log.info("whatsapp link", extra={"fields": {"tenant": tenant_id, "state": state,
                                                    "reason": reason}})

    def qr(self, tenant_id: int, qr: QrCode) -> None:
        """A pairing code is on screen: ephemeral, never stored."""
        self._hub.publish_ephemeral(tenant_id, "whatsapp:qr", qr.public())

    # -- agent actions -----------------------------------------------------------------------

    async def send_reply(
        self, tenant_id: int, user_id: int, conversation_id: int, body: str,
        idempotency_key: str | None, *, reply_to: int | None = None,
        template: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Queue a reply through the outbox; the same key answers the same message."""
        ref = await self._ref(tenant_id)
        body = messages.check_body(body)
        key = idempotency_key or "auto:" + secrets.token_urlsafe(16)

        def write(tx: Tx) -> tuple[dict[str, Any], bool]:
            message, created = messages.queue_outbound(
                tx, ref, conversation_id, body, idempotency_key=key, author_user_id=user_id,
                reply_to=reply_to, template=template,
            )
            if created:
                self._touch(tx, tenant_id)
                tx.after_commit.append(self.on_queued)
                self._agent_replied(tx, tenant_id, conversation_id)
            return message, created

        return await self._db.write(write)

    async def send_file(
        self, tenant_id: int, user_id: int, conversation_id: int, caption: str,
        file: media.OutboundFile, idempotency_key: str | None,
    ) -> tuple[dict[str, Any], bool]:
        """Queue an attachment (already stored) like a reply; the same key answers the same one."""
        ref = await self._ref(tenant_id)
        key = idempotency_key or "auto:" + secrets.token_urlsafe(16)

        def write(tx: Tx) -> tuple[dict[str, Any], bool]:
            message, created = messages.queue_outbound(
                tx, ref, conversation_id, caption, idempotency_key=key, author_user_id=user_id,
                file=file,
            )
            if created:
                self._touch(tx, tenant_id)
                tx.after_commit.append(self.on_queued)
                self._agent_replied(tx, tenant_id, conversation_id)
            return message, created

        return await self._db.write(write)

    def _agent_replied(self, tx: Tx, tenant_id: int, conversation_id: int) -> None:
        """A person answers (text or file): the bot steps back here, and the customer who asked
        for a person is attended."""
        if bot_store.pause_for_agent(tx, tenant_id, conversation_id, now_ms()):
            item = conversations.get_item(tx.conn, tenant_id, conversation_id)
            stream.append(tx, tenant_id, "conversation:updated", item, key=conversation_id)
            bot_store.emit_status(tx, tenant_id)

    async def mark_read(self, tenant_id: int, conversation_id: int) -> None:
        """Unread to zero; conversation_updated and stats_updated follow."""
        ref = await self._ref(tenant_id)

        def write(tx: Tx) -> None:
            if messages.mark_read(tx, ref, conversation_id):
                self._touch(tx, tenant_id)
                # The customer's phone shows blue ticks once an agent opened the conversation.
                wa_id = messages.last_inbound_wa_id(tx, tenant_id, conversation_id)
                if wa_id:
                    tx.after_commit.append(lambda: self.on_read(tenant_id, wa_id))

        await self._db.write(write)
