"""The single writer: group commit with per-job atomicity, and the background lane."""

from __future__ import annotations

import asyncio

import pytest

from app import db as dbmod
from app import wal as walmod
from app.db import Database, Tx


async def open_db(path) -> Database:
    db = Database(path)
    await db.open()
    await db.write(lambda tx: tx.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)"))
    return db


def insert(key: str):
    def fn(tx: Tx) -> str:
        tx.execute("INSERT INTO t VALUES (?)", (key,))
        return key
    return fn


async def test_jobs_in_one_commit_stay_atomic_on_their_own(tmp_path) -> None:
    db = await open_db(tmp_path / "d.db")
    batches = db.batches
    results = await asyncio.gather(
        db.write(insert("a")), db.write(insert("a")), db.write(insert("b")), return_exceptions=True)
    assert results[0] == "a" and isinstance(results[1], Exception) and results[2] == "b"
    assert db.batches == batches + 1  # one transaction for the three
    keys = await db.read(lambda c: [r[0] for r in c.execute("SELECT k FROM t ORDER BY k")])
    assert keys == ["a", "b"]
    await db.close()


async def test_background_yields_to_a_burst_but_not_for_long(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dbmod, "BACKGROUND_MAX_WAIT", 0.2)
    db = await open_db(tmp_path / "d.db")
    burst = True
    db.set_busy_probe(lambda: burst)
    order: list[str] = []

    def note(name: str):
        def fn(tx: Tx) -> None:
            order.append(name)
        return fn

    await db.write(note("warm"), background=True)  # the lane has just run
    background = asyncio.ensure_future(db.write(note("background"), background=True))
    await db.write(note("request"))
    assert order == ["warm", "request"]  # the request went first during the burst
    await asyncio.wait_for(background, 2)  # ...and the background job still ran soon after
    assert order == ["warm", "request", "background"]
    burst = False
    await db.write(note("idle"), background=True)
    assert order[-1] == "idle"
    await db.close()


@pytest.mark.parametrize("heavy", [False, True])
async def test_close_lets_queued_writes_commit(tmp_path, heavy: bool) -> None:
    db = await open_db(tmp_path / "d.db")
    pending = [asyncio.ensure_future(db.write(insert(str(i)), heavy=heavy)) for i in range(20)]
    await asyncio.sleep(0)  # queued, not yet run
    await db.close()
    assert [p.result() for p in pending] == [str(i) for i in range(20)]
    db = await open_db(tmp_path / "d.db")
    assert await db.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 20
    await db.close()


def test_added_columns_reach_a_table_made_by_an_older_schema(tmp_path):
    """A column declared in ADDED_COLUMNS is added to an existing table, once."""
    from app.sqlite import add_columns, connect

    conn = connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    columns = (("t", "note", "TEXT NOT NULL DEFAULT ''"), ("absent", "x", "TEXT"))
    add_columns(conn, columns)
    add_columns(conn, columns)  # a second start changes nothing
    assert [r[1] for r in conn.execute("PRAGMA table_info(t)")] == ["id", "note"]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'absent'").fetchone() is None
    conn.close()


async def test_wal_is_cut_back_under_its_limit(tmp_path, monkeypatch) -> None:
    """Writes that take the WAL past its limit are followed by a truncating checkpoint; nothing
    written is lost, and every write connection bounds a restarted WAL too."""
    monkeypatch.setattr(walmod, "WAL_RETRY", 0.0)
    limit = 256 * 1024
    db = Database(tmp_path / "w.db", wal_limit=limit)
    await db.open()
    wal = tmp_path / "w.db-wal"
    try:
        assert await db.write(lambda tx: tx.execute("PRAGMA journal_size_limit").fetchone()[0]) == limit
        await db.write(lambda tx: tx.execute("CREATE TABLE blobs (b BLOB)"))
        sizes = []
        for _ in range(12):
            await db.write(lambda tx: tx.execute("INSERT INTO blobs VALUES (randomblob(100000))"))
            sizes.append(wal.stat().st_size)
        # 1.2 MB written: the WAL passed half its limit again and again, and was cut back each
        # time before it reached the limit itself.
        assert limit // 2 < max(sizes) < limit
        await db.write(lambda tx: None)  # the writer is past the checkpoint that followed them
        assert wal.stat().st_size < limit // 2
        assert db.wal.truncations >= 1
        assert await db.read(lambda c: c.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]) == 12
    finally:
        await db.close()


async def test_a_batch_of_non_durable_jobs_commits_without_waiting_for_the_disk(tmp_path) -> None:
    """Retention's slices commit with synchronous=NORMAL; every other write keeps FULL."""
    db = await open_db(tmp_path / "d.db")
    try:
        def level(key: str):
            def fn(tx: Tx) -> int:
                tx.execute("INSERT INTO t VALUES (?)", (key,))
                return tx.execute("PRAGMA synchronous").fetchone()[0]
            return fn
        assert await db.write(level("lazy"), heavy=True, background=True, durable=False) == 1
        assert await db.write(level("after"), heavy=True) == 2  # FULL again
        assert await db.write(level("light")) == 2
        assert await db.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 3
    finally:
        await db.close()
