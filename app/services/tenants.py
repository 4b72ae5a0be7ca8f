"""Tenants: creation (with their stream and WhatsApp rows) and lookups."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clock import now_ms
from app.db import Database, Tx
from app.errors import Conflict, Invalid, NotFound
from app.realtime import stream
from app.services import phones
from app.text import clean_text
from app.whatsapp.base import check_provider

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")


@dataclass(frozen=True, slots=True)
class Tenant:
    """A business using this install."""

    id: int
    code: str
    name: str
    provider: str
    status: str
    timezone: str
    default_lang: str = "es"
    chosen_country: str | None = None  # NULL column: none chosen, the time zone's applies

    @property
    def default_country(self) -> str:
        """The country of numbers written without "+" (Settings, else the time zone's)."""
        return phones.default_country(self.chosen_country, self.timezone)

    def public(self) -> dict[str, str]:
        """The business settings of the API (GET /api/v1/tenant)."""
        return {"code": self.code, "name": self.name, "provider": self.provider,
                "timezone": self.timezone, "default_lang": self.default_lang,
                "default_country": self.default_country}


def _row(row: sqlite3.Row) -> Tenant:
    return Tenant(row["id"], row["code"], row["name"], row["provider"], row["status"], row["timezone"],
                  row["default_lang"], row["default_country"])


def check_timezone(name: object) -> str:
    """An IANA time zone name ("America/Santiago"); "today" on the dashboard is its day."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise Invalid("timezone must be an IANA name", code="invalid_field", field="timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown time zone", code="invalid_field", field="timezone") from None
    return name


def update_tenant(tx: Tx, tenant_id: int, *, name: str | None = None, default_lang: str | None = None,
                  timezone: str | None = None, default_country: object = None) -> Tenant:
    """Change the business name, default language, time zone or default country of one tenant."""
    if name is not None:
        name = clean_text(name).strip()[:100]
        if not name:
            raise Invalid("name must not be empty", code="invalid_field", field="name")
        tx.execute("UPDATE tenants SET name = ? WHERE id = ?", (name, tenant_id))
    if default_lang is not None:
        if default_lang not in ("es", "en"):
            raise Invalid("default_lang must be es or en", code="invalid_field", field="default_lang")
        tx.execute("UPDATE tenants SET default_lang = ? WHERE id = ?", (default_lang, tenant_id))
    if timezone is not None:
        tx.execute("UPDATE tenants SET timezone = ? WHERE id = ?", (check_timezone(timezone), tenant_id))
    if default_country is not None:
        try:
            country = phones.check_country(default_country)
        except phones.PhoneError:
            raise Invalid("default_country must be an ISO 3166 country code", code="invalid_field",
                          field="default_country") from None
        tx.execute("UPDATE tenants SET default_country = ? WHERE id = ?", (country, tenant_id))
    tenant = get_tenant(tx.conn, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


def create_tenant(tx: Tx, code: str, name: str, provider: str = "sandbox") -> Tenant:
    """Insert a tenant, its stream and its WhatsApp session row; refuse bad or taken codes."""
    if not CODE_RE.match(code):
        raise Invalid(f"invalid client code {code!r}: use ^[a-z0-9][a-z0-9_-]{{1,31}}$", code="invalid_code")
    check_provider(provider)
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
