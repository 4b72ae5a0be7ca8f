"""The sandbox provider: a WhatsApp stand-in on this machine (the embedded default).

Pairing shows a real, scannable QR that encodes a pairing URL on this server; it rotates every
QR_ROTATE seconds and gives up after QR_MAX codes, like WhatsApp Web. Opening the URL and
confirming pairs the tenant. Sends are acknowledged `sent`, `delivered`, then `read`.
Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

import segno

from app.clock import now_ms
from app.whatsapp.base import (
    SANDBOX,
    FetchedMedia,
    InboundMedia,
    InboundMessage,
    Ingested,
    OutboundMessage,
    ProviderError,
    ProviderSink,
    QrCode,
    StatusUpdate,
)

log = logging.getLogger("condorito.sandbox")

QR_ROTATE = 20.0   # seconds a code stays valid (whatsmeow shows later codes for 20 s)
QR_MAX = 6         # codes shown before giving up, as WhatsApp Web does
# Receipt delays after a send: quick enough for a demo, slow enough to see the ticks change.
RECEIPTS = (("sent", 0.05), ("delivered", 0.4), ("read", 1.5))
PAIR_PATH = "/sandbox/pair/"


def render_qr(value: str) -> str:
    """An SVG QR code for `value` (scales with its container)."""
    return segno.make(value, error="m").svg_inline(scale=4, border=4, omitsize=True)


@dataclass(slots=True)
class _Pairing:
    tenant_id: int
    base: str
    token: str = ""
    qr: QrCode | None = None
    task: asyncio.Task[None] | None = None
    shown: int = 0
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class SandboxProvider:
    """One instance serves every sandbox tenant."""

    name = SANDBOX

    def __init__(self, sink: ProviderSink) -> None:
        self._sink = sink
        self._pairings: dict[int, _Pairing] = {}
        self._tokens: dict[str, int] = {}
        self._connected: dict[int, str] = {}   # tenant -> phone, for sends
        self._receipts: set[asyncio.Task[None]] = set()
        # Files the sandbox phone sent, until the domain fetched them (memory only, like the
        # phone: a restart before the download loses them, and the download then fails).
        self._blobs: dict[tuple[int, str], FetchedMedia] = {}

    def restore(self, tenant_id: int, phone: str) -> None:
        """Mark a tenant paired (from the stored state at start-up)."""
        self._connected[tenant_id] = phone

    # -- pairing -----------------------------------------------------------------------------

    async def connect(self, tenant_id: int, public_base: str) -> None:
        """Start pairing: `starting`, then rotating QR codes until confirmed or given up."""
        if tenant_id in self._connected:
            # Already paired: say so again, so a screen waiting for progress is not left hanging.
            await self._sink.link_state(tenant_id, "connected", phone=self._connected[tenant_id])
            return
        current = self._pairings.get(tenant_id)
        if current is not None:
            if current.qr is not None:
                self._sink.qr(tenant_id, current.qr)  # the code on screen now, for a new screen
            return
        pairing = _Pairing(tenant_id, public_base.rstrip("/"))
        self._pairings[tenant_id] = pairing
        await self._sink.link_state(tenant_id, "starting")
        pairing.task = asyncio.get_running_loop().create_task(self._rotate(pairing))

    async def _rotate(self, pairing: _Pairing) -> None:
        try:
            await self._sink.link_state(pairing.tenant_id, "qr_pending")
            while pairing.shown < QR_MAX:
                self._new_code(pairing)
                await asyncio.sleep(QR_ROTATE)
            self._drop(pairing)
            await self._sink.link_state(pairing.tenant_id, "disconnected", reason="qr_timeout")
        except asyncio.CancelledError:
            self._drop(pairing)
            raise
        except Exception:
            log.exception("sandbox pairing failed", extra={"fields": {"tenant": pairing.tenant_id}})
            self._drop(pairing)
            await self._sink.link_state(pairing.tenant_id, "failed", reason="internal_error")

    def _new_code(self, pairing: _Pairing) -> None:
        self._tokens.pop(pairing.token, None)
        pairing.token = secrets.token_urlsafe(24)
        pairing.shown += 1
        self._tokens[pairing.token] = pairing.tenant_id
        value = f"{pairing.base}{PAIR_PATH}{pairing.token}"
        pairing.qr = QrCode(value=value, svg=render_qr(value),
                            expires_at=now_ms() + int(QR_ROTATE * 1000))
        self._sink.qr(pairing.tenant_id, pairing.qr)

    def _drop(self, pairing: _Pairing) -> None:
        self._tokens.pop(pairing.token, None)
        if self._pairings.get(pairing.tenant_id) is pairing:
            del self._pairings[pairing.tenant_id]

    def pairing_tenant(self, token: str) -> int | None:
        """The tenant a pairing token (from a QR on screen now) belongs to."""
        tenant_id = self._tokens.get(token)
        pairing = self._pairings.get(tenant_id) if tenant_id is not None else None
        if pairing is None or pairing.qr is None or pairing.qr.expires_at < now_ms():
            return None
        return tenant_id

    async def confirm(self, token: str, phone: str) -> int | None:
        """The phone confirmed the pairing page: the tenant is connected. None if expired."""
        tenant_id = self.pairing_tenant(token)
        if tenant_id is None:
            return None
        pairing = self._pairings[tenant_id]
        self._drop(pairing)
        if pairing.task is not None:
            pairing.task.cancel()
        self._connected[tenant_id] = phone
        await self._sink.link_state(tenant_id, "connected", phone=phone)
        return tenant_id

    async def logout(self, tenant_id: int) -> None:
        """Unpair: the link is `logged_out` and must be paired again."""
        pairing = self._pairings.get(tenant_id)
        if pairing is not None and pairing.task is not None:
            pairing.task.cancel()
            self._drop(pairing)
        self._connected.pop(tenant_id, None)
        await self._sink.link_state(tenant_id, "logged_out", reason="logout")

    def current_qr(self, tenant_id: int) -> QrCode | None:
        """The code on screen now."""
        pairing = self._pairings.get(tenant_id)
        return pairing.qr if pairing is not None else None

    # -- messages ----------------------------------------------------------------------------

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        """Accept a message for a paired tenant; receipts follow a moment later."""
        if tenant_id not in self._connected:
            raise ProviderError("whatsapp_not_connected", "pair the WhatsApp number first")
        wa_id = "sbx.out." + secrets.token_hex(10)
        task = asyncio.get_running_loop().create_task(self._receipts_for(tenant_id, wa_id))
        self._receipts.add(task)
        task.add_done_callback(self._receipts.discard)
        return wa_id

    async def _receipts_for(self, tenant_id: int, wa_id: str) -> None:
        elapsed = 0.0
        for status, at in RECEIPTS:
            await asyncio.sleep(at - elapsed)
            elapsed = at
            await self._sink.status(tenant_id, StatusUpdate(wa_id, status))

    async def inject(
        self, tenant_id: int, *, phone: str, name: str, body: str, wa_id: str | None,
        media: tuple[str, FetchedMedia, str] | None = None,
    ) -> Ingested:
        """The sandbox phone sends the tenant a message: processed as a real inbound one.

        `media` is (kind, file, filename): held here until the domain fetches it, as a real
        provider holds it until downloaded.
        """
        announced = None
        if media is not None:
            kind, blob, filename = media
            media_id = "sbx.media." + secrets.token_hex(10)
            self._blobs[(tenant_id, media_id)] = blob
            announced = InboundMedia(kind=kind, media_id=media_id, mime=blob.mime, filename=filename)
        msg = InboundMessage(
            wa_id=wa_id or "sbx.in." + secrets.token_hex(10), from_phone=phone, name=name,
            type=media[0] if media else "text", body=body, timestamp=now_ms(), media=announced,
        )
        return await self._sink.inbound(tenant_id, msg)

    async def fetch_media(self, tenant_id: int, media_id: str, max_bytes: int) -> FetchedMedia:
        """A file the sandbox phone sent (per tenant: another tenant's id is simply unknown)."""
        blob = self._blobs.get((tenant_id, media_id))
        if blob is None:
            raise ProviderError("media_not_found")
        if len(blob.data) > max_bytes:
            raise ProviderError("media_too_large")
        del self._blobs[(tenant_id, media_id)]
        return blob

    async def close(self) -> None:
        """Stop pairings and pending receipts."""
        tasks = [p.task for p in self._pairings.values() if p.task is not None]
        tasks += list(self._receipts)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
