"""Downloads inbound media right after ingest, durably.

A media message is stored with its file `pending` (app/services/media.py) in the same transaction
as the message, so a download the process did not get to survives a restart: the worker reads
what is due from the table, not from memory. Each attempt asks the tenant's provider for the
bytes (Cloud API: URL lookup, then the download, both with the tenant's token), checks the size
limit of the kind and the digest the provider announced, stores the bytes by content hash and
marks the row ready. Failures that may pass are retried with exponential backoff and jitter;
the rest (too large, unknown id) fail at once with the reason recorded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random

from app.clock import now_ms
from app.db import Database
from app.services import media
from app.services.media_store import MediaStore
from app.services.providers import ProviderRegistry
from app.tasks import cancel_and_wait
from app.whatsapp.base import FetchedMedia, ProviderError

log = logging.getLogger("condorito.media")

BATCH = 4          # downloads in flight at once: a few, so a burst of photos shows quickly
IDLE_RECHECK = 300.0  # seconds between looks at the table when nothing woke the worker


def backoff_ms(attempts: int) -> int:
    """Full-range jitter over an exponential delay: 2 s, 4 s, ... capped at 15 min."""
    ceiling = min(media.BACKOFF_CAP_MS, media.BACKOFF_BASE_MS * 2 ** attempts)
    return int(ceiling * random.uniform(0.5, 1.0))


def digest_matches(announced: str, data: bytes) -> bool:
    """Meta's sha256 looks base64 in samples and hex elsewhere: accept either (or none)."""
    if not announced:
        return True
    raw = hashlib.sha256(data).digest()
    b64 = base64.b64encode(raw).decode().rstrip("=")
    return announced.lower() == raw.hex() or announced.rstrip("=") == b64


class MediaFetcher:
    """One background task; `wake()` after a media message is committed."""

    def __init__(self, db: Database, providers: ProviderRegistry, store: MediaStore) -> None:
        self._db = db
        self._providers = providers
        self._store = store
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something may be due now."""
        self._wake.set()

    def start(self) -> None:
        """Begin downloading, what an earlier run left pending first."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def stop(self) -> None:
        """Stop; downloads in flight are abandoned and stay pending for the next start."""
        await cancel_and_wait(self._task)

    async def idle(self) -> None:
        """Wait until no download is due now (tests and tools; later retries may still wait)."""
        while True:
            self._passed.clear()
            if not await self._db.read(lambda c: media.due(c, 1)):
                return
            self.wake()
            await self._passed.wait()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a wake after this still ends the wait below
            try:
                batch = await self._db.read(lambda c: media.due(c, BATCH))
                if batch:
                    await asyncio.gather(*(self._fetch(item) for item in batch))
                    self._passed.set()
                    continue
                nxt = await self._db.read(media.next_due_at)
            except Exception:
                log.exception("media fetcher pass failed")
                nxt = now_ms() + 5_000
            self._passed.set()
            timeout = IDLE_RECHECK if nxt is None else max(0.0, (nxt - now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _fetch(self, item: media.PendingDownload) -> None:
        fields = {"tenant": item.tenant_id, "message": item.message_id, "attempt": item.attempts + 1}
        try:
            provider = await self._providers.for_tenant(item.tenant_id)
            fetch = getattr(provider, "fetch_media", None)
            if fetch is None:
                raise ProviderError("media_unsupported")
            fetched: FetchedMedia = await fetch(item.tenant_id, item.media_id, item.max_bytes)
            if len(fetched.data) > item.max_bytes:  # a provider that did not check
                raise ProviderError("media_too_large")
            if not digest_matches(item.expected_sha256, fetched.data):
                raise ProviderError("media_corrupt", retryable=True)
            digest = await self._store.put(item.tenant_id, fetched.data)
            size = len(fetched.data)
            await self._db.write(lambda tx: media.mark_ready(
                tx, item.tenant_id, item.message_id, fetched.mime, size, digest))
            log.info("media stored", extra={"fields": {**fields, "size": size}})
        except ProviderError as exc:
            code = exc.code or "media_error"
            if exc.retryable and item.attempts + 1 < media.MAX_ATTEMPTS:
                delay = backoff_ms(item.attempts)
                await self._db.write(lambda tx: media.retry_later(
                    tx, item.tenant_id, item.message_id, delay, code))
                log.info("media retry", extra={"fields": {**fields, "code": code, "delay_ms": delay}})
            else:
                await self._db.write(lambda tx: media.mark_failed(tx, item.tenant_id, item.message_id, code))
                log.info("media failed", extra={"fields": {**fields, "code": code}})
        except Exception:
            # Our side (disk full, a bug): retried like a transient error, then given up.
            log.exception("media fetch crashed", extra={"fields": fields})
            if item.attempts + 1 < media.MAX_ATTEMPTS:
                delay = backoff_ms(item.attempts)
                await self._db.write(lambda tx: media.retry_later(
                    tx, item.tenant_id, item.message_id, delay, "internal_error"))
            else:
                await self._db.write(lambda tx: media.mark_failed(
                    tx, item.tenant_id, item.message_id, "internal_error"))
