"""What the media join costs a thread page: `GET /conversations/{id}/messages` reads each
message with its file (LEFT JOIN media on the message id) since media arrived. In-process, on a
temporary database: the page query as it is now and as it was (no join), interleaved in one
invocation, medians of many runs; then the whole page (rows to message objects).

    .venv/bin/python bench/media_join.py [--messages 20000] [--media-share 0.1] [--runs 400]

Reads only: nothing is committed in the measured part (the fsync latency of the disk is
printed for reference, as the set-up commits once).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsync_probe import fsync_ms

from app.services import conversations
from app.sqlite import apply_schema, connect

OLD_QUERY = (
    "SELECT m.id, m.conversation_id, m.direction, m.type, m.body, m.status, m.error, m.wa_id,"
    " m.author_kind, m.author_user_id, m.created_at, u.name AS author_name"
    " FROM messages m LEFT JOIN users u ON u.id = m.author_user_id"
    " WHERE m.tenant_id = ? AND m.conversation_id = ? ORDER BY m.id DESC LIMIT ?"
)
NEW_QUERY = (
    f"SELECT {conversations._MESSAGE_COLS} FROM {conversations._MESSAGE_FROM}"
    " WHERE m.tenant_id = ? AND m.conversation_id = ? ORDER BY m.id DESC LIMIT ?"
)


def build(path: Path, n: int, share: float, convs: int) -> None:
    conn = connect(path)
    apply_schema(conn)
    now = int(time.time() * 1000)
    rng = random.Random(7)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO tenants (id, code, name, created_at) VALUES (1, 'acme', 'Acme', ?)", (now,))
    for c in range(1, convs + 1):
        conn.execute("INSERT INTO contacts (id, tenant_id, phone, created_at) VALUES (?, 1, ?, ?)",
                     (c, f"569{c:08d}", now))
        conn.execute("INSERT INTO conversations (id, tenant_id, contact_id, updated_at, created_at)"
                     " VALUES (?, 1, ?, ?, ?)", (c, c, now, now))
    for i in range(1, n + 1):
        has_file = rng.random() < share
        conn.execute(
            "INSERT INTO messages (id, tenant_id, conversation_id, direction, type, body, status,"
            " created_at) VALUES (?, 1, ?, 'in', ?, ?, 'delivered', ?)",
            (i, 1 + i % convs, "image" if has_file else "text", f"mensaje {i}", now + i))
        if has_file:
            conn.execute(
                "INSERT INTO media (message_id, tenant_id, kind, mime, size, sha256, state,"
                " created_at, updated_at) VALUES (?, 1, 'image', 'image/jpeg', 1000, ?, 'ready', ?, ?)",
                (i, f"{i:064x}", now, now))
    conn.execute("COMMIT")
    conn.close()


def median_us(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--media-share", type=float, default=0.1)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        build(path, args.messages, args.media_share, args.conversations)
        conn = connect(path, readonly=True)
        conv = args.conversations // 2
        old, new = [], []
        for _ in range(5):  # interleaved rounds, so load changes hit both alike
            old.append(median_us(lambda: conn.execute(OLD_QUERY, (1, conv, 51)).fetchall(), args.runs // 5))
            new.append(median_us(lambda: conn.execute(NEW_QUERY, (1, conv, 51)).fetchall(), args.runs // 5))
        page = median_us(lambda: conversations.list_messages(conn, 1, conv, limit=50), args.runs)
        conn.close()
    fs_median, fs_p90 = fsync_ms()
    o, n = statistics.median(old), statistics.median(new)
    print(f"{args.messages} messages, {args.media_share:.0%} with a file, page of 50 "
          f"({args.conversations} conversations)")
    print(f"page query without the media join (before): median {o:7.1f} µs")
    print(f"page query with the media join (now):       median {n:7.1f} µs   ratio {n / o:.2f}")
    print(f"whole page (rows to message objects, now):  median {page:7.1f} µs")
    print(f"fsync latency of this disk: median {fs_median:.2f} ms, p90 {fs_p90:.2f} ms (set-up only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
