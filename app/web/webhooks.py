"""Provider webhooks (no JWT: authenticated by the provider's own signature)."""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import web

from app import keys
from app.auth.middleware import public
from app.errors import AppError, Forbidden, NotFound, Unauthorized
from app.web.bodies import MAX_BODY_BYTES, json_object, json_response
from app.whatsapp.cloud import CloudSettings
from app.whatsapp.cloud_webhook import signature_ok

log = logging.getLogger("condorito.webhooks")

# Meta says webhook payloads can reach 3 MB; the rest of the API keeps the 1 MiB default.
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024


class PayloadTooLarge(AppError):
    """A body over the route's limit."""

    status = 413
    code = "payload_too_large"


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The raw body, refused past `limit` bytes without reading it all into memory."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    if request.content_length is not None and request.content_length <= MAX_BODY_BYTES:
        return await request.read()  # the common, small case in one call
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _cloud_tenant(request: web.Request) -> tuple[int, CloudSettings]:
    tenant = await request.app[keys.TENANTS].by_code(request.match_info["client_code"])
    cloud = request.app[keys.CLOUD]
    settings = await cloud.settings(tenant.id) if tenant is not None else None
    if tenant is None or tenant.provider != "cloud" or settings is None:
        raise NotFound("no Cloud API channel here")
    return tenant.id, settings


@public
async def handle_verify(request: web.Request) -> web.Response:
    """GET: Meta's verification handshake; echo the challenge only for our verify token."""
    _, settings = await _cloud_tenant(request)
    mode = request.query.get("hub.mode")
    token = request.query.get("hub.verify_token", "")
    expected = settings.verify_token
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return web.Response(text=request.query.get("hub.challenge", ""))
    raise Forbidden("verification failed", code="verification_failed")


@public
async def handle_post(request: web.Request) -> web.Response:
    """POST: counted and timed for /metrics (by status, errors included)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await _accept(request)
        status = response.status
        return response
    except (AppError, web.HTTPException) as exc:
        status = exc.status
        raise
    finally:
        request.app[keys.METRICS].webhook_done(status, started)


async def _accept(request: web.Request) -> web.Response:
    """Verify the signature on the raw bytes, commit every item, then answer 200."""
    tenant_id, settings = await _cloud_tenant(request)
    body = await read_limited(request, WEBHOOK_MAX_BYTES)
    if not signature_ok(settings.app_secret, body,
                        request.headers.get("X-Hub-Signature-256")):
        log.warning("webhook signature refused", extra={"fields": {"tenant": tenant_id}})
        raise Unauthorized("bad signature", code="invalid_signature")
    payload = json_object(body)
    # 200 only after the delivery is committed: Meta retries anything else, and retries are
    # deduplicated by message id when the delivery is applied.
    await request.app[keys.WEBHOOKS].accept(tenant_id, "cloud", body, payload)
    return json_response({"ok": True})


def setup_routes(app: web.Application) -> None:
    """Register the webhook routes."""
    app.router.add_get("/webhooks/whatsapp/{client_code}", handle_verify, name="webhook_verify")
    app.router.add_post("/webhooks/whatsapp/{client_code}", handle_post, name="webhook_post")
