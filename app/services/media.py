"""Media rows: the file of a message, as stored and as the API shows it.

Write functions run inside `db.write`. The bytes themselves are in app/services/media_store.py;
the download of inbound files in app/services/media_fetcher.py.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from app.clock import now_ms
from app.db import Tx
from app.realtime import stream
from app.text import clean_text
from app.whatsapp.base import MEDIA_LIMITS, InboundMedia

# Downloads are retried this many times (with backoff) before the file is given up as failed.
MAX_ATTEMPTS = 8
BACKOFF_BASE_MS = 2_000
BACKOFF_CAP_MS = 15 * 60 * 1000

# A MIME type as we are willing to echo it back in Content-Type: no spaces, quotes or line breaks
# from a provider or a browser ever reach a header.
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")

# Columns of the message queries that describe its media (LEFT JOIN media md).
MESSAGE_MEDIA_COLS = (
    "md.kind AS media_kind, md.mime AS media_mime, md.size AS media_size,"
    " md.filename AS media_filename, md.state AS media_state, md.error AS media_error"
)
MESSAGE_MEDIA_JOIN = " LEFT JOIN media md ON md.message_id = m.id AND md.tenant_id = m.tenant_id"


def is_mime(raw: str) -> bool:
    """True for a plain type/subtype (what a client may declare)."""
    return bool(_MIME.match(raw.strip().lower()))


def clean_mime(raw: str) -> str:
    """The bare type/subtype, lower-cased, or application/octet-stream when it is not one."""
    mime = raw.split(";", 1)[0].strip().lower()
    return mime if _MIME.match(mime) else "application/octet-stream"


def safe_filename(raw: str) -> str:
    """A sender's file name as shown and offered for download: no control characters, no
    directories (it never names a file on our disk either way)."""
    name = clean_text(raw or "").replace("\n", " ").replace("\t", " ")
    name = name.replace("/", "_").replace("\\", "_").strip().lstrip(".")
    return name[:200]


def url(message_id: int | str) -> str:
    """Where the tenant's users fetch the file."""
    return f"/api/v1/media/{message_id}"


def media_object(message_id: int | str, kind: str, mime: str, size: int | None, filename: str | None,
                 state: str, error: str | None) -> dict[str, Any]:
    """The `media` object of a message (an addition to PROTOCOL §3.2's message object)."""
    obj: dict[str, Any] = {"url": url(message_id), "kind": kind, "mime": mime, "size": size,
                           "filename": filename or "", "state": state}
    if error:
        obj["error"] = error
    return obj


def from_row(row: sqlite3.Row) -> dict[str, Any] | None:
    """The media object from a message row read with MESSAGE_MEDIA_COLS, or None."""
    if row["media_state"] is None:
        return None
    return media_object(row["id"], row["media_kind"], row["media_mime"], row["media_size"],
                        row["media_filename"], row["media_state"], row["media_error"])


def add_inbound(tx: Tx, tenant_id: int, message_id: int, media: InboundMedia, now: int) -> dict[str, Any]:
    """Record an announced file as pending (the fetcher picks it up); return its media object."""
    mime = clean_mime(media.mime) if media.mime else ""
    filename = safe_filename(media.filename)
    tx.execute(
        "INSERT INTO media (message_id, tenant_id, kind, provider_media_id, mime, expected_sha256,"
        " filename, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (message_id, tenant_id, media.kind, media.media_id, mime, media.sha256 or None,
         filename or None, now, now),
    )
    return media_object(message_id, media.kind, mime, None, filename, "pending", None)


# What an agent may attach (WhatsApp sends these as `image` or `document`), and the most bytes
# we take of each through our server: Meta's image limit; documents are bounded below Meta's
# 100 MB because an upload is held in memory while it is checked and stored.
UPLOAD_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
UPLOAD_DOCUMENT_TYPES = frozenset({
    "application/pdf", "text/plain", "text/csv", "application/zip",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
})
UPLOAD_LIMITS = {"image": MEDIA_LIMITS["image"], "document": 16 * 1024 * 1024}
MAX_CAPTION = 1024  # WhatsApp's caption limit
# The first bytes of the image types we accept: a declared type the bytes contradict is refused.
_SIGNATURES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


def upload_kind(mime: str) -> str | None:
    """`image` or `document` for a type an agent may send, else None."""
    if mime in UPLOAD_IMAGE_TYPES:
        return "image"
    return "document" if mime in UPLOAD_DOCUMENT_TYPES else None


def content_matches(mime: str, head: bytes) -> bool:
    """For images, the bytes start as their type says (documents are not sniffed)."""
    signature = _SIGNATURES.get(mime)
    return signature is None or head.startswith(signature)


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """An attachment already stored (by digest), to go out with a message."""

    kind: str
    mime: str
    size: int
    sha256: str
    filename: str


