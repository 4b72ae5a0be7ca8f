"""Connections per tenant; committed events fanned out once, without awaiting any socket."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from app import jsonenc
from app.auth.principal import Principal
from app.clock import now_ms
from app.realtime import const
from app.realtime.connection import Connection
from app.realtime.stream import StreamEvent, build_event

log = logging.getLogger("condorito.hub")

# A flush pass that took longer than PACE_AFTER (hundreds of sockets) is followed by a pause as
# long as it took, so the next write per socket carries more frames (fewer syscalls per
# delivery); smaller passes never wait, so light traffic keeps its latency.
PACE_AFTER = 0.008
FLUSH_PACING = 1.0
MAX_FLUSH_WAIT = 0.02

Closer = Callable[[Connection, int, str], "asyncio.Task[Any] | None"]


class PollWaiter:
    """A long-poll request parked until its tenant has something new."""

    __slots__ = ("ephemeral", "future", "principal")

    def __init__(self, principal: Principal, future: asyncio.Future[None]) -> None:
        self.principal = principal
        self.future = future
        self.ephemeral: list[bytes] = []


class Hub:
    """Routes events to the sockets and waiting polls of their tenant."""

    def __init__(self) -> None:
        self._tenants: dict[int, set[Connection]] = {}
        self._users: dict[int, set[Connection]] = {}
        self._waiters: dict[int, set[PollWaiter]] = {}
        self._dirty: list[Connection] = []
        self._flush_scheduled = False
        self._next_flush = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: Closer = lambda c, code, msg: None
        self._closing: set[asyncio.Task[Any]] = set()
        self.events_published = 0
        self.deliveries = 0
        # Read by /metrics when scraped (app/metrics.py): plain dicts, one update per event.
        self.published_by_name: dict[str, int] = {}
        self.closes_by_reason: dict[str, int] = {}

    def set_closer(self, closer: Closer) -> None:
        """How to close a socket with a code (set by the WebSocket handler module)."""
        self._closer = closer

    def _presence(self, conn: Connection, online: bool) -> None:
        """A user's first socket opened or last socket closed: tell the tenant's other screens."""
        self.publish_ephemeral(conn.ident.tenant_id, "presence:changed",
                               {"user_id": str(conn.ident.user_id), "online": online}, exclude=conn)

    # -- registry ----------------------------------------------------------------------------

    def new_connection(self, ws: Any, ident: Any, *, batch: bool) -> Connection:
        """Create a connection wired to this hub's flush and close paths."""
        return Connection(ws, ident, batch=batch, flush_cb=self._mark_dirty, close_cb=self._close)

    def register(self, conn: Connection) -> None:
        """Start routing the tenant's events to `conn` (held until it goes live)."""
        self._tenants.setdefault(conn.ident.tenant_id, set()).add(conn)
        users = self._users.setdefault(conn.ident.user_id, set())
        users.add(conn)
        if len(users) == 1:
            self._presence(conn, True)

    def unregister(self, conn: Connection) -> None:
        """Stop routing to `conn`."""
        conns = self._tenants.get(conn.ident.tenant_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._tenants[conn.ident.tenant_id]
        users = self._users.get(conn.ident.user_id)
        if users is not None and conn in users:
            users.discard(conn)
            if not users:
                del self._users[conn.ident.user_id]
                self._presence(conn, False)

    def user_connections(self, user_id: int) -> set[Connection]:
        """Open sockets of one user."""
        return self._users.get(user_id, set())

    def tenant_connections(self, tenant_id: int) -> set[Connection]:
        """Open sockets of one tenant."""
        return self._tenants.get(tenant_id, set())

    def online_users(self, tenant_id: int) -> list[int]:
        """Ids of the tenant's users with at least one socket."""
        return sorted({c.ident.user_id for c in self._tenants.get(tenant_id, ())})

    def all_connections(self) -> list[Connection]:
        """Every open socket (for shutdown)."""
        return [c for conns in self._tenants.values() for c in conns]

    def close(self, conn: Connection, code: int, message: str) -> None:
        """Close one socket with a protocol close code (an error frame goes first)."""
        self._close(conn, code, message)

    def close_where(self, pred: Callable[[Connection], bool], code: int, message: str) -> int:
        """Close every socket matching `pred`; return how many."""
        victims = [c for c in self.all_connections() if pred(c)]
        for conn in victims:
            self._close(conn, code, message)
        return len(victims)

    # -- publishing --------------------------------------------------------------------------

    def publish(self, events: Iterable[StreamEvent]) -> None:
        """Fan committed events out, in order. Runs on the loop; never awaits."""
        tenants = self._tenants
        waiters = self._waiters
        by_name = self.published_by_name
        for ev in events:
            self.events_published += 1
            by_name[ev.name] = by_name.get(ev.name, 0) + 1
            conns = tenants.get(ev.tenant_id)
            if conns:
                seq, frame, wire, audience = ev.seq, ev.frame, ev.wire, ev.audience
                if audience is None:
                    for conn in conns:
                        conn.push(seq, frame, wire)
                    self.deliveries += len(conns)
                else:
                    for conn in conns:
                        if conn.ident.accepts(audience):
                            conn.push(seq, frame, wire)
                            self.deliveries += 1
            parked = waiters.get(ev.tenant_id)
            if parked:
                self._wake(parked, ev)

    def publish_ephemeral(
        self, tenant_id: int, name: str, data: Any, *, audience: str | None = None,
        exclude: Connection | None = None,
    ) -> None:
        """Send a never-stored event (typing, presence, QR) to whoever is connected now."""
        ev = build_event(tenant_id, None, name, jsonenc.dumps(data), now_ms(), audience)
        self.published_by_name[name] = self.published_by_name.get(name, 0) + 1
        for conn in list(self._tenants.get(tenant_id, ())):
            if conn is not exclude and conn.ident.accepts(audience):
                conn.push(None, ev.frame, ev.wire)
        parked = self._waiters.get(tenant_id)
        if parked:
            self._wake(parked, ev)

    def _wake(self, parked: set[PollWaiter], ev: StreamEvent) -> None:
        for waiter in list(parked):
            if not waiter.principal.accepts(ev.audience):
                continue
            if ev.seq is None:
                waiter.ephemeral.append(ev.frame)
            if not waiter.future.done():
                waiter.future.set_result(None)

    # -- long-poll waiters -------------------------------------------------------------------

    def park(self, principal: Principal) -> PollWaiter:
        """Register a long-poll that wants to hear about its tenant's next event it may see."""
        waiter = PollWaiter(principal, asyncio.get_running_loop().create_future())
        self._waiters.setdefault(principal.tenant_id, set()).add(waiter)
        return waiter

    def unpark(self, tenant_id: int, waiter: PollWaiter) -> None:
        """Forget a long-poll."""
        parked = self._waiters.get(tenant_id)
        if parked is not None:
            parked.discard(waiter)
            if not parked:
                del self._waiters[tenant_id]

    def poll_count(self) -> int:
        """Long-polls parked now, over every tenant (for /metrics)."""
        return sum(len(parked) for parked in self._waiters.values())

    def polls_of(self, tenant_id: int, user_id: int) -> int:
        """How many polls a user has parked."""
        return sum(1 for w in self._waiters.get(tenant_id, ()) if w.principal.user_id == user_id)

    def release_polls(self, session_id: str | None = None) -> None:
        """Answer parked polls now: all of them (shutdown) or one session's (logout)."""
        for parked in self._waiters.values():
            for waiter in parked:
                hit = session_id is None or waiter.principal.session_id == session_id
                if hit and not waiter.future.done():
                    waiter.future.set_result(None)

    # -- flushing ----------------------------------------------------------------------------

    def _mark_dirty(self, conn: Connection) -> None:
        # Frames queued during one pass of the loop leave in one write per socket (after a
        # long pass, a pause first: see PACE_AFTER).
        self._dirty.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            delay = self._next_flush - loop.time()
            if delay > 0:
                loop.call_later(delay, self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        start = time.perf_counter()
        # Keys hold the ids of the frames (bytes objects the pass keeps alive), so a buffer is
        # reused only for exactly the same frames.
        shared: dict[tuple[int, ...], tuple[bytes, list[bytes]]] = {}
        for conn in dirty:
            try:
                conn.flush(shared)
            except Exception:  # one broken socket must not stop the others
                log.exception("flush failed", extra={"fields": conn.info()})
                self._close(conn, 1011, "internal error")
        took = time.perf_counter() - start
        if took > PACE_AFTER:
            assert self._loop is not None
            self._next_flush = self._loop.time() + min(took * FLUSH_PACING, MAX_FLUSH_WAIT)

    def _close(self, conn: Connection, code: int, message: str) -> None:
        reason = const.CLOSE_NAMES.get(code, str(code))
        self.closes_by_reason[reason] = self.closes_by_reason.get(reason, 0) + 1
        task = self._closer(conn, code, message)
        if task is not None:
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def drain_closing(self) -> None:
        """Wait for close handshakes in progress (shutdown)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
