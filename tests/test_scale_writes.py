"""Work inside the single writer that must not grow with the tenant: dashboard counters kept
with each change, mark-read through the index of unread rows, retention in short slices."""

from __future__ import annotations

import random
import sqlite3

from app import keys
from app.db import Database, Tx
from app.realtime import stream
from app.services import retention as retention_mod
from app.services import stats, tenants
from app.services.retention import Retention
from tests.helpers.actors import Actor

RECOUNT = (
    "SELECT (SELECT COUNT(*) FROM conversations WHERE tenant_id = :t AND status = 'open'),"
    " (SELECT COALESCE(SUM(unread_count), 0) FROM conversations"
    "  WHERE tenant_id = :t AND status = 'open'),"
    " (SELECT COUNT(*) FROM contacts WHERE tenant_id = :t)"
)


def kept_and_recounted(conn: sqlite3.Connection, tenant_id: int) -> tuple[tuple, tuple]:
    kept = conn.execute("SELECT conversations_open, unread, contacts FROM tenant_counts"
                        " WHERE tenant_id = ?", (tenant_id,)).fetchone()
    return tuple(kept or (0, 0, 0)), tuple(conn.execute(RECOUNT, {"t": tenant_id}).fetchone())


def delete_conversation(conversation_id: int):
    """What an operator's cleanup would do (no route deletes yet): the counters must follow."""
    def write(tx: Tx) -> None:
        contact = tx.execute("SELECT contact_id FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()[0]
        tx.execute("DELETE FROM outbox WHERE message_id IN"
                   " (SELECT id FROM messages WHERE conversation_id = ?)", (conversation_id,))
        tx.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
        tx.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        tx.execute("DELETE FROM contacts WHERE id = ?", (contact,))
    return write


async def test_counters_equal_a_full_recount_after_any_mix(alice: Actor, bob: Actor) -> None:
    db = alice.client.app[keys.DB]
    rng = random.Random(7)
    phones = [f"5698800{n:04d}" for n in range(12)]
    conversations: dict[str, int] = {}  # phone -> conversation id (alice's)
    for step in range(120):
        op = rng.choice(["in", "in", "in", "read", "reply", "close", "delete", "prune", "other"])
        phone = rng.choice(phones)
        if op == "in" or not conversations:
            sent = await alice.inbound(phone, f"hola {step}")
            conversations[phone] = int(sent["conversation_id"])
            continue
        conv = rng.choice(sorted(conversations.values()))
        if op == "read":
            assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status in (200, 204)
        elif op == "reply":
            resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "ok"})
            assert resp.status in (200, 201, 202), await resp.text()
        elif op == "close":  # no route closes yet; the counters must follow any writer
            await db.write(lambda tx, c=conv: tx.execute(
                "UPDATE conversations SET status = 'closed' WHERE id = ?", (c,)))
        elif op == "delete":
            await db.write(delete_conversation(conv))
            conversations = {p: c for p, c in conversations.items() if c != conv}
        elif op == "prune":
            await Retention(db, max_age_ms=-10**9, keep_events=5, period=3600).prune_now()
        else:
            await bob.inbound(phone, "otro tenant")
        if step % 10 == 0:
            for tenant in (alice.tenant_id, bob.tenant_id):
                kept, recounted = await db.read(lambda c, t=tenant: kept_and_recounted(c, t))
                assert kept == recounted, (step, op, tenant)
    for tenant in (alice.tenant_id, bob.tenant_id):
        kept, recounted = await db.read(lambda c, t=tenant: kept_and_recounted(c, t))
        assert kept == recounted
    figures = await (await alice.get("/api/v1/stats")).json()
    kept, _ = await db.read(lambda c: kept_and_recounted(c, alice.tenant_id))
    assert (figures["conversations_open"], figures["unread"], figures["contacts"]) == kept


