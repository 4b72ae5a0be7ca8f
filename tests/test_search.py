"""The search index: batched off the ingest path, caught up before every search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app import keys
from app.db import Database
from app.services import conversations, search, stats
from app.sqlite import connect, fold
from tests.helpers.actors import Actor


def fts_rows(conn: sqlite3.Connection) -> int:
    """Conversations indexed as holding 'hola' (each test's messages come from distinct phones)."""
    return conn.execute(
        "SELECT COUNT(*) FROM conversations_fts WHERE conversations_fts MATCH 'hola'").fetchone()[0]


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


# -- conversation search at scale: stored folded names, one posting per conversation ----------

PEOPLE = [  # phone, name, bodies
    ("56911110001", "José Ñúñez", ["¿Llegó el pedido?", "gracias"]),
    ("56911110002", "María José Pérez", ["quiero cotizar camiones", "y el pedido"]),
    ("56922220003", "Ana", ["hola", "buenas tardes"]),
    ("56922220004", "Pedro Núñez", ["el pedido no llegó", "canción favorita"]),
    ("56933330005", "", ["presupuesto pedidos grandes"]),
    ("56933330006", "Zoë Álvarez", ["ornitorrinco azul"]),
    ("56944440007", "Luis", ["pedido listo", "otra cosa"]),
]


def reference(rows: list[dict], q: str) -> list[str]:
    """What search answered before it had stored columns: Python fold() of every name, LIKE on
    the phone, and bodies holding a word that starts with the (folded) term."""
    term = fold(q.strip())
    return [r["id"] for r in rows if term in fold(r["name"]) or term in r["phone"]
            or any(w.startswith(term) for body in r["bodies"] for w in fold(body).replace("¿", " ").split())]


async def search_all(actor: Actor, q: str, limit: int = 2) -> list[str]:
    """Every page of a search, following `next`."""
    ids: list[str] = []
    params: dict[str, str] = {"q": q, "limit": str(limit), "status": "all"}
    while True:
        page = await (await actor.get("/api/v1/conversations", params=params)).json()
        assert set(page) == {"items", "next", "seq"}
        ids += [item["id"] for item in page["items"]]
        if page["next"] is None:
            return ids
        params["cursor"] = page["next"]


async def test_search_equals_the_fold_of_every_contact(alice: Actor, bob: Actor) -> None:
    rows = []
    for phone, name, bodies in PEOPLE:
        for body in bodies:
            sent = await alice.inbound(phone, body, name=name)
        rows.append({"id": sent["conversation_id"], "phone": phone, "name": name, "bodies": bodies})
    await bob.inbound("56911110001", "pedido ornitorrinco", name="José Ñúñez")  # another tenant
    rows.reverse()  # newest first, as the list answers
    for q in ("jose", "NUNEZ", "zoe", "2222", "56933", "pedido", "cancion", "ornitorrinco",
              "camion", "nada-de-esto", "alvarez"):
        expected = reference(rows, q)
        got = await search_all(alice, q)
        assert got == expected, q  # same set, same order, every page once
    assert await search_all(alice, "pedido", limit=1) == reference(rows, "pedido")


async def test_renamed_contact_is_found_by_its_new_name_only(alice: Actor) -> None:
    await alice.inbound("56955550001", "hola", name="Óscar")
    await alice.inbound("56955550001", "otra vez", name="Ramón")
    assert len(await search_all(alice, "ramon")) == 1
    assert await search_all(alice, "oscar") == []


async def test_a_version_3_database_migrates_and_is_searchable(tmp_path) -> None:
    """Contacts and messages written by schema v3 get folded names, conversation postings and
    counters when the program starts on them."""
    path = tmp_path / "v3.db"
    conn = connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript((Path(__file__).parent / "data" / "schema_v3.sql").read_text())
    conn.executescript(
        "INSERT INTO tenants (id, code, name, created_at) VALUES (1, 'acme', 'Acme', 0);"
        "INSERT INTO contacts (id, tenant_id, phone, name, created_at) VALUES"
        " (1, 1, '56911112222', 'José Ñúñez', 0), (2, 1, '56933334444', 'Ana', 0);"
        "INSERT INTO conversations (id, tenant_id, contact_id, unread_count, updated_at, created_at)"
        " VALUES (1, 1, 1, 2, 1, 0), (2, 1, 2, 0, 2, 0);"
        "INSERT INTO messages (tenant_id, conversation_id, direction, body, status, created_at)"
        " VALUES (1, 1, 'in', '¿Llegó el camión?', 'delivered', 0),"
        " (1, 2, 'in', 'hola', 'read', 0);"
        "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages;"
        "UPDATE search_index SET last_id = (SELECT MAX(id) FROM messages);"
    )
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    db = Database(path)
    await db.open()
    try:
        def find(q: str):
            return lambda c: [i["id"] for i in conversations.list_conversations(c, 1, q=q)[0]]
        assert await db.read(lambda c: c.execute("SELECT name_folded FROM contacts WHERE id = 1")
                             .fetchone()[0]) == "jose nunez"
        assert await db.read(find("jose nunez")) == ["1"]
        assert await db.read(find("camion")) == ["1"]
        assert await db.read(find("4444")) == ["2"]
        # The per-message index nothing reads is gone (version 6).
        assert not await db.read(lambda c: c.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchall())
        figures = await db.read(lambda c: stats.compute(c, 1))
        assert (figures["conversations_open"], figures["unread"], figures["contacts"]) == (2, 2, 2)
    finally:
        await db.close()


async def test_a_search_folds_no_stored_name_and_reads_no_message(alice: Actor) -> None:
    """Its cost follows the matching conversations: no fold() per contact (the names are stored
    folded), and neither the message index nor the messages themselves are read."""
    for i in range(5):
        await alice.inbound(f"5697777000{i}", "el pedido", name=f"Cliente {i}")
    await alice.client.app[keys.SEARCH].catch_up()
    conn = connect(alice.client.app[keys.DB].path, readonly=True)
    calls = []

    def counting_fold(text: str | None) -> str | None:
        calls.append(text)
        return fold(text)

    conn.create_function("fold", 1, counting_fold, deterministic=True)
    try:
        items, _ = conversations.list_conversations(conn, alice.tenant_id, q="cliente")
        assert len(items) == 5 and calls == []
        sql = conversations._SEARCH_HITS
        plan = " | ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN " + sql, conversations._search_params(alice.tenant_id, "pedido")))
        assert "contacts_search" in plan and "conversations_fts" in plan, plan
        assert "messages" not in plan.replace("conversations_fts", ""), plan
    finally:
        conn.close()


