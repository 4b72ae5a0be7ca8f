"""REST: a message's file, to that tenant's users only (`GET /api/v1/media/{message id}`).

Another tenant's id answers exactly like a missing one (404 `not_found`). What a sender could
make a browser run is never shown inline: only common images, audio and video are; documents
and anything else download (`Content-Disposition: attachment`), and every answer carries
nosniff (app/web/headers.py) and a CSP that allows nothing, so even a file opened on its own
cannot run script on our origin.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from app import keys
from app.errors import Conflict, Invalid, NotFound
from app.services import conversations, media
from app.whatsapp.base import MEDIA_LIMITS, FetchedMedia

log = logging.getLogger("condorito.media")

# Shown in the page (img/audio/video); everything else is a download.
INLINE = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
INLINE_PREFIXES = ("audio/", "video/")
IN_MEMORY_MAX = 16 * 1024 * 1024  # photos, voice notes, videos: answered from memory
MEDIA_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# Types a browser would run as a page or script if opened directly: answered as plain bytes.
ACTIVE = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                    "text/javascript", "application/javascript", "application/x-javascript"})


def served_type(mime: str) -> str:
    """The Content-Type of an answer: the file's own, unless a browser would execute it."""
    return "application/octet-stream" if mime in ACTIVE else mime


def disposition(kind: str, mime: str, filename: str, message_id: int) -> str:
    """inline for what the page shows, attachment otherwise; RFC 6266 filename* in UTF-8."""
    inline = kind != "document" and (mime in INLINE or mime.startswith(INLINE_PREFIXES))
    name = filename or f"{kind}-{message_id}"
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    return (f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\";"
            f" filename*=UTF-8''{quote(name, safe='')}")


async def handle_get_media(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/media/{id}: the bytes, with their type; 409 while pending or after failing."""
    p = request[keys.PRINCIPAL]
    message_id = conversations.parse_id(request.match_info["id"])
    found = await request.app[keys.DB].read(lambda c: media.get_ready(c, p.tenant_id, message_id))
    if found is None:
        raise NotFound("media not found")
    if isinstance(found, str):
        raise Conflict(f"the file is {found}", code=f"media_{found}")
    store = request.app[keys.MEDIA_STORE]
    headers = {
        "Content-Type": served_type(found.mime),
        "Content-Disposition": disposition(found.kind, found.mime, found.filename, message_id),
        # The bytes behind an id never change once ready; only this browser's user may keep them.
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Security-Policy": MEDIA_CSP,
    }
    try:
        if found.size <= IN_MEMORY_MAX:
            return web.Response(body=await store.read(p.tenant_id, found.sha256), headers=headers)
        path = store.path(p.tenant_id, found.sha256)
        if not path.is_file():
            raise FileNotFoundError(path)
        return web.FileResponse(path, headers=headers)
    except FileNotFoundError:
        log.warning("media file missing", extra={"fields": {"tenant": p.tenant_id, "message": message_id}})
        raise NotFound("media not found") from None


def sandbox_media(raw: Any) -> tuple[str, FetchedMedia, str] | None:
    """The optional `media` of `POST /api/v1/sandbox/inbound`:
    `{"type": "image|audio|video|document|sticker", "mime", "data": base64, "filename"?}`."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Invalid("media must be an object", code="invalid_field", field="media")
    kind, mime, data = raw.get("type"), raw.get("mime"), raw.get("data")
    if kind not in MEDIA_LIMITS:
        raise Invalid("media.type must be image, audio, video, document or sticker",
                      code="invalid_field", field="media.type")
    if not isinstance(mime, str) or not media.is_mime(mime):
        raise Invalid("media.mime must be a MIME type", code="invalid_field", field="media.mime")
    filename = raw.get("filename", "")
    if not isinstance(filename, str) or len(filename) > 200:
        raise Invalid("media.filename must be a string", code="invalid_field", field="media.filename")
    try:
        blob = base64.b64decode(data if isinstance(data, str) else "", validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    if not blob:
        raise Invalid("media.data must be non-empty base64", code="invalid_field", field="media.data")
    return kind, FetchedMedia(blob, mime), filename


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/api/v1/media/{id}", handle_get_media, name="api_media")
