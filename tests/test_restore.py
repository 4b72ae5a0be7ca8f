"""run.py restore and run.py reset-password, run as the operator runs them, beside live servers."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType

from app import create_app
from app.config import Config
from tests.helpers.actors import PASSWORD, Actor, login, make_actor
from tests.helpers.frames import barrier, next_event, next_frame
from tests.test_cli import cli, one_line_error


async def test_backup_while_writing_then_restore_elsewhere(aiohttp_client: Any, config: Config,
                                                           tmp_path: Path) -> None:
    """Done 2: every message acknowledged before the backup began is in the restored copy, a
    server starts on it, and a client connected before is told to resync."""
    client = await aiohttp_client(create_app(config))
    alice = await make_actor(client, "acme", email="ana@acme.test")
    ws, welcome = await alice.ws()
    acked: list[tuple[float, str]] = []  # (monotonic time of the 202, message id)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        i = 0
        while not stop.is_set():
            answer = await alice.inbound(f"5691111{i % 50:04d}", f"mensaje {i}")
            acked.append((time.monotonic(), answer["message_id"]))
            i += 1

    writer = asyncio.ensure_future(keep_writing())
    last_seq = welcome["head"]
    while len(acked) < 20:  # let some be acknowledged first
        last_seq = (await next_event(ws, "new_message"))["seq"]
    backup = tmp_path / "backups" / "copy.db"
    began = time.monotonic()
    made = await asyncio.to_thread(cli, config.db_path, "backup", str(backup))
    assert made.returncode == 0, made.stderr
    before_backup = [mid for at, mid in acked if at < began]
    while len(acked) < len(before_backup) + 10:  # writes go on after it, too
        last_seq = (await next_event(ws, "new_message"))["seq"]
    stop.set()
    await writer
    # The client's cursor: the last event it got from the old server (a call's answer comes
    # after every event committed before it).
    last_seq = max([last_seq, *(f.get("seq") or 0 for f in await barrier(ws))])

    # Not over the database of the running server.
    refused = await asyncio.to_thread(cli, config.db_path, "restore", str(backup))
    assert "server is running" in one_line_error(refused)
    # Into a fresh directory.
    fresh = tmp_path / "restored" / "condorito.db"
    done = await asyncio.to_thread(cli, fresh, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert "stream epochs changed" in done.stdout

    restored = await aiohttp_client(create_app(dataclasses.replace(config, db_path=fresh)))
    token = await login(restored, "ana@acme.test")
    headers = {"Authorization": f"Bearer {token}"}
    found: set[str] = set()
    conversations = await (await restored.get("/api/v1/conversations", params={"limit": "100"},
                                               headers=headers)).json()
    for conv in conversations["items"]:
        page = await (await restored.get(f"/api/v1/conversations/{conv['id']}/messages",
                                         params={"limit": "100"}, headers=headers)).json()
        found |= {m["id"] for m in page["items"]}
    assert set(before_backup) <= found, sorted(set(before_backup) - found)[:5]
    assert found <= {mid for _, mid in acked}  # nothing that was not written

    # The client connected before resumes on the restored server: resync, no replay.
    again = await restored.ws_connect("/ws?v=1")
    await again.send_str(orjson.dumps({"type": "hello", "v": 1, "token": token,
                                       "resume": {"epoch": welcome["epoch"], "seq": last_seq}}).decode())
    resumed = await next_frame(again)
    assert resumed["type"] == "welcome" and resumed["resume"] == "resync_required"
    assert resumed["epoch"] != welcome["epoch"]
    await again.close()


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "data" / "condorito.db"
    garbage = tmp_path / "notes.db"
    garbage.write_bytes(b"not a database at all" * 100)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE tenants (id INTEGER)")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    for path, says in ((garbage, "not a SQLite database"), (other, "not a Condorito database"),
                       (newer, "schema version 999"), (tmp_path / "missing.db", "no backup file")):
        assert says in one_line_error(cli(db, "restore", str(path))), path
    assert not db.exists()  # nothing was written


async def test_reset_password_from_the_command_line(aiohttp_client: Any, config: Config) -> None:
    """The owner who lost the password: a new one-time one; old tokens and sockets stop."""
    client = await aiohttp_client(create_app(dataclasses.replace(config, revocation_check=0.05)))
    owner: Actor = await make_actor(client, "acme", email="duena@acme.test")
    teammate: Actor = await make_actor(client, "acme", email="socio@acme.test")
    ws, _ = await owner.ws()
    other_ws, _ = await teammate.ws()

    proc = await asyncio.to_thread(cli, config.db_path, "reset-password", "acme", "duena@acme.test")
    assert proc.returncode == 0, proc.stderr
    password = proc.stdout.strip().rsplit(" ", 1)[-1]
    assert PASSWORD not in proc.stdout and len(password) >= 12

    closed = await ws.receive(timeout=10)  # the server notices the revocation by itself
    while closed.type == WSMsgType.TEXT:
        closed = await ws.receive(timeout=10)
    assert closed.type == WSMsgType.CLOSE and closed.data == 4501
    assert (await owner.get("/api/v1/me")).status == 401
    # The teammate is untouched.
    assert (await teammate.get("/api/v1/me")).status == 200
    assert not other_ws.closed
    # The printed password works once, and must be changed first.
    token = await login(client, "duena@acme.test", password)
    me = await (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["must_change_password"] is True
    failed = await client.post("/api/v1/auth/login", json={"email": "duena@acme.test", "password": PASSWORD})
    assert failed.status == 401

    unknown = await asyncio.to_thread(cli, config.db_path, "reset-password", "globex",
                                      "duena@acme.test")
    assert "no tenant" in one_line_error(unknown)
    elsewhere = await make_actor(client, "globex", email="x@globex.test")
    cross = await asyncio.to_thread(cli, config.db_path, "reset-password", "globex",
                                    "duena@acme.test")
    assert "no user" in one_line_error(cross)  # a user of another tenant is not found there
    assert (await elsewhere.get("/api/v1/me")).status == 200
