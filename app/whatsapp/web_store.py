"""The QR provider's session stores: one directory per tenant under the data directory.

Each holds whatsmeow's SQLite database (the device keys: whoever has them is that WhatsApp
device) and a `paired` marker with the linked number, written once pairing succeeded, so a
restart knows which tenants to resume without asking Go. Private like the main database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from app.private_files import private_dir, private_file

STORE_DIR = "whatsapp-web"


class SessionStores:
    """Paths and files of every tenant's session store (blocking: call through a thread)."""

    def __init__(self, data_dir: Path) -> None:
        self._root = data_dir / STORE_DIR

    def directory(self, tenant_id: int) -> Path:
        """The tenant's store directory."""
        return self._root / f"t{tenant_id}"

    def database(self, tenant_id: int) -> Path:
        """whatsmeow's database of the tenant."""
        return self.directory(tenant_id) / "session.db"

    def _marker(self, tenant_id: int) -> Path:
        return self.directory(tenant_id) / "paired"

    def paired(self, tenant_id: int) -> bool:
        """True when the store holds a paired device (so connecting shows no QR)."""
        return self._marker(tenant_id).exists()

    def prepare(self, tenant_id: int) -> str:
        """Create the store 0700 and its database file 0600 before Go's SQLite writes keys into
        it (its journal files take the database file's mode); return the database path."""
        private_dir(self._root)
        private_dir(self.directory(tenant_id))
        path = self.database(tenant_id)
        private_file(path)
        return str(path)

    def mark_paired(self, tenant_id: int, phone: str) -> None:
        """Pairing succeeded: remember it and the number."""
        marker = self._marker(tenant_id)
        private_file(marker)
        marker.write_text(phone)

    def phone(self, tenant_id: int) -> str | None:
        """The linked number, if paired."""
        try:
            return self._marker(tenant_id).read_text().strip() or None
        except OSError:
            return None

    def purge(self, tenant_id: int) -> None:
        """Logged out: the device keys are worthless; pairing again starts from nothing."""
        shutil.rmtree(self.directory(tenant_id), ignore_errors=True)
