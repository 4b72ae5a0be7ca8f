"""The data directory is 0700; the database, its -wal/-shm, secret.key and backups are 0600,
whatever the umask, from the moment they exist."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.config import Config, resolve_secret
from app.db import Database
from app.private_files import private_dir
from tests.helpers.actors import make_actor

ROOT = Path(__file__).resolve().parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o277], ids=["umask022", "umask277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A permissive umask (the usual one) and one that would leave files unwritable."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def db_files(db: Path) -> dict[str, int]:
    return {p.name: mode(p) for p in sorted(db.parent.iterdir()) if p.name.startswith(db.name)}


async def test_a_new_install_is_private(aiohttp_client: Any, tmp_path: Path, umask: int) -> None:
    data = tmp_path / "srv" / "data"
    config = resolve_secret(Config(db_path=data / "condorito.db"))
    assert mode(data / "secret.key") == 0o600
    client = await aiohttp_client(create_app(config))
    actor = await make_actor(client, "acme")
    await actor.inbound("56911112222", "hola")  # data written through the WAL
    assert mode(data) == 0o700
    assert db_files(data / "condorito.db") == {
        "condorito.db": 0o600, "condorito.db-shm": 0o600, "condorito.db-wal": 0o600,
        "condorito.db.lock": 0o600}  # the serve lock (app/serve_lock.py)


async def test_an_existing_readable_install_is_tightened(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        data.mkdir()
        db = data / "condorito.db"
        # An install from before: files 0644 in a 0755 directory, a -wal/-shm in use by a
        # connection still open (an operator's sqlite3 shell, say).
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("PRAGMA journal_mode = WAL")
        other.execute("CREATE TABLE note (x)")
        other.execute("INSERT INTO note VALUES (1)")
        secret = data / "secret.key"
        secret.write_text("Zt8q-3vK_x1pL9wR2mN7bY4cH6jF0sDgTuE5aQeW\n")
        assert mode(data) == 0o755 and set(db_files(db).values()) == {0o644} and mode(secret) == 0o644
        config = resolve_secret(Config(db_path=db))
        database = Database(db)
        await database.open()
        try:
            assert mode(data) == 0o700 and mode(secret) == 0o600
            assert db_files(db) == {"condorito.db": 0o600, "condorito.db-shm": 0o600,
                                    "condorito.db-wal": 0o600}
        finally:
            await database.close()
            other.close()
        assert config.secret.startswith("Zt8q")
    finally:
        os.umask(old)


async def test_a_shared_sticky_directory_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103 - like /tmp, on purpose
    database = Database(shared / "condorito.db")
    await database.open()
    await database.close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert mode(shared / "condorito.db") == 0o600
    assert any(r.levelno == logging.WARNING and "shared" in r.getMessage() for r in caplog.records)


def backup_cli(db: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDORITO_")}
    return subprocess.run(
        [sys.executable, "run.py", "--db", str(db), "backup", str(target)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )


async def test_backup_command_writes_private_files(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "data" / "condorito.db"
    database = Database(db)
    await database.open()
    await database.close()
    # A new backup directory is made private; an existing one is the operator's to choose.
    done = backup_cli(db, tmp_path / "backups" / "copy.db")  # the child inherits the umask
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "backups") == 0o700
    assert db_files(tmp_path / "backups" / "copy.db") == {"copy.db": 0o600}
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)  # noqa: S103 - readable on purpose
    done = backup_cli(db, shared / "copy.db")
    assert done.returncode == 0, done.stderr
    assert mode(shared) == 0o755 and mode(shared / "copy.db") == 0o600


def test_private_dir_only_tightens_what_it_may(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)  # noqa: S103 - readable on purpose
    private_dir(mine, tighten=False)
    assert mode(mine) == 0o755
    private_dir(mine)
    assert mode(mine) == 0o700
