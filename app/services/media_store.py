"""Media bytes on disk: `<data dir>/media/<tenant id>/<aa>/<sha256 hex>`.

The path is built from the tenant id and the digest we computed, never from a provider's id or a
user's file name, so no input can point it elsewhere. Per tenant so that one tenant's files can
be removed (or counted) alone; the same file twice in one tenant is stored once. Files are
written to a temporary name, fsynced and renamed, so a crash leaves either the whole file or
none. Blocking file work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from pathlib import Path

from app.private_files import private_dir

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class MediaStore:
    """Content-addressed files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, tenant_id: int, sha256: str) -> Path:
        """Where a tenant's file with this digest lives (ValueError for anything not a digest)."""
        if not _HEX64.match(sha256) or tenant_id < 0:
            raise ValueError("not a sha256 digest")
        return self.root / str(int(tenant_id)) / sha256[:2] / sha256

    async def put(self, tenant_id: int, data: bytes) -> str:
        """Store bytes; return their sha256 hex digest."""
        return await asyncio.to_thread(self._put, tenant_id, data)

    def _put(self, tenant_id: int, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(tenant_id, digest)
        if target.exists():
            return digest  # the same bytes are already there
        private_dir(self.root)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    async def read(self, tenant_id: int, sha256: str) -> bytes:
        """The bytes of a stored file (FileNotFoundError when it is gone)."""
        return await asyncio.to_thread(self.path(tenant_id, sha256).read_bytes)
