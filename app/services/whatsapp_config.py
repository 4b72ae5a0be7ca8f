"""Which provider a tenant uses and its Cloud API settings (secrets stay in the database)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from app.clock import now_ms
from app.db import Tx
from app.errors import Conflict, Invalid
from app.whatsapp.base import check_provider
from app.whatsapp.cloud import CloudSettings

DEFAULT_API_BASE = "https://graph.facebook.com/v23.0"
META_HOST = "graph.facebook.com"
_VERSION = re.compile(r"/v\d{1,3}\.\d{1,3}/?")
CLOUD_FIELDS = ("phone_number_id", "access_token", "app_secret", "verify_token", "api_base",
                "waba_id")
SECRET_FIELDS = ("access_token", "app_secret", "verify_token")


def is_meta_base(url: str) -> bool:
    """True for Meta's Graph API, https://graph.facebook.com/vNN.N (no port, user, query)."""
    parts = urlsplit(url)
    return (parts.scheme == "https" and parts.netloc.lower() == META_HOST
            and bool(_VERSION.fullmatch(parts.path)) and not parts.query and not parts.fragment)


def get_cloud(conn: sqlite3.Connection, tenant_id: int, *,
              allow_custom_base: bool) -> CloudSettings | None:
    """The stored Cloud API settings of a tenant.

    A custom base stored while the operator allowed it is not used once they stop allowing it:
    Meta's base takes its place, so the token only ever goes to Meta."""
    row = conn.execute(
        "SELECT phone_number_id, access_token, app_secret, verify_token, api_base, waba_id"
        " FROM whatsapp_configs WHERE tenant_id = ?",
        (tenant_id,),
    ).fetchone()
    if row is None:
        return None
    base = row[4] or DEFAULT_API_BASE
    if not allow_custom_base and not is_meta_base(base):
        base = DEFAULT_API_BASE
    return CloudSettings(row[0] or "", row[1] or "", row[2] or "", row[3] or "", base, row[5] or "")


def _mask(value: str) -> str | None:
    if not value:
        return None
    return "•" * 8 + value[-4:] if len(value) > 8 else "•" * 8


def public_config(provider: str, cloud: CloudSettings | None, webhook_url: str) -> dict[str, Any]:
    """The config as the API shows it: secrets masked."""
    out: dict[str, Any] = {"provider": provider, "webhook_url": webhook_url}
    if cloud is not None:
        out["phone_number_id"] = cloud.phone_number_id or None
        out["api_base"] = cloud.api_base
        out["waba_id"] = cloud.waba_id or None
        for name in SECRET_FIELDS:
            out[name] = _mask(getattr(cloud, name))
    return out


def _check_cloud(data: dict[str, Any], current: CloudSettings | None,
                 allow_custom_base: bool) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in CLOUD_FIELDS:
        raw = data.get(name)
        if raw is None:
            values[name] = getattr(current, name) if current else ""
            continue
        if not isinstance(raw, str) or len(raw) > 1024:
            raise Invalid(f"{name} must be a string", code="invalid_field", field=name)
        values[name] = raw.strip()
    if not values["api_base"]:
        values["api_base"] = DEFAULT_API_BASE
    parts = urlsplit(values["api_base"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid("api_base must be an http(s) URL", code="invalid_field", field="api_base")
    if not allow_custom_base and not is_meta_base(values["api_base"]):
        raise Invalid(f"api_base must be Meta's Graph API ({DEFAULT_API_BASE}); another base is"
                      " accepted only when the server's operator sets CONDORITO_ALLOW_CUSTOM_API_BASE=1",
                      code="api_base_not_allowed", field="api_base")
    for name in ("phone_number_id", "waba_id"):
        value = values[name]
        if value and not (value.isascii() and value.isdigit()):
            raise Invalid(f"{name} must be digits", code="invalid_field", field=name)
    return values


def save(tx: Tx, tenant_id: int, data: dict[str, Any], *, allow_custom_base: bool) -> str:
    """Store the provider choice and Cloud settings; returns the provider."""
    provider = check_provider(data.get("provider"))
    if provider == "cloud":
        current = get_cloud(tx.conn, tenant_id, allow_custom_base=allow_custom_base)
        values = _check_cloud(data, current, allow_custom_base)
        try:
            tx.execute(
                "INSERT INTO whatsapp_configs (tenant_id, phone_number_id, access_token, app_secret,"
                " verify_token, api_base, updated_at, waba_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant_id) DO UPDATE SET phone_number_id = excluded.phone_number_id,"
                " access_token = excluded.access_token, app_secret = excluded.app_secret,"
                " verify_token = excluded.verify_token, api_base = excluded.api_base,"
                " updated_at = excluded.updated_at, waba_id = excluded.waba_id",
                (tenant_id, values["phone_number_id"] or None, values["access_token"],
                 values["app_secret"], values["verify_token"], values["api_base"], now_ms(),
                 values["waba_id"] or None),
            )
        except sqlite3.IntegrityError:
            raise Conflict("that phone_number_id belongs to another tenant",
                           code="phone_number_taken") from None
    tx.execute("UPDATE tenants SET provider = ? WHERE id = ?", (provider, tenant_id))
    return str(provider)
