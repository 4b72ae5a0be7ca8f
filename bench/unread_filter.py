"""The chat list's "Unread" filter (`GET /api/v1/conversations?unread=1`) on a big inbox, with
and without the partial index `conversations_unread` (schema v15), side by side in one run.

Seeds --conversations conversations (one inbound message each, through the real ingest path)
into a temporary database, marks all read but --unread of the oldest (the worst case: the walk
down the list index finds them last), and times `list_conversations(unread=True)` (a first page
of 50) --calls times with the index, then with it dropped, then with it again. Reads only: no
commit is timed, so no fsync figure.

    .venv/bin/python bench/unread_filter.py [--conversations 10000] [--unread 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestServer

from app import create_app, keys
from app.config import Config
from app.db import Tx
from app.services import conversations, tenants
from app.sqlite import connect
from bench.ui_chat import seed  # the same inbox as the chat page's bench

INDEX = "conversations_unread"


def timed(conn: sqlite3.Connection, tenant_id: int, calls: int) -> tuple[float, int]:
    """Median ms of one first page of unread conversations, and how many it found."""
    times, found = [], 0
    for _ in range(calls):
        t0 = time.perf_counter()
        items, _ = conversations.list_conversations(conn, tenant_id, unread=True)
        times.append((time.perf_counter() - t0) * 1000)
        found = len(items)
    return statistics.median(times), found


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--unread", type=int, default=20)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="condorito-unread-") as tmp:
        server = TestServer(create_app(Config(db_path=Path(tmp) / "u.db", secret=secrets.token_urlsafe(48))),
                            host="127.0.0.1", port=0)
        await server.start_server()
        app = server.app
        db = app[keys.DB]
        try:
            tenant = await db.write(lambda tx: tenants.create_tenant(tx, "bench", "Bench"))
            await seed(app, tenant.id, args.conversations, 1)
            keep = args.unread

            def mark(tx: Tx) -> None:
                tx.execute("UPDATE conversations SET unread_count = 0 WHERE tenant_id = ? AND id NOT IN"
                           " (SELECT id FROM conversations WHERE tenant_id = ?"
                           " ORDER BY updated_at, id LIMIT ?)", (tenant.id, tenant.id, keep))

            await db.write(mark)
            path = Path(tmp) / "u.db"
            conn = connect(path)
            plan = " | ".join(r[3] for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM conversations c WHERE c.tenant_id = ?"
                " AND c.status = 'open' AND c.unread_count > 0"
                " ORDER BY c.updated_at DESC, c.id DESC LIMIT 51", (tenant.id,)))
            with_ms, found = timed(conn, tenant.id, args.calls)
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (INDEX,)).fetchone()
            if ddl is None:
                print(f"{INDEX} missing: run this on schema v15 or later", file=sys.stderr)
                return 1
            conn.execute(f"DROP INDEX {INDEX}")
            without_ms, found_without = timed(conn, tenant.id, args.calls)
            conn.execute(ddl[0])
            again_ms, _ = timed(conn, tenant.id, args.calls)
            conn.close()
        finally:
            await server.close()
    assert found == found_without == min(args.unread, 50), (found, found_without)
    print(f"{args.conversations} conversations, {args.unread} unread (the oldest); first page of unread,"
          f" median of {args.calls} calls:")
    print(f"  plan with the index: {plan}")
    print(f"  with {INDEX}:    {with_ms:7.3f} ms (again after re-creating it: {again_ms:.3f} ms)")
    ratio = statistics.mean([with_ms, again_ms]) / without_ms
    print(f"  without it:      {without_ms:7.3f} ms   ratio {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