async def test_stats_read_the_counters_not_the_tables(alice: Actor) -> None:
    await alice.inbound("56988000001", "hola")
    db = alice.client.app[keys.DB]
    statements: list[str] = []

    def compute(conn: sqlite3.Connection) -> dict:
        conn.set_trace_callback(statements.append)
        try:
            return stats.compute(conn, alice.tenant_id)
        finally:
            conn.set_trace_callback(None)

    assert (await db.read(compute))["contacts"] == 1
    plans = await db.read(lambda c: [r[3] for s in statements
                                     for r in c.execute("EXPLAIN QUERY PLAN " + s)])
    assert not any(("conversations" in p or "contacts" in p) for p in plans), plans


async def test_mark_read_goes_through_the_unread_index_and_marks_exactly_the_unread(
        alice: Actor) -> None:
    db = alice.client.app[keys.DB]
    for i in range(4):
        sent = await alice.inbound("56988000002", f"antes {i}")
    conv = sent["conversation_id"]
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status in (200, 204)
    await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "respuesta"})
    for i in range(3):
        await alice.inbound("56988000002", f"después {i}")
    other = (await alice.inbound("56988000003", "otra conversación"))["conversation_id"]

    statements: list[str] = []
    inbox = alice.client.app[keys.INBOX]
    db_write = db.write

    async def traced(fn, **kw):
        def wrapped(tx: Tx):
            tx.conn.set_trace_callback(statements.append)
            try:
                return fn(tx)
            finally:
                tx.conn.set_trace_callback(None)
        return await db_write(wrapped, **kw)

    db.write = traced
    try:
        await inbox.mark_read(alice.tenant_id, int(conv))
    finally:
        del db.write
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE MESSAGES")]
    assert len(updates) == 1, statements
    plan = await db.read(lambda c: [r[3] for r in c.execute("EXPLAIN QUERY PLAN " + updates[0])])
    assert any("messages_unread" in p for p in plan), plan
    rows = await db.read(lambda c: c.execute(
        "SELECT conversation_id, status, COUNT(*) FROM messages WHERE tenant_id = ?"
        " AND direction = 'in' GROUP BY 1, 2 ORDER BY 1, 2", (alice.tenant_id,)).fetchall())
    assert [tuple(r) for r in rows] == [(int(conv), "read", 7), (int(other), "delivered", 1)]


async def test_retention_runs_in_small_transactions_and_keeps_what_it_must(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(retention_mod, "SLICE", 50)
    db = Database(tmp_path / "r.db")
    await db.open()
    try:
        acme = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))
        globex = await db.write(lambda tx: tenants.create_tenant(tx, "globex", "Globex"))

        def fill(tenant_id: int, n: int):
            def write(tx: Tx) -> None:
                for i in range(n):
                    stream.append(tx, tenant_id, "message:new", {"n": i})
            return write
        await db.write(fill(acme.id, 1000))
        await db.write(fill(globex.id, 130))
        slices: list[int] = []
        prune = stream.prune

        def counted(tx: Tx, **kw) -> int:
            slices.append(prune(tx, **kw))
            return slices[-1]
        monkeypatch.setattr(stream, "prune", counted)
        batches = db.batches
        removed = await Retention(db, max_age_ms=-10**9, keep_events=100, period=3600).prune_now()
        assert removed == 900 + 30
        assert max(slices) <= 50 and len(slices) >= 930 // 50  # many small transactions
        assert db.batches - batches >= len(slices)  # each one its own commit
        for tenant, head in ((acme.id, 1000), (globex.id, 130)):
            state = await db.read(lambda c, t=tenant: stream.read_state(c, t))
            seqs = await db.read(lambda c, t=tenant: [r[0] for r in c.execute(
                "SELECT seq FROM rt_event WHERE tenant_id = ? ORDER BY seq", (t,))])
            assert state.pruned_through == head - 100
            assert seqs == list(range(head - 99, head + 1))  # the newest 100, contiguous
    finally:
        await db.close()
