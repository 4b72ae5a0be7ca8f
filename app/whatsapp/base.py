"""The provider interface and the normalised inbound / status / connection types."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Protocol

from app.errors import AppError, Invalid

# The providers this install implements, by the name a tenant row stores: the one list (the
# CLI, tenant creation and the config API all check against it). `web` (QR pairing through
# neonize) is there only when the optional extra is installed; find_spec does not import it.
SANDBOX = "sandbox"
CLOUD = "cloud"
WEB = "web"
ALL_PROVIDERS = (SANDBOX, CLOUD, WEB)
WEB_INSTALLED = importlib.util.find_spec("neonize") is not None
PROVIDERS = (SANDBOX, CLOUD, WEB) if WEB_INSTALLED else (SANDBOX, CLOUD)
WEB_EXTRA_HINT = "QR pairing needs the whatsapp-web extra: pip install -e '.[whatsapp-web]'"


def check_provider(provider: object) -> str:
    """A provider name this install can use, or a 4xx saying which names exist or what to install."""
    if provider == WEB and not WEB_INSTALLED:
        raise ProviderError("provider_unavailable", WEB_EXTRA_HINT)
    if provider not in PROVIDERS:
        raise Invalid(f"provider must be one of {', '.join(PROVIDERS)}", code="invalid_provider")
    return str(provider)

# PROTOCOL §2 `GET /whatsapp` states.
STATES = ("stopped", "starting", "qr_pending", "connected", "disconnected", "logged_out", "failed")


# Message types that carry a file, and the most bytes we keep of each (Meta's own limits,
# reference whatsapp-apis §2.8; a sticker may be animated: 500 KB).
MEDIA_LIMITS = {
    "image": 5 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}


@dataclass(frozen=True, slots=True)
class InboundMedia:
    """The file an inbound message announces; the domain fetches it through the provider."""

    kind: str            # a key of MEDIA_LIMITS
    media_id: str        # the provider's id to fetch it by
    mime: str = ""
    sha256: str = ""     # as the provider announced it (Meta: base64 or hex)
    filename: str = ""   # documents only: the name the sender gave


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    """A file a provider downloaded (never larger than the limit asked for)."""

    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a customer sent, as every provider reports it."""

    wa_id: str          # the provider's message id: the dedupe key
    from_phone: str     # E.164 digits without '+', or a provider user id
    name: str
    type: str
    body: str
    timestamp: int      # unix ms, as the provider says
    media: InboundMedia | None = None


@dataclass(frozen=True, slots=True)
class Ingested:
    """What became of one inbound message."""

    message_id: str
    conversation_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A receipt for a message we sent."""

    wa_id: str
    status: str         # sent | delivered | read | failed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QrCode:
    """A pairing code currently on screen."""

    value: str
    svg: str
    expires_at: int     # unix ms

    def public(self) -> dict[str, object]:
        """The `qr` object of the API and of `whatsapp_qr`."""
        return {"value": self.value, "svg": self.svg, "expires_at": self.expires_at}


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """A file to send (the domain read it from storage; providers get the bytes)."""

    kind: str            # image | document
    mime: str
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A send the outbox asks for."""

    outbox_id: int
    message_id: int
    to: str
    body: str            # the text, or the caption of `media`
    media: OutboundMedia | None = None
    reply_to: str | None = None   # the provider id of the message this one answers
    template: dict[str, Any] | None = None  # {name, language, params}: a template send


class ProviderError(AppError):
    """A send or connect the provider refused; `code` is stable, `retryable` says what to do."""

    status = 409

    def __init__(self, code: str, message: str = "", *, retryable: bool = False,
                 min_delay: float = 0.0, throttled: bool = False, pause: str | None = None) -> None:
        super().__init__(message or code, code=code)
        self.retryable = retryable
        self.min_delay = min_delay    # seconds at least before the retry (131056: one recipient)
        self.throttled = throttled    # the number sends too fast: its send rate goes down
        self.pause = pause            # a link reason (auth_error, restricted): the tenant's sends stop


class ProviderSink(Protocol):
    """What providers report to the domain (implemented in services/inbox.py)."""

    async def inbound(self, tenant_id: int, msg: InboundMessage) -> Ingested:
        """A customer's message arrived."""

    async def status(self, tenant_id: int, update: StatusUpdate) -> None:
        """A receipt for one of our messages arrived."""

    async def link_state(
        self, tenant_id: int, state: str, *, phone: str | None = None, reason: str | None = None
    ) -> None:
        """The WhatsApp link changed state."""

    def qr(self, tenant_id: int, qr: QrCode) -> None:
        """A new pairing code is on screen (ephemeral)."""


class Provider(Protocol):
    """One WhatsApp backend."""

    name: str

    async def connect(self, tenant_id: int, public_base: str) -> None:
        """Start linking the tenant's number (202: progress comes as events)."""

    async def logout(self, tenant_id: int) -> None:
        """Unlink the tenant's number."""

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        """Send one message; return the provider's message id, or raise ProviderError."""

    def current_qr(self, tenant_id: int) -> QrCode | None:
        """The pairing code on screen now, if any."""

    async def fetch_media(self, tenant_id: int, media_id: str, max_bytes: int) -> FetchedMedia:
        """Download an inbound file; ProviderError (`media_too_large`, retryable or not) if not."""
