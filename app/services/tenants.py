"""Tenants: creation (with their stream and WhatsApp rows) and lookups."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from app.clock import now_ms
from app.db import Database, Tx
from app.errors import Conflict, Invalid
from app.realtime import stream
from app.text import clean_text

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
PROVIDERS = ("sandbox", "cloud", "web")


@dataclass(frozen=True, slots=True)
class Tenant:
    """A business using this install."""

    id: int
    code: str
    name: str
    provider: str
    status: str
    timezone: str


def _row(row: sqlite3.Row) -> Tenant:
    return Tenant(row["id"], row["code"], row["name"], row["provider"], row["status"], row["timezone"])


def create_tenant(tx: Tx, code: str, name: str, provider: str = "sandbox") -> Tenant:
    """Insert a tenant, its stream and its WhatsApp session row; refuse bad or taken codes."""
    if not CODE_RE.match(code):
        raise Invalid(f"invalid client code {code!r}: use ^[a-z0-9][a-z0-9_-]{{1,31}}$", code="invalid_code")
    if provider not in PROVIDERS:
        raise Invalid(f"unknown provider {provider!r}", code="invalid_provider")
    name = clean_text(name).strip() or code
    try:
        row = tx.execute(
            "INSERT INTO tenants (code, name, provider, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING *",
            (code, name, provider, now_ms()),
        ).fetchone()
    except sqlite3.IntegrityError:
        raise Conflict(f"tenant {code!r} already exists", code="tenant_exists") from None
    tenant = _row(row)
    stream.create_stream(tx, tenant.id)
    tx.execute("INSERT INTO whatsapp_sessions (tenant_id, state) VALUES (?, 'stopped')", (tenant.id,))
    return tenant


def get_tenant(conn: sqlite3.Connection, tenant_id: int) -> Tenant | None:
    """A tenant by id."""
    row = conn.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
    return _row(row) if row else None


def get_tenant_by_code(conn: sqlite3.Connection, code: str) -> Tenant | None:
    """A tenant by client code."""
    row = conn.execute("SELECT * FROM tenants WHERE code = ?", (code,)).fetchone()
    return _row(row) if row else None


def count_tenants(conn: sqlite3.Connection) -> int:
    """How many tenants exist (0 means a first run)."""
    return conn.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]


def set_status(tx: Tx, tenant_id: int, status: str) -> None:
    """Suspend or re-activate a tenant."""
    tx.execute("UPDATE tenants SET status = ? WHERE id = ?", (status, tenant_id))


class Directory:
    """Tenant lookups by id, cached (tenants change rarely; changes call `forget`)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[int, Tenant] = {}
        self._codes: dict[str, int] = {}  # codes never change

    async def get(self, tenant_id: int) -> Tenant:
        """The tenant, or LookupError."""
        tenant = self._cache.get(tenant_id)
        if tenant is None:
            tenant = await self._db.read(lambda conn: get_tenant(conn, tenant_id))
            if tenant is None:
                raise LookupError(f"no tenant {tenant_id}")
            self._cache[tenant_id] = tenant
        return tenant

    async def by_code(self, code: str) -> Tenant | None:
        """A tenant by client code (webhooks route by it)."""
        tenant_id = self._codes.get(code)
        if tenant_id is not None:
            return await self.get(tenant_id)
        tenant = await self._db.read(lambda conn: get_tenant_by_code(conn, code))
        if tenant is not None:
            self._cache[tenant.id] = tenant
            self._codes[code] = tenant.id
        return tenant

    def forget(self, tenant_id: int) -> None:
        """Drop a cached tenant after it changed."""
        self._cache.pop(tenant_id, None)
