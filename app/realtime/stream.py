"""The per-tenant event stream in SQLite: append inside a write, replay, resume, retention."""

from __future__ import annotations

import secrets
import sqlite3
import string
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from app import jsonenc
from app.clock import now_ms
from app.db import Tx
from app.realtime import frames
from app.realtime.names import EventClass, coalesce_key, lookup

_EPOCH_ALPHABET = string.ascii_lowercase + string.digits
# Latest-wins keys whose newest seq the writer remembers (conversations, messages' statuses...).
MAX_REMEMBERED_KEYS = 100_000


@dataclass(slots=True)
class StreamEvent:
    """One stream event: stored (seq set) or ephemeral (seq None). Serialized once."""

    tenant_id: int
    seq: int | None
    name: str
    audience: str | None
    frame: bytes  # the JSON `event` frame
    wire: bytes   # the same frame as a WebSocket text frame, ready for every socket


@dataclass(frozen=True, slots=True)
class StreamState:
    """The `rt_stream` row of one tenant."""

    epoch: str
    head: int
    pruned_through: int


class Resume(Enum):
    """What a client asking to resume gets."""

    FRESH = "fresh"
    REPLAY = "replaying"
    RESYNC = "resync_required"


def new_epoch() -> str:
    """A random 8-character epoch."""
    return "".join(secrets.choice(_EPOCH_ALPHABET) for _ in range(8))


def create_stream(tx: Tx, tenant_id: int) -> None:
    """Give a new tenant its stream row (called in the tenant's creating transaction)."""
    tx.execute(
        "INSERT INTO rt_stream (tenant_id, epoch, head, pruned_through) VALUES (?, ?, 0, 0)",
        (tenant_id, new_epoch()),
    )


def reset_stream(tx: Tx, tenant_id: int) -> str:
    """Forget a tenant's history: new epoch, so every cursor held by clients is refused."""
    epoch = new_epoch()
    head = _allocate(tx, tenant_id, 0)
    tx.execute("DELETE FROM rt_event WHERE tenant_id = ?", (tenant_id,))
    tx.execute(
        "UPDATE rt_stream SET epoch = ?, pruned_through = ? WHERE tenant_id = ?",
        (epoch, head, tenant_id),
    )
    return epoch


def new_epochs(tx: Tx) -> int:
    """A new epoch for every tenant, history kept (after a restore: cursors held by clients
    came from another history and must be refused, PROTOCOL §4). Returns how many."""
    rows = tx.execute("SELECT tenant_id FROM rt_stream").fetchall()
    for (tenant_id,) in rows:
        tx.execute("UPDATE rt_stream SET epoch = ? WHERE tenant_id = ?", (new_epoch(), tenant_id))
    return len(rows)


def next_seq(tx: Tx, tenant_id: int) -> int:
    """The seq the next append of this write will get, for data that must name its own seq."""
    return _allocate(tx, tenant_id, 0) + 1


def build_event(
    tenant_id: int, seq: int | None, name: str, data_json: bytes, ts: int, audience: str | None
) -> StreamEvent:
    """Serialize an event frame once, in both shapes sockets need."""
    frame = frames.event_frame(seq, lookup(name).wire, data_json, ts)
    return StreamEvent(tenant_id, seq, name, audience, frame, frames.ws_text(frame))


def append(
    tx: Tx, tenant_id: int, name: str, data: Any, *, key: object | None = None,
    audience: str | None = None,
) -> int:
    """Append a durable or latest-wins event inside the caller's write; return its seq.

    The seq is allocated in the same transaction as the change the event describes, so both
    commit or neither does, and commit order is seq order.
    """
    return append_many(tx, tenant_id, ((name, data, key),), audience=audience)


