"""The stream's bookkeeping: seqs survive restarts, rolled-back jobs leave gaps, retention
drops superseded latest-wins rows without moving the resume mark."""

from __future__ import annotations

import pytest

from app.db import Database, Tx
from app.realtime import stream
from app.services import tenants


async def open_db(path) -> Database:
    db = Database(path)
    await db.open()
    return db


async def test_seqs_continue_after_a_restart(tmp_path) -> None:
    db = await open_db(tmp_path / "s.db")
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))
    for _ in range(3):
        await db.write(lambda tx: stream.append(tx, tenant.id, "message:new", {"n": 1}))
    await db.close()
    db = await open_db(tmp_path / "s.db")
    seq = await db.write(lambda tx: stream.append(tx, tenant.id, "message:new", {"n": 2}))
    assert seq == 4
    assert (await db.read(lambda c: stream.read_state(c, tenant.id))).head == 4
    await db.close()


async def test_a_rolled_back_job_leaves_a_gap_and_no_event(tmp_path) -> None:
    db = await open_db(tmp_path / "s.db")
    published: list[int] = []
    db.set_publisher(lambda events: published.extend(e.seq for e in events))
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))

    def failing(tx: Tx) -> None:
        stream.append(tx, tenant.id, "message:new", {"lost": True})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(failing)
    seq = await db.write(lambda tx: stream.append(tx, tenant.id, "message:new", {"kept": True}))
    assert seq == 2 and published == [2]
    rows = await db.read(lambda c: [r["seq"] for r in stream.iter_after(c, tenant.id, 0, 10, 10)])
    assert rows == [2]
    await db.close()


async def test_a_latest_wins_row_replaces_the_previous_one_at_commit(tmp_path) -> None:
    db = await open_db(tmp_path / "s.db")
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))

    def count(c) -> int:
        return c.execute("SELECT COUNT(*) FROM rt_event WHERE coalesce_key IS NOT NULL").fetchone()[0]

    for n in range(5):
        await db.write(lambda tx, n=n: stream.append(tx, tenant.id, "stats:updated", {"n": n}))
    assert await db.read(count) == 1
    replay = await db.read(lambda c: [r["payload"] for r in stream.iter_after(c, tenant.id, 0, 5, 10)])
    assert replay == [b'{"n":4}']

    def failing(tx: Tx) -> None:
        stream.append(tx, tenant.id, "stats:updated", {"n": "lost"})
        raise RuntimeError("boom")

    # A job that rolls back must not take the current row with it.
    with pytest.raises(RuntimeError):
        await db.write(failing)
    replay = await db.read(lambda c: [r["payload"] for r in stream.iter_after(c, tenant.id, 0, 9, 10)])
    assert replay == [b'{"n":4}']
    # ...and the next one still replaces it (no orphan left behind).
    await db.write(lambda tx: stream.append(tx, tenant.id, "stats:updated", {"n": "next"}))
    assert await db.read(count) == 1
    await db.close()
    # After a restart the writer remembers nothing: the key index cleans up instead.
    db = await open_db(tmp_path / "s.db")
    await db.write(lambda tx: stream.append(tx, tenant.id, "stats:updated", {"n": 5}))
    assert await db.read(count) == 1
    await db.close()


async def test_retention_keeps_the_newest_n_and_the_last_day(tmp_path) -> None:
    db = await open_db(tmp_path / "s.db")
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))
    for n in range(10):
        await db.write(lambda tx, n=n: stream.append(tx, tenant.id, "message:new", {"n": n}))
    # Seqs 1-6 are two days old, 7-10 are fresh.
    await db.write(lambda tx: tx.execute("UPDATE rt_event SET created_at = 0 WHERE seq <= 6"))
    day = 24 * 3600 * 1000
    # Keeping 2: only the old ones may go, so the mark stops at 6, not at 8.
    assert await db.write(lambda tx: stream.prune(tx, max_age_ms=day, keep_events=2)) == 6
    state = await db.read(lambda c: stream.read_state(c, tenant.id))
    assert state.pruned_through == 6
    # Keeping 8 of what remains: nothing old is left beyond the newest 8, nothing goes.
    assert await db.write(lambda tx: stream.prune(tx, max_age_ms=day, keep_events=8)) == 0
    await db.close()
