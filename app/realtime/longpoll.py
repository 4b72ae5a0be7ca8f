"""`GET /api/v1/events`: the same stream over HTTP long-polling (PROTOCOL §4 point 7).

Stateless: one read of the log, or a wait on the hub until the tenant has something new. The
next poll's `since` acknowledges the batch, so a lost answer loses nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

from aiohttp import web

from app import keys
from app.auth.middleware import request_token
from app.auth.principal import Principal
from app.errors import Gone, Invalid, RateLimited
from app.http import int_query
from app.realtime import const, stream
from app.realtime.stream import Resume, StreamState


@dataclass(slots=True)
class _Batch:
    state: StreamState
    decision: Resume
    frames: list[bytes]
    next: int
    more: bool


def _read_batch(conn: sqlite3.Connection, p: Principal, epoch: str | None, since: int) -> _Batch:
    state = stream.read_state(conn, p.tenant_id)
    decision = stream.decide_resume(state, epoch, since)
    if decision is not Resume.REPLAY:
        return _Batch(state, decision, [], since, False)
    out: list[bytes] = []
    size = 0
    cursor = since
    more = False
    for row in stream.iter_after(conn, p.tenant_id, since, state.head, const.POLL_MAX_EVENTS + 1):
        if len(out) >= const.POLL_MAX_EVENTS or size + len(row["payload"]) > const.POLL_MAX_BYTES:
            more = True
            break
        cursor = row["seq"]
        if p.accepts(row["audience"]):
            frame = stream.row_frame(p.tenant_id, row).frame
            out.append(frame)
            size += len(frame)
    if not more and state.head > cursor:
        # Rows filtered away or coalesced: the cursor still moves to what was examined.
        cursor = state.head
    return _Batch(state, decision, out, cursor, more)


def _answer(state: StreamState, frames: list[bytes], nxt: int, more: bool) -> web.Response:
    body = b"".join((
        b'{"v":1,"epoch":"', state.epoch.encode(), b'","events":[', b",".join(frames),
        b'],"next":', str(nxt).encode(), b',"head":', str(state.head).encode(),
        b',"more":', b"true" if more else b"false", b"}",
    ))
    resp = web.Response(body=body, content_type="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def handle_events(request: web.Request) -> web.Response:
    """Answer at once when events after `since` exist, else wait up to `timeout` seconds."""
    p = request[keys.PRINCIPAL]
    app = request.app
    db, hub = app[keys.DB], app[keys.HUB]
    since = int_query(request, "since", lo=0)
    timeout = int_query(request, "timeout", lo=0, hi=const.POLL_MAX_TIMEOUT)
    timeout = const.POLL_DEFAULT_TIMEOUT if timeout is None else timeout
    epoch = request.query.get("epoch")
    if since is None:
        state = await db.read(lambda c: stream.read_state(c, p.tenant_id))
        return _answer(state, [], state.head, False)  # "start here"
    if epoch is None:
        raise Invalid("epoch is required with since", code="invalid_query", field="epoch")
    if hub.polls_of(p.tenant_id, p.user_id) >= app[keys.CONFIG].max_polls_per_user:
        raise RateLimited("too many waiting polls for this user", retry_after=1)
    # Park before reading, so an event committed between the read and the wait still wakes us.
    waiter = hub.park(p)
    try:
        batch = await db.read(lambda c: _read_batch(c, p, epoch, since))
        if batch.decision is Resume.RESYNC:
            raise Gone("cursor cannot be served; reload state", epoch=batch.state.epoch,
                       head=batch.state.head)
        if batch.frames or batch.more or timeout == 0:
            return _answer(batch.state, batch.frames, batch.next, batch.more)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            return _answer(batch.state, [], batch.next, False)
        # The wait may have outlived the token (logout, password change): check it again.
        await app[keys.AUTH].authenticate(request_token(request))
        fresh = await db.read(lambda c: _read_batch(c, p, epoch, batch.next))
        # Ephemeral events reach only polls waiting at that moment (best effort).
        return _answer(fresh.state, waiter.ephemeral + fresh.frames, fresh.next, fresh.more)
    finally:
        hub.unpark(p.tenant_id, waiter)


def setup_routes(app: web.Application) -> None:
    """Register the long-poll route."""
    app.router.add_get("/api/v1/events", handle_events, name="api_events")