def append_many(
    tx: Tx, tenant_id: int, events: Iterable[tuple[str, Any, object | None]], *,
    audience: str | None = None,
) -> int:
    """Append several (name, data, key) events; return the last seq.

    Seqs come from the writer's in-memory head (loaded once per tenant, stored back once per
    batch just before COMMIT). A job that rolls back leaves a gap, which clients accept.
    Readers take only the newest row per latest-wins key, so the row it replaces may go at
    COMMIT (see _supersede).
    """
    batch = list(events)
    specs = [lookup(name) for name, _, _ in batch]
    for spec in specs:
        if spec.cls is EventClass.EPHEMERAL:
            raise ValueError(f"{spec.internal} is ephemeral; publish it through the hub")
    seq = _allocate(tx, tenant_id, len(batch))
    ts = now_ms()
    rows = []
    for spec, (name, data, key) in zip(specs, batch, strict=True):
        seq += 1
        payload = jsonenc.dumps(data)
        ckey = coalesce_key(spec, key)
        if ckey is not None:
            _supersede(tx, tenant_id, ckey, seq)
        rows.append((tenant_id, seq, name, ckey, audience, payload, ts))
        tx.events.append(build_event(tenant_id, seq, name, payload, ts, audience))
    tx.conn.executemany(
        "INSERT INTO rt_event (tenant_id, seq, name, coalesce_key, audience, payload, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return seq


def _supersede(tx: Tx, tenant_id: int, ckey: str, seq: int) -> None:
    """A latest-wins row replaces its key's previous row: delete that one just before COMMIT.

    The writer remembers the newest seq per key (bounded), so the usual case is one delete by
    primary key; a key it does not remember is cleaned through the key index once.
    """
    latest: OrderedDict[tuple[int, str], int] = tx.cache.setdefault("stream_latest", OrderedDict())
    k = (tenant_id, ckey)
    prev = latest.pop(k, None)
    latest[k] = seq
    if len(latest) > MAX_REMEMBERED_KEYS:
        latest.popitem(last=False)
    # If the job rolls back, the previous row is still the newest one.
    tx.on_rollback.append(lambda: latest.pop(k, None) if prev is None else latest.__setitem__(k, prev))
    if prev is not None:
        tx.before_commit.append(lambda conn: conn.execute(
            "DELETE FROM rt_event WHERE tenant_id = ? AND seq = ?", (tenant_id, prev)))
    else:
        tx.before_commit.append(lambda conn: conn.execute(
            "DELETE FROM rt_event WHERE tenant_id = ? AND coalesce_key = ? AND seq < ?",
            (tenant_id, ckey, seq)))


def _allocate(tx: Tx, tenant_id: int, n: int) -> int:
    """Reserve n seqs; return the one before the first. Only the server's writer appends."""
    heads: dict[int, int] = tx.cache.setdefault("stream_heads", {})
    head = heads.get(tenant_id)
    if head is None:
        row = tx.execute("SELECT head FROM rt_stream WHERE tenant_id = ?", (tenant_id,)).fetchone()
        if row is None:
            raise LookupError(f"no stream for tenant {tenant_id}")
        head = row[0]
    heads[tenant_id] = head + n
    if tenant_id not in tx.batch_keys:
        tx.batch_keys.add(tenant_id)
        tx.batch_before_commit.append(
            lambda conn: conn.execute("UPDATE rt_stream SET head = ? WHERE tenant_id = ?",
                                      (heads[tenant_id], tenant_id))
        )
    return head


def read_state(conn: sqlite3.Connection, tenant_id: int) -> StreamState:
    """Read the stream row (inside the caller's read transaction)."""
    row = conn.execute(
        "SELECT epoch, head, pruned_through FROM rt_stream WHERE tenant_id = ?", (tenant_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no stream for tenant {tenant_id}")
    return StreamState(row[0], row[1], row[2])


def head(conn: sqlite3.Connection, tenant_id: int) -> int:
    """The last allocated seq of a tenant."""
    return read_state(conn, tenant_id).head


def decide_resume(state: StreamState, epoch: str | None, since: int | None) -> Resume:
    """Decide fresh / replay / resync for a cursor (all or nothing, as Centrifugo does).

    A cursor equal to `pruned_through` is still complete: every event after it is kept.
    """
    if since is None:
        return Resume.FRESH
    if epoch != state.epoch or since < state.pruned_through or since > state.head:
        return Resume.RESYNC
    return Resume.REPLAY


def iter_after(
    conn: sqlite3.Connection, tenant_id: int, since: int, upto: int, limit: int
) -> Iterator[sqlite3.Row]:
    """Stored events with since < seq <= upto, oldest first, at most `limit`; of latest-wins
    events only the newest per key."""
    return iter(
        conn.execute(
            "SELECT seq, name, audience, payload, created_at FROM rt_event e"
            " WHERE tenant_id = ? AND seq > ? AND seq <= ? AND (coalesce_key IS NULL OR seq = ("
            "   SELECT MAX(seq) FROM rt_event x"
            "   WHERE x.tenant_id = e.tenant_id AND x.coalesce_key = e.coalesce_key))"
            " ORDER BY seq LIMIT ?",
            (tenant_id, since, upto, limit),
        )
    )


def row_frame(tenant_id: int, row: sqlite3.Row) -> StreamEvent:
    """Rebuild a stored event's frame for replay."""
    return build_event(
        tenant_id, row["seq"], row["name"], row["payload"], row["created_at"], row["audience"]
    )


def _last_older_than(tx: Tx, tenant_id: int, lo: int, hi: int, cutoff: int) -> int | None:
    """The highest stored seq in [lo, hi] created before `cutoff`.

    Seqs are allocated in time order, so created_at grows with seq and a binary search over
    primary-key probes finds it; no index on created_at has to be kept up on every insert.
    """
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        row = tx.execute(
            "SELECT seq, created_at FROM rt_event WHERE tenant_id = ? AND seq >= ? AND seq <= ?"
            " ORDER BY seq LIMIT 1",
            (tenant_id, mid, hi),
        ).fetchone()
        if row is None:
            hi = mid - 1
        elif row[1] < cutoff:
            best, lo = row[0], row[0] + 1
        else:
            hi = mid - 1
    return best


def prune(tx: Tx, *, max_age_ms: int, keep_events: int, now: int | None = None,
          max_rows: int | None = None) -> int:
    """Retention: drop events both older than the age limit and beyond the newest N per tenant.

    Removes at most `max_rows` rows (the oldest first, so what stays is still contiguous), so a
    pass after long downtime runs as many short transactions instead of one that holds the
    writer for seconds; call again while it returns `max_rows`. Raises each tenant's
    `pruned_through` to the highest seq removed; returns rows removed.
    """
    cutoff = (now if now is not None else now_ms()) - max_age_ms
    removed = 0
    streams = tx.execute("SELECT tenant_id, head, pruned_through FROM rt_stream").fetchall()
    for tenant_id, head_seq, pruned in streams:
        if max_rows is not None and removed >= max_rows:
            break
        limit_seq = head_seq - keep_events
        if limit_seq <= pruned:
            continue
        top = _last_older_than(tx, tenant_id, pruned + 1, limit_seq, cutoff)
        if top is None:
            continue
        if max_rows is not None:
            # The slice ends at the budget's last row, if the tenant has more than that to go.
            row = tx.execute(
                "SELECT seq FROM rt_event WHERE tenant_id = ? AND seq <= ? ORDER BY seq"
                " LIMIT 1 OFFSET ?", (tenant_id, top, max_rows - removed - 1),
            ).fetchone()
            if row is not None:
                top = row[0]
        # Everything at or below `top` goes, including rows younger than the cutoff that sit
        # below it: history must stay contiguous above pruned_through.
        cur = tx.execute(
            "DELETE FROM rt_event WHERE tenant_id = ? AND seq <= ?", (tenant_id, top)
        )
        removed += cur.rowcount
        tx.execute(
            "UPDATE rt_stream SET pruned_through = MAX(pruned_through, ?) WHERE tenant_id = ?",
            (top, tenant_id),
        )
    return removed
