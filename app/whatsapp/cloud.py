"""Meta WhatsApp Cloud API: a tenant's settings and the send call (text, media, templates,
mark-as-read), with Graph's error codes sorted into retry, pause and fail.

Inbound (signature and parsing) is app/whatsapp/cloud_webhook.py. Receipts find their message by
the wamid the send returned (stored with the message).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.whatsapp.base import (
    CLOUD,
    FetchedMedia,
    OutboundMessage,
    ProviderError,
    ProviderSink,
    QrCode,
)
from app.whatsapp.cloud_templates import Template, TemplateCache, graph_component, parse_templates

log = logging.getLogger("condorito.cloud")


class UpstreamError(ProviderError):
    """Meta could not be asked, or refused: our request was fine, theirs failed (502)."""

    status = 502

SEND_TIMEOUT = 15.0
MEDIA_TIMEOUT = 120.0  # a 100 MB document on a slow link; the URL itself lives ~5 minutes
# What a Graph error code means for the sender (shared/reference/whatsapp-apis.md §2.5).
# Retryable: throttling and transient failures; any other code is final at once.
RETRYABLE = {4, 80007, 130429, 131000, 131016, 131056, 133004}
# Seconds at least before trying again: the pair limit is ~1 message per 6 s to one recipient;
# app- and account-level call limits need minutes.
MIN_DELAY = {131056: 6.0, 4: 60.0, 80007: 60.0}
# The number itself is over its throughput: the per-number send rate goes down (governor).
THROTTLED = {130429, 4, 80007}
# The channel cannot send until an admin acts: the link fails with this reason, sends wait.
PAUSE = {190: "auth_error", 368: "restricted", 131048: "restricted", 131031: "restricted"}
# A voice note's first play counts as read; our statuses have no `played`.
@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Cloud API credentials of one tenant."""

    phone_number_id: str
    access_token: str
    app_secret: str
    verify_token: str
    api_base: str
    waba_id: str = ""   # the WhatsApp Business Account (its message templates)

    @property
    def complete(self) -> bool:
        """True when sends and webhooks can work."""
        return bool(self.phone_number_id and self.access_token and self.app_secret)