async def test_a_search_page_walks_the_list_index_and_builds_one_hit_set(alice: Actor) -> None:
    """A word in nearly every conversation: the page walks conversations_list newest first and
    stops at the limit (no sort of the hits), and the hits become one membership set (no
    UNION temp B-tree to drop duplicates that IN ignores anyway)."""
    for i in range(3):
        await alice.inbound(f"5698888000{i}", "el pedido", name=f"Pedido {i}")  # name and body
    await alice.client.app[keys.SEARCH].catch_up()
    conn = connect(alice.client.app[keys.DB].path, readonly=True)
    sent: list[str] = []
    conn.set_trace_callback(sent.append)
    try:
        items, _ = conversations.list_conversations(conn, alice.tenant_id, q="pedido", limit=2)
        assert len(items) == 2  # each conversation once, though both halves of the set hold it
        conn.set_trace_callback(None)
        page_sql = next(sql for sql in sent if "ORDER BY c.updated_at" in sql)  # params inlined
        plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + page_sql))
        assert "USING INDEX conversations_list" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


async def test_the_unread_filter_walks_its_partial_index(alice: Actor) -> None:
    """`?unread=1` walks conversations_unread (only conversations with unread messages) newest
    first, not the whole list index: a few old unread ones among thousands cost 10× less
    (bench/unread_filter.py). The query's condition must stay `unread_count > 0` to match it."""
    for i in range(3):
        await alice.inbound(f"5697777000{i}", f"hola {i}", name=f"Sin leer {i}")
    conn = connect(alice.client.app[keys.DB].path, readonly=True)
    sent: list[str] = []
    conn.set_trace_callback(sent.append)
    try:
        items, _ = conversations.list_conversations(conn, alice.tenant_id, unread=True, limit=2)
        assert [i["contact"]["name"] for i in items] == ["Sin leer 2", "Sin leer 1"]
        conn.set_trace_callback(None)
        page_sql = next(sql for sql in sent if "ORDER BY c.updated_at" in sql)
        plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + page_sql))
        assert "USING INDEX conversations_unread" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()
