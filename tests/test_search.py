"""The search index: batched off the ingest path, caught up before every search."""

from __future__ import annotations

import sqlite3

from app import keys
from app.services import search
from tests.conftest import Actor


def fts_rows(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'hola'").fetchone()[0]


async def test_index_follows_inserts_once(alice: Actor) -> None:
    db = alice.client.app[keys.DB]
    alice.client.app[keys.SEARCH].delay = 3600  # keep the background pass out of this test
    for i in range(3):
        await alice.inbound(f"5691000000{i}", f"hola número {i}")
    assert await db.read(fts_rows) == 0  # nothing indexed on the ingest path
    assert await db.write(search.index_pending) == 3
    assert await db.write(search.index_pending) == 0  # idempotent
    assert await db.read(fts_rows) == 3


async def test_index_catches_up_in_batches(alice: Actor, monkeypatch) -> None:
    monkeypatch.setattr(search, "BATCH", 2)
    for i in range(5):
        await alice.inbound(f"5692000000{i}", f"hola {i}")
    await alice.client.app[keys.SEARCH].catch_up()
    assert await alice.client.app[keys.DB].read(fts_rows) == 5


async def test_search_sees_a_message_committed_just_before(alice: Actor) -> None:
    await alice.inbound("56930000000", "¿Llegó el pedido de camiones?")
    found = await (await alice.get("/api/v1/conversations", params={"q": "camion"})).json()
    assert len(found["items"]) == 1
