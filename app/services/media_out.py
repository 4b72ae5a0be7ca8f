"""The file of an outbound message, read from storage right before the provider is called.

The outbox claims rows without knowing about files; for a message that has one, this gives the
provider its bytes (providers touch no storage). Text messages cost one primary-key lookup.
"""

from __future__ import annotations

import dataclasses

from app.db import Database
from app.services.media_store import MediaStore
from app.whatsapp.base import OutboundMedia, OutboundMessage, ProviderError


class OutboundFiles:
    """`await files(tenant_id, msg)`: the message, with its file when it has one."""

    def __init__(self, db: Database, store: MediaStore) -> None:
        self._db = db
        self._store = store

    async def __call__(self, tenant_id: int, msg: OutboundMessage) -> OutboundMessage:
        row = await self._db.read(lambda c: c.execute(
            "SELECT kind, mime, filename, sha256 FROM media"
            " WHERE message_id = ? AND tenant_id = ? AND state = 'ready'",
            (msg.message_id, tenant_id)).fetchone())
        if row is None:
            return msg
        try:
            data = await self._store.read(tenant_id, row[3])
        except (FileNotFoundError, ValueError):
            raise ProviderError("media_missing", "the attachment is no longer stored") from None
        return dataclasses.replace(msg, media=OutboundMedia(row[0], row[1], row[2] or "", data))
