"""The health probe: one real write, so /healthz proves the database takes commits."""

from __future__ import annotations

from app.clock import now_ms
from app.db import Tx


def probe(tx: Tx) -> None:
    """Rewrite the single probe row (no tenant data: the table holds one timestamp)."""
    tx.execute(
        "INSERT INTO health_probe (id, checked_at) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        (now_ms(),),
    )
