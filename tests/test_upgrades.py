"""Schema upgrades: a database of every earlier version, with data in it, is brought up to the
current schema when the server starts on it, keeps every row, and serves it.

tests/data/schema_vN.sql is schema.sql exactly as it was at version N (recovered from the git
history for the early ones; whoever bumps SCHEMA_VERSION adds the snapshot of the version left).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from app import create_app, keys
from app.auth import passwords
from app.config import Config
from app.sqlite import SCHEMA_VERSION, connect
from tests.helpers.actors import PASSWORD, login
from tests.helpers.frames import next_frame

DATA = Path(__file__).parent / "data"
SNAPSHOTS = sorted((int(m.group(1)), p) for p in DATA.glob("schema_v*.sql")
                   if (m := re.fullmatch(r"schema_v(\d+)\.sql", p.name)))
EPOCH = "oldepoch"

# Rows every version since 1 can hold (only columns version 1 already had): two tenants, their
# users, contacts with accents, conversations, messages both ways, an outbox row, a session, a
# link state and stream rows.
ROWS = """
INSERT INTO tenants (id, code, name, provider, created_at) VALUES
  (1, 'acme', 'Acme', 'sandbox', 1), (2, 'globex', 'Globex', 'cloud', 1);
INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at) VALUES
  (1, 1, 'ana@acme.test', 'Ana', 'admin', :hash, 1), (2, 2, 'bo@globex.test', 'Bo', 'admin', :hash, 1);
INSERT INTO sessions (id, tenant_id, user_id, created_at, expires_at) VALUES ('s-old', 1, 1, 1, 2);
INSERT INTO contacts (id, tenant_id, phone, name, created_at) VALUES
  (1, 1, '56911112222', 'José Ñúñez', 1), (2, 1, '56933334444', 'Marta', 2), (3, 2, '15550001111', 'Zed', 3);
INSERT INTO conversations (id, tenant_id, contact_id, unread_count, last_message_id, updated_at, created_at)
  VALUES (1, 1, 1, 1, 2, 20, 1), (2, 1, 2, 0, 3, 30, 2), (3, 2, 3, 1, 4, 40, 3);
INSERT INTO messages (id, tenant_id, conversation_id, direction, body, status, wa_id, author_kind, created_at)
  VALUES (1, 1, 1, 'in', '¿Llegó el camión?', 'read', 'wamid.1', 'contact', 10),
         (2, 1, 1, 'out', 'Sí, a las 5', 'delivered', 'wamid.2', 'user', 20),
         (3, 1, 2, 'in', 'hola', 'read', 'wamid.3', 'contact', 30),
         (4, 2, 3, 'in', 'secreto de globex', 'delivered', 'wamid.4', 'contact', 40);
INSERT INTO outbox (tenant_id, message_id, idempotency_key, request_hash, state, created_at, updated_at)
  VALUES (1, 2, 'k1', 'h1', 'accepted', 20, 20);
INSERT INTO whatsapp_sessions (tenant_id, state, phone, since) VALUES (1, 'connected', '56900000000', 5);
INSERT INTO rt_stream (tenant_id, epoch, head, pruned_through) VALUES (1, :epoch, 3, 0), (2, 'globexep', 1, 0);
INSERT INTO rt_event (tenant_id, seq, name, payload, created_at) VALUES
  (1, 1, 'message:new', X'7B7D', 10), (1, 2, 'message:new', X'7B7D', 20),
  (1, 3, 'message:new', X'7B7D', 30), (2, 1, 'message:new', X'7B7D', 40);
"""
COUNTED = ("tenants", "users", "sessions", "contacts", "conversations", "messages", "outbox",
           "rt_stream", "rt_event")


def test_a_snapshot_for_every_earlier_version() -> None:
    assert [v for v, _ in SNAPSHOTS] == list(range(1, SCHEMA_VERSION))
    for version, path in SNAPSHOTS:
        assert f"PRAGMA user_version = {version};" in path.read_text(), path


def build(path: Path, snapshot: Path) -> dict[str, int]:
    """A database of that version with ROWS in it; returns the row counts."""
    conn = connect(path)  # with the functions triggers of that version call (fold)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(snapshot.read_text())
        conn.execute("BEGIN")
        for statement in ROWS.strip().split(";\n"):
            conn.execute(statement, {"hash": passwords.hash_password(PASSWORD), "epoch": EPOCH}
                         if ":" in statement else {})
        conn.execute("COMMIT")
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COUNTED}
    finally:
        conn.close()


@pytest.mark.parametrize("version,snapshot", SNAPSHOTS, ids=[f"v{v}" for v, _ in SNAPSHOTS])
async def test_upgrade_keeps_the_data_and_the_app_serves_it(
        version: int, snapshot: Path, tmp_path: Path, aiohttp_client: Any) -> None:
    path = tmp_path / "condorito.db"
    before = build(path, snapshot)
    client = await aiohttp_client(create_app(Config(db_path=path, secret=secrets.token_urlsafe(48))))

    def state(conn: sqlite3.Connection) -> tuple[int, dict[str, int], list[Any], list[Any]]:
        return (conn.execute("PRAGMA user_version").fetchone()[0],
                {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COUNTED},
                conn.execute("PRAGMA foreign_key_check").fetchall(),
                conn.execute("PRAGMA integrity_check").fetchall())

    upgraded, after, orphans, integrity = await client.app[keys.DB].read(state)
    assert upgraded == SCHEMA_VERSION
    assert after == before
    assert orphans == [] and [tuple(r) for r in integrity] == [("ok",)]
    await client.app[keys.SEARCH].catch_up()

    ana = {"Authorization": f"Bearer {await login(client, 'ana@acme.test')}"}
    listed = await (await client.get("/api/v1/conversations", headers=ana)).json()
    assert [c["contact"]["name"] for c in listed["items"]] == ["Marta", "José Ñúñez"]
    thread = await (await client.get("/api/v1/conversations/1/messages", headers=ana)).json()
    assert [m["body"] for m in thread["items"]] == ["¿Llegó el camión?", "Sí, a las 5"]
    found = await (await client.get("/api/v1/conversations", params={"q": "camion"}, headers=ana)).json()
    assert [c["id"] for c in found["items"]] == ["1"]
    named = await (await client.get("/api/v1/conversations", params={"q": "nunez"}, headers=ana)).json()
    assert [c["id"] for c in named["items"]] == ["1"]
    # The other tenant's rows stay the other tenant's.
    assert (await client.get("/api/v1/conversations/3/messages", headers=ana)).status == 404
    bo = {"Authorization": f"Bearer {await login(client, 'bo@globex.test')}"}
    theirs = await (await client.get("/api/v1/conversations", headers=bo)).json()
    assert [c["contact"]["name"] for c in theirs["items"]] == ["Zed"]
    # Writes work on the upgraded schema.
    sent = await client.post("/api/v1/conversations/2/messages", json={"body": "¿Algo más?"},
                             headers={**ana, "Idempotency-Key": "after-upgrade"})
    assert sent.status in (201, 202), await sent.text()
    # The stream kept its epoch: a client connected before the upgrade resumes, no reload.
    ws = await client.ws_connect("/ws?v=1")
    await ws.send_str(orjson.dumps({"type": "hello", "v": 1, "token": ana["Authorization"][7:],
                                    "resume": {"epoch": EPOCH, "seq": 3}}).decode())
    welcome = await next_frame(ws)
    assert welcome["type"] == "welcome" and welcome["epoch"] == EPOCH
    assert welcome["resume"] != "resync_required"
    await ws.close()