def add_outbound(tx: Tx, tenant_id: int, message_id: int, file: OutboundFile, now: int) -> None:
    """An agent's attachment: stored before the message exists, so it is ready at once."""
    tx.execute(
        "INSERT INTO media (message_id, tenant_id, kind, mime, size, sha256, filename, state,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?)",
        (message_id, tenant_id, file.kind, file.mime, file.size, file.sha256,
         safe_filename(file.filename) or None, now, now),
    )


@dataclass(frozen=True, slots=True)
class PendingDownload:
    """One file to fetch."""

    message_id: int
    tenant_id: int
    kind: str
    media_id: str
    expected_sha256: str
    attempts: int

    @property
    def max_bytes(self) -> int:
        """The most bytes this kind of file may have."""
        return MEDIA_LIMITS[self.kind]


def due(conn: sqlite3.Connection, limit: int) -> list[PendingDownload]:
    """Pending downloads whose time has come, oldest due first (every tenant: a worker's view)."""
    rows = conn.execute(
        "SELECT message_id, tenant_id, kind, provider_media_id, expected_sha256, attempts"
        " FROM media INDEXED BY media_pending WHERE state = 'pending' AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at LIMIT ?",
        (now_ms(), limit),
    ).fetchall()
    return [PendingDownload(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5]) for r in rows]


def next_due_at(conn: sqlite3.Connection) -> int | None:
    """When the next pending download is due (unix ms), or None when none is pending."""
    return conn.execute(
        "SELECT MIN(next_attempt_at) FROM media INDEXED BY media_pending WHERE state = 'pending'"
    ).fetchone()[0]


def _announce(tx: Tx, tenant_id: int, message_id: int) -> None:
    """`message_media` (latest per message): the file became ready or failed."""
    row = tx.execute(
        "SELECT m.conversation_id, md.kind, md.mime, md.size, md.filename, md.state, md.error"
        " FROM media md JOIN messages m ON m.id = md.message_id AND m.tenant_id = md.tenant_id"
        " WHERE md.message_id = ? AND md.tenant_id = ?",
        (message_id, tenant_id),
    ).fetchone()
    if row is None:
        return
    stream.append(tx, tenant_id, "message:media", {
        "message_id": str(message_id), "conversation_id": str(row[0]),
        "media": media_object(message_id, row[1], row[2], row[3], row[4], row[5], row[6]),
    }, key=message_id)


def mark_ready(tx: Tx, tenant_id: int, message_id: int, mime: str, size: int, sha256: str) -> None:
    """The file is stored: the row points at it and every screen hears of it."""
    mime = clean_mime(mime) if mime else ""  # none given: keep what the message announced
    tx.execute(
        "UPDATE media SET state = 'ready', mime = IIF(? = '', mime, ?), size = ?, sha256 = ?,"
        " error = NULL, updated_at = ? WHERE message_id = ? AND tenant_id = ? AND state = 'pending'",
        (mime, mime, size, sha256, now_ms(), message_id, tenant_id),
    )
    _announce(tx, tenant_id, message_id)


def mark_failed(tx: Tx, tenant_id: int, message_id: int, reason: str) -> None:
    """Given up: the reason stays on the row and is shown in words."""
    tx.execute(
        "UPDATE media SET state = 'failed', error = ?, updated_at = ?"
        " WHERE message_id = ? AND tenant_id = ? AND state = 'pending'",
        (reason[:100], now_ms(), message_id, tenant_id),
    )
    _announce(tx, tenant_id, message_id)


def retry_later(tx: Tx, tenant_id: int, message_id: int, delay_ms: int, reason: str) -> None:
    """A failed attempt that may work later: count it and set when to try again."""
    now = now_ms()
    tx.execute(
        "UPDATE media SET attempts = attempts + 1, next_attempt_at = ?, error = ?, updated_at = ?"
        " WHERE message_id = ? AND tenant_id = ? AND state = 'pending'",
        (now + delay_ms, reason[:100], now, message_id, tenant_id),
    )


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A ready file as the media route serves it."""

    kind: str
    mime: str
    size: int
    sha256: str
    filename: str


def get_ready(conn: sqlite3.Connection, tenant_id: int, message_id: int) -> StoredMedia | str | None:
    """The tenant's stored file of a message; None when there is none (or not this tenant's);
    the state ('pending' or 'failed') when it exists but has no bytes yet."""
    row = conn.execute(
        "SELECT kind, mime, size, sha256, filename, state FROM media"
        " WHERE message_id = ? AND tenant_id = ?",
        (message_id, tenant_id),
    ).fetchone()
    if row is None:
        return None
    if row[5] != "ready":
        return str(row[5])
    return StoredMedia(row[0], row[1] or "application/octet-stream", row[2], row[3], row[4] or "")
