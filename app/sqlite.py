"""SQLite connections as every part of the app opens them: pragmas, functions, the schema,
and online backups."""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

from app.private_files import private_file

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 15
BUSY_TIMEOUT_MS = 10_000

# Columns added after their table first shipped, as (table, column, declaration). `CREATE TABLE
# IF NOT EXISTS` in schema.sql leaves an existing table as it was, so these are added by ALTER
# TABLE before schema.sql runs (which may then index and backfill them). Append; never edit.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("contacts", "name_folded", "TEXT NOT NULL DEFAULT ''"),  # version 4
    ("users", "must_change_password", "INTEGER NOT NULL DEFAULT 0"),  # version 5
    ("users", "lang", "TEXT"),  # version 5
    ("tenants", "default_lang", "TEXT NOT NULL DEFAULT 'es'"),  # version 5
    ("tenants", "default_country", "TEXT"),  # version 7
    ("outbox", "next_attempt_at", "INTEGER NOT NULL DEFAULT 0"),  # version 11
    ("messages", "reply_to_id", "INTEGER"),  # version 12
    ("messages", "template", "TEXT"),  # version 12
    ("whatsapp_configs", "waba_id", "TEXT"),  # version 12
    ("conversations", "needs_attention", "INTEGER NOT NULL DEFAULT 0"),  # version 14
)


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
        add_columns(conn, ADDED_COLUMNS)
        conn.executescript(SCHEMA_PATH.read_text())


def add_columns(conn: sqlite3.Connection, columns: tuple[tuple[str, str, str], ...]) -> None:
    """Add the columns an existing table lacks (idempotent: a table not there yet is skipped,
    schema.sql creates it whole)."""
    for table, column, declaration in columns:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if have and column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def backup(source: Path | str, target: Path | str) -> None:
    """Copy a live database consistently with SQLite's online backup API."""
    src = connect(source, readonly=True)
    # A backup holds what the database holds: 0600 before the copy writes into it.
    private_file(Path(target))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
