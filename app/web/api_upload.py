"""REST: an agent attaches a photo or a document to a conversation.

`POST /api/v1/conversations/{id}/media`, multipart/form-data: `file` (required) and `caption`
(optional). The file is checked (type allowed, image bytes as declared, size under the kind's
limit, read no further than that), stored by content hash, and queued through the outbox like a
text reply, with the same Idempotency-Key rules. The conversation is checked before the body is
read, so another tenant's id costs no upload and answers like a missing one.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from app import keys
from app.errors import AppError, Invalid
from app.services import conversations, media
from app.text import clean_text
from app.web.api_inbox import MAX_IDEMPOTENCY_KEY
from app.web.bodies import json_response

MAX_PARTS = 4  # file, caption and a little slack; more is not a form of ours


class FileTooLarge(AppError):
    """An attachment over its kind's limit."""

    status = 413
    code = "file_too_large"


class UnsupportedType(AppError):
    """A file type WhatsApp would not take as a photo or document."""

    status = 415
    code = "unsupported_media_type"


async def read_capped(part: BodyPartReader, limit: int) -> bytes:
    """A part's bytes, refused as soon as they pass `limit` (never held beyond it)."""
    chunks: list[bytes] = []
    got = 0
    while chunk := await part.read_chunk(64 * 1024):
        got += len(chunk)
        if got > limit:
            raise FileTooLarge(f"the file is over {limit // (1024 * 1024)} MB", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def handle_upload(request: web.Request) -> web.Response:
    """POST /api/v1/conversations/{id}/media: 201 with the queued message (its `media` ready)."""
    p = request[keys.PRINCIPAL]
    conv_id = conversations.parse_id(request.match_info["id"])
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise Invalid("Idempotency-Key must be 1..200 characters", code="invalid_idempotency_key")
    await request.app[keys.DB].read(lambda c: conversations.get_item(c, p.tenant_id, conv_id))
    if not request.content_type.startswith("multipart/form-data"):
        raise Invalid("send multipart/form-data with a `file` part", code="invalid_body")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError):
        raise Invalid("the multipart body cannot be read", code="invalid_body") from None
    caption, data, mime, filename = "", b"", "", ""
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise Invalid("nested multipart is not accepted", code="invalid_body")
        if part.name == "caption":
            raw = await read_capped(part, media.MAX_CAPTION * 4)
            caption = clean_text(raw.decode("utf-8", "replace")).strip()
            if len(caption) > media.MAX_CAPTION:
                raise Invalid(f"caption is longer than {media.MAX_CAPTION} characters",
                              code="invalid_field", field="caption")
        elif part.name == "file" and not data:
            mime = (part.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            kind = media.upload_kind(mime)
            if kind is None:
                raise UnsupportedType("send a JPEG or PNG photo, or a document (PDF, Office, text)",
                                      field="file")
            filename = part.filename or ""
            data = await read_capped(part, media.UPLOAD_LIMITS[kind])
            if not media.content_matches(mime, data[:16]):
                raise UnsupportedType(f"the file is not a {mime} image", field="file")
        else:
            await part.release()
    if not data:
        raise Invalid("a non-empty `file` part is required", code="invalid_field", field="file")
    kind = media.upload_kind(mime)
    assert kind is not None
    digest = await request.app[keys.MEDIA_STORE].put(p.tenant_id, data)
    file = media.OutboundFile(kind, mime, len(data), digest, filename)
    message, created = await request.app[keys.INBOX].send_file(
        p.tenant_id, p.user_id, conv_id, caption, file, key)
    resp = json_response(message, status=201)
    if not created:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/api/v1/conversations/{id}/media", handle_upload, name="api_upload")