class CloudProvider:
    """Sends through the Graph API; inbound arrives by webhook (app/web/webhooks.py)."""

    name = CLOUD

    def __init__(self, load: Callable[[int], Awaitable[CloudSettings | None]],
                 session: aiohttp.ClientSession, sink: ProviderSink) -> None:
        self._load = load
        self._session = session
        self._sink = sink
        self._cache: dict[int, CloudSettings | None] = {}
        self.templates = TemplateCache(self._fetch_templates)

    async def settings(self, tenant_id: int) -> CloudSettings | None:
        """A tenant's Cloud API settings (cached; `forget` after a change)."""
        if tenant_id not in self._cache:
            self._cache[tenant_id] = await self._load(tenant_id)
        return self._cache[tenant_id]

    def forget(self, tenant_id: int) -> None:
        """Settings changed."""
        self._cache.pop(tenant_id, None)
        self.templates.forget(tenant_id)

    async def _fetch_templates(self, tenant_id: int) -> list[Template]:
        """GET /{waba_id}/message_templates: the approved ones (one page of up to 200)."""
        settings = await self.settings(tenant_id)
        if settings is None or not settings.complete:
            raise ProviderError("cloud_not_configured")
        if not settings.waba_id:
            raise ProviderError("waba_id_missing", "set waba_id in the WhatsApp settings")
        url = f"{settings.api_base.rstrip('/')}/{settings.waba_id}/message_templates"
        try:
            async with self._session.get(
                url, params={"status": "APPROVED", "limit": "200",
                             "fields": "name,language,status,category,components"},
                headers={"Authorization": f"Bearer {settings.access_token}"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
            ) as resp:
                raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            raise UpstreamError("provider_unreachable") from None
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if resp.status != 200 or not isinstance(data, dict):
            raise UpstreamError(graph_error(tenant_id, resp.status, data).code)
        return parse_templates(data)

    async def connect(self, tenant_id: int, public_base: str) -> None:
        """Nothing to pair: the Cloud API is configured, not scanned."""
        settings = await self.settings(tenant_id)
        if settings is None or not settings.complete:
            raise ProviderError("cloud_not_configured", "set phone_number_id, access_token, app_secret")
        await self._sink.link_state(tenant_id, "connected", phone=settings.phone_number_id)

    async def logout(self, tenant_id: int) -> None:
        """Stop using the number here (nothing to unlink on Meta's side)."""
        await self._sink.link_state(tenant_id, "logged_out", reason="logout")

    def current_qr(self, tenant_id: int) -> QrCode | None:
        """The Cloud API has no QR."""
        return None

    async def mark_read(self, tenant_id: int, wa_id: str) -> bool:
        """Blue ticks on the customer's phone for this message and the earlier ones (§2.2).

        Best effort: a refusal is logged, never raised (nothing waits on it)."""
        settings = await self.settings(tenant_id)
        if settings is None or not settings.complete:
            return False
        url = f"{settings.api_base.rstrip('/')}/{settings.phone_number_id}/messages"
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": wa_id}
        try:
            async with self._session.post(
                url, data=orjson.dumps(body),
                headers={"Authorization": f"Bearer {settings.access_token}",
                         "Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
            ) as resp:
                raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("mark read unreachable", extra={"fields": {"tenant": tenant_id,
                                                                "error": type(exc).__name__}})
            return False
        if resp.status == 200:
            return True
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        graph_error(tenant_id, resp.status, data)  # logs code and fbtrace_id
        return False

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        """POST /{phone_number_id}/messages; return the wamid."""
        settings = await self.settings(tenant_id)
        if settings is None or not settings.complete:
            raise ProviderError("cloud_not_configured")
        body: dict[str, Any] = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": msg.to}
        if msg.template:
            body.update(type="template", template=graph_component(msg.template))
        else:
            body.update(type="text", text={"body": msg.body, "preview_url": False})
        if msg.media is not None:  # uploaded first, then sent by its media id
            body.pop("text")
            body["type"] = msg.media.kind
            body[msg.media.kind] = media_payload(msg, await self.upload_media(tenant_id, settings, msg))
        if msg.reply_to:
            body["context"] = {"message_id": msg.reply_to}  # shown quoted on the phone
        url = f"{settings.api_base.rstrip('/')}/{settings.phone_number_id}/messages"
        try:
            async with self._session.post(
                url, data=orjson.dumps(body),
                headers={"Authorization": f"Bearer {settings.access_token}",
                         "Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
            ) as resp:
                raw = await resp.read()
        except TimeoutError:
            # Ambiguous (Meta may have taken it), but a reply that never leaves is worse.
            raise ProviderError("provider_timeout", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise ProviderError("provider_unreachable", type(exc).__name__, retryable=True) from None
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None  # a proxy's HTML error page: judged by its HTTP status
        try:
            if resp.status >= 400:
                raise KeyError("error status")
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise graph_error(tenant_id, resp.status, data) from None

    async def fetch_media(self, tenant_id: int, media_id: str, max_bytes: int) -> FetchedMedia:
        """GET /{media_id} for the short-lived URL, then GET that URL, both with the token.

        The URL lives ~5 minutes, so it is looked up again on every attempt. Over `max_bytes`
        (announced or actually read) raises `media_too_large`, reading no further.
        """
        settings = await self.settings(tenant_id)
        if settings is None or not settings.complete:
            raise ProviderError("cloud_not_configured", retryable=True)
        auth = {"Authorization": f"Bearer {settings.access_token}"}
        timeout = aiohttp.ClientTimeout(total=MEDIA_TIMEOUT)
        try:
            async with self._session.get(f"{settings.api_base.rstrip('/')}/{media_id}",
                                         headers=auth, timeout=timeout) as resp:
                info = await resp.json(content_type=None)
            if resp.status >= 400 or not isinstance(info, dict) or not info.get("url"):
                err = info.get("error") or {} if isinstance(info, dict) else {}
                code = err.get("code") if isinstance(err, dict) else None
                raise ProviderError(f"wa_{code}" if code else f"http_{resp.status}",
                                    retryable=code in RETRYABLE or resp.status >= 500
                                    or resp.status == 429)
            announced = info.get("file_size")
            if isinstance(announced, int) and announced > max_bytes:
                raise ProviderError("media_too_large")
            async with self._session.get(str(info["url"]), headers=auth, timeout=timeout) as resp:
                if resp.status >= 400:
                    # 401/403/404 here mostly mean the short-lived URL expired: a new lookup helps.
                    raise ProviderError(f"http_{resp.status}",
                                        retryable=resp.status >= 500 or resp.status in (401, 403, 404, 429))
                if (resp.content_length or 0) > max_bytes:
                    raise ProviderError("media_too_large")
                chunks: list[bytes] = []
                got = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    got += len(chunk)
                    if got > max_bytes:
                        raise ProviderError("media_too_large")
                    chunks.append(chunk)
                mime = str(info.get("mime_type") or resp.content_type or "")
                return FetchedMedia(b"".join(chunks), mime)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError("provider_unreachable", str(exc)[:200], retryable=True) from None

    async def upload_media(self, tenant_id: int, settings: CloudSettings, msg: OutboundMessage) -> str:
        """POST /{phone_number_id}/media (multipart `file`, `type`, `messaging_product`) -> its id.

        Refusals are judged like a send's (graph_error): a 190 here fails the link all the same.
        """
        assert msg.media is not None
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", msg.media.mime)
        form.add_field("file", msg.media.data, content_type=msg.media.mime,
                       filename=msg.media.filename or f"{msg.media.kind}")
        url = f"{settings.api_base.rstrip('/')}/{settings.phone_number_id}/media"
        try:
            async with self._session.post(
                url, data=form, headers={"Authorization": f"Bearer {settings.access_token}"},
                timeout=aiohttp.ClientTimeout(total=MEDIA_TIMEOUT),
            ) as resp:
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError("provider_unreachable", str(exc)[:200], retryable=True) from None
        if resp.status >= 400 or not isinstance(data, dict) or not data.get("id"):
            raise graph_error(tenant_id, resp.status, data)
        return str(data["id"])


def media_payload(msg: OutboundMessage, media_id: str) -> dict[str, str]:
    """The `image` / `document` object of a send by media id (caption optional, a name for
    documents so the customer's phone shows it)."""
    assert msg.media is not None
    obj = {"id": media_id}
    if msg.body:
        obj["caption"] = msg.body
    if msg.media.kind == "document" and msg.media.filename:
        obj["filename"] = msg.media.filename
    return obj

def graph_error(tenant_id: int, http_status: int, data: Any) -> ProviderError:
    """The ProviderError for a Graph answer without a message id (branch on `code`, not HTTP)."""
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    if not isinstance(code, int):
        # No Meta error body: a proxy's 5xx or a 429 is worth another try, the rest is final.
        return ProviderError(f"http_{http_status}", retryable=http_status >= 500 or http_status == 429)
    # fbtrace_id is what Meta support asks for; the message text may quote the body, so not logged.
    log.info("graph error", extra={"fields": {"tenant": tenant_id, "code": code,
                                              "subcode": err.get("error_subcode"),
                                              "fbtrace_id": err.get("fbtrace_id")}})
    return ProviderError(f"wa_{code}", str(err.get("message", ""))[:200],
                         retryable=code in RETRYABLE or http_status >= 500,
                         min_delay=MIN_DELAY.get(code, 0.0), throttled=code in THROTTLED,
                         pause=PAUSE.get(code))
