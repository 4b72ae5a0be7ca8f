"""SQLite connections as every part of the app opens them: pragmas, functions, the schema,
and online backups."""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 10_000


def fold(text: str | None) -> str | None:
    """Case- and accent-insensitive form of a text ("José Ñúñez" -> "jose nunez")."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the pragmas and functions every connection needs."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=10.0
    )
    conn.row_factory = sqlite3.Row
    conn.create_function("fold", 1, fold, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        # FULL: a webhook we acknowledged must survive a power cut (Meta does not resend);
        # group commit makes the extra fsync cheap.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def apply_schema(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema (idempotent)."""
    conn.execute("PRAGMA journal_mode = WAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"database schema {version} is newer than this program ({SCHEMA_VERSION})")
    if version < SCHEMA_VERSION:
        conn.executescript(SCHEMA_PATH.read_text())


def backup(source: Path | str, target: Path | str) -> None:
    """Copy a live database consistently with SQLite's online backup API."""
    src = connect(source, readonly=True)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
