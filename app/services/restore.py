"""Restoring a backup: check it is a whole Condorito database, copy it in, change every epoch.

A restored database is an older state than the one clients last saw: their stream cursors may
point past its heads, and the seqs after them will be handed out again for other events. So the
copy gets a new epoch per tenant: every client resuming with an old cursor is told
`resync_required` and reloads (PROTOCOL §4), nothing is replayed from the wrong history.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.db import Tx
from app.errors import AppError
from app.private_files import private_dir, private_file
from app.realtime import stream
from app.sqlite import SCHEMA_VERSION

# Tables every version of the schema had: a file without them is not one of our databases.
REQUIRED_TABLES = ("tenants", "users", "contacts", "conversations", "messages", "rt_stream")


class InvalidBackup(AppError):
    """The file is not a usable Condorito backup."""

    code = "invalid_backup"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What a valid backup holds."""

    version: int
    tenants: int
    messages: int


def inspect(path: Path) -> BackupInfo:
    """Open the backup read-only and check it whole (integrity, version, tables)."""
    if not path.is_file():
        raise InvalidBackup(f"no backup file at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidBackup(f"{path} cannot be opened: {exc}") from None
    try:
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise InvalidBackup(f"{path} is damaged: {check[0][0]}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not 1 <= version <= SCHEMA_VERSION:
            raise InvalidBackup(f"{path} has schema version {version}; this program reads 1 to "
                                f"{SCHEMA_VERSION}")
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in REQUIRED_TABLES if t not in have]
        if missing:
            raise InvalidBackup(f"{path} is not a Condorito database (no {', '.join(missing)})")
        tenants = conn.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        return BackupInfo(version, tenants, messages)
    except sqlite3.DatabaseError as exc:  # "file is not a database" and the like
        raise InvalidBackup(f"{path} is not a SQLite database: {exc}") from None
    finally:
        conn.close()


def copy_into(source: Path, target: Path) -> None:
    """Replace the target's content with the backup's, through SQLite (its WAL included)."""
    private_dir(target.parent, tighten=False)
    private_file(target)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def new_epochs(tx: Tx) -> int:
    """A new epoch for every tenant's stream (runs on the restored copy); returns how many."""
    return stream.new_epochs(tx)
