"""The `/ws?v=1` handler: hello, resume/replay, live fan-out, heartbeat, calls, close codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from app import keys
from app.auth.middleware import same_origin
from app.auth.principal import AuthFailure, Principal
from app.auth.session import COOKIE_NAME
from app.errors import Forbidden, Invalid
from app.logs import CONN_ID
from app.realtime import calls, const, frames, stream
from app.realtime.connection import Connection
from app.realtime.hello import Hello, parse_hello
from app.realtime.hello import Refused as _Refused
from app.realtime.stream import Resume

log = logging.getLogger("condorito.ws")


def limit_send_buffer(transport: asyncio.BaseTransport) -> None:
    """Cap the kernel's send buffer for this socket.

    Linux lets a socket's send buffer grow to 4 MB; a client that stopped reading would then
    cost that much before our own queue limits (and 4001) even begin to apply.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, const.SOCKET_SEND_BUFFER)


def check_origin(request: web.Request) -> None:
    """Refuse cross-site upgrades: a page elsewhere must not ride the user's session cookie.

    No Origin means no browser (API clients, tests); they authenticate with a token anyway.
    """
    if not same_origin(request, required=False):
        raise Forbidden("cross-origin WebSocket refused", code="forbidden_origin")


async def handle_ws(request: web.Request) -> web.StreamResponse:
    """Upgrade, authenticate the first frame, replay what was missed, then stay live."""
    if request.query.get("v") != str(const.PROTOCOL_VERSION):
        raise Invalid("unsupported protocol version", code="unsupported_version",
                      supported=[const.PROTOCOL_VERSION])
    check_origin(request)
    config = request.app[keys.CONFIG]
    ws = web.WebSocketResponse(
        max_msg_size=const.MAX_INBOUND_FRAME, compress=config.ws_compress, autoping=True,
        heartbeat=None,
    )
    await ws.prepare(request)
    sockets = request.app[keys.SOCKETS]
    sockets.add(ws)
    conn: Connection | None = None
    try:
        try:
            principal, hello = await _hello(request, ws)
        except _Refused as refusal:
            await _refuse(ws, refusal.code, refusal.message)
            return ws
        if principal is None or hello is None:
            return ws
        conn = await _go_live(request, ws, principal, hello)
        if conn is not None:
            # Every line this handler logs from now on names the socket.
            CONN_ID.set(conn.id)
            await _read_loop(request, ws, conn)
    except Exception:
        # A bug must not escape: after the upgrade aiohttp would write an HTTP 500 into the
        # WebSocket stream, which the client reads as a protocol error (1002).
        log.exception("ws handler failed")
        if not ws.closed:
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    finally:
        sockets.discard(ws)
        if conn is not None:
            conn.mark_closed()
            request.app[keys.HEARTBEAT].remove(conn)
            request.app[keys.HUB].unregister(conn)
            code = conn.close_code or ws.close_code  # aiohttp reports the peer's echo, not ours
            log.info("ws closed", extra={"fields": {**conn.info(), "code": code}})
    return ws


async def _refuse(ws: web.WebSocketResponse, code: int, message: str) -> None:
    """Send the error frame that names the close code, then close."""
    if not ws.closed:
        await ws.send_str(frames.error_frame(const.CLOSE_NAMES.get(code, "error"), message).decode())
        await ws.close(code=code, message=const.CLOSE_NAMES.get(code, "").encode())


def _parse(data: str) -> dict[str, Any]:
    """One client frame: a JSON object with a string `type`, or _Refused(4500)."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _Refused(const.CLOSE_BAD_FRAME, "frame is not JSON") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise _Refused(const.CLOSE_BAD_FRAME, "frame must be an object with a type")
    return frame


async def _hello(
    request: web.Request, ws: web.WebSocketResponse
) -> tuple[Principal | None, Hello | None]:
    """Wait for a valid hello within the limit and authenticate it."""
    config = request.app[keys.CONFIG]
    try:
        msg = await ws.receive(timeout=config.hello_timeout)
    except TimeoutError:
        raise _Refused(const.CLOSE_HELLO_TIMEOUT, "no hello in time") from None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None, None
    if msg.type is not WSMsgType.TEXT:
        raise _Refused(const.CLOSE_BAD_FRAME, "frames are JSON text")
    # Every field is checked here, before anything reads one (app/realtime/hello.py).
    hello = parse_hello(_parse(msg.data))
    token = hello.token or request.cookies.get(COOKIE_NAME)
    if not isinstance(token, str) or not token:
        raise _Refused(const.CLOSE_UNAUTHORIZED, "missing token")
    try:
        principal = await request.app[keys.AUTH].authenticate(token)
    except AuthFailure as exc:
        code = {"token_expired": const.CLOSE_TOKEN_EXPIRED,
                "forbidden": const.CLOSE_FORBIDDEN}.get(exc.code, const.CLOSE_UNAUTHORIZED)
        raise _Refused(code, exc.message) from None
    if principal.must_change_password:
        # A one-time password only opens the password form; the stream would show every chat.
        raise _Refused(const.CLOSE_UNAUTHORIZED, "choose a new password first")
    hub = request.app[keys.HUB]
    if len(hub.user_connections(principal.user_id)) >= config.max_sockets_per_user:
        raise _Refused(const.CLOSE_TOO_MANY, "too many connections for this user")
    return principal, hello


def _replay_page(
    conn: Any, tenant_id: int, cursor: int, head: int
) -> list[stream.StreamEvent] | None:
    """The next page after `cursor`, or None when retention removed events past it."""
    if stream.read_state(conn, tenant_id).pruned_through > cursor:
        return None
    return [stream.row_frame(tenant_id, r)
            for r in stream.iter_after(conn, tenant_id, cursor, head, const.REPLAY_PAGE)]


async def _go_live(
    request: web.Request, ws: web.WebSocketResponse, principal: Principal, hello: Hello
) -> Connection | None:
    """Register first, then read the stream: nothing committed meanwhile can be missed."""
    app = request.app
    config, hub, db = app[keys.CONFIG], app[keys.HUB], app[keys.DB]
    epoch, since, granted = hello.epoch, hello.since, list(hello.features)
    conn = hub.new_connection(ws, principal, batch="batch" in granted)
    transport = request.transport
    if transport is None:
        return None
    conn.attach(transport)  # type: ignore[arg-type]
    limit_send_buffer(transport)
    hub.register(conn)
    tenant_id = principal.tenant_id

    state = await db.read(lambda c: stream.read_state(c, tenant_id))
    decision = stream.decide_resume(state, epoch, since)
    conn.send_now(frames.welcome_frame(
        conn_id=conn.id, epoch=state.epoch, head=state.head, resume=decision.value,
        ping_interval=config.ping_interval, pong_timeout=config.pong_timeout, features=granted,
        user=principal.user_object(), max_frame=const.MAX_INBOUND_FRAME,
        feature_level=const.FEATURE_LEVEL,
    ))
    if decision is Resume.REPLAY:
        assert since is not None
        cursor = since
        while cursor < state.head and not conn.closed:
            page = await db.read(lambda c, cur=cursor: _replay_page(c, tenant_id, cur, state.head))
            if page is None:
                # Retention pruned part of the gap since the welcome: this replay cannot be
                # complete, so the client reconnects and is told to resync.
                hub.close(conn, const.CLOSE_RECONNECT, "history pruned during replay")
                break
            if not page:
                break
            for ev in page:
                if principal.accepts(ev.audience):
                    conn.send_now(ev.frame)
                    if _half_full(conn):
                        # A page of big events must not trip the queue limits meant for
                        # live fan-out: the client would be cut 4001 on every resume.
                        await conn.wait_writable()
            cursor = page[-1].seq or cursor
            # Only a client reading slower than the replay waits here.
            await conn.wait_writable()
        conn.send_now(frames.replay_end_frame(state.head))
    if conn.closed:
        # The hub's close task (4001...) has not run yet; returning now would let aiohttp
        # close with 1000 first. Read until that close frame is on its way.
        async for _msg in ws:
            pass
        return None
    conn.go_live(state.head)
    _start_timers(conn, app)
    log.info("ws open", extra={"fields": {**conn.info(), "resume": decision.value}})
    return conn


def _half_full(conn: Connection) -> bool:
    """Replay pauses past half of either outbound limit, so it can never reach one."""
    return (len(conn.pending) * 2 > const.MAX_PENDING_FRAMES
            or (conn.pending_bytes + conn.buffered()) * 2 > const.MAX_PENDING_BYTES)


def _start_timers(conn: Connection, app: web.Application) -> None:
    """Heartbeat from the shared wheel, and the token's expiry."""
    hub = app[keys.HUB]
    app[keys.HEARTBEAT].add(conn)
    remaining = conn.ident.expires_at - time.time()
    conn.timers["expiry"] = asyncio.get_running_loop().call_later(
        max(0.0, remaining), hub.close, conn, const.CLOSE_TOKEN_EXPIRED, "token expired",
    )


async def _read_loop(request: web.Request, ws: web.WebSocketResponse, conn: Connection) -> None:
    """Read client frames until the socket closes."""
    hub = request.app[keys.HUB]
    dispatcher = calls.Dispatcher(request.app, conn)
    async for msg in ws:
        conn.last_recv = time.monotonic()
        if msg.type is WSMsgType.TEXT:
            try:
                frame = _parse(msg.data)
            except _Refused as refusal:
                hub.close(conn, refusal.code, refusal.message)
                continue
            kind = frame["type"]
            if kind == "pong":
                continue
            if kind == "call":
                await dispatcher.handle(frame)
            elif kind == "hello":
                conn.send_now(frames.error_frame(const.ERR_INVALID_FRAME, "already said hello"))
            else:
                # Unknown types are ignored with a note, so newer clients keep working.
                conn.send_now(frames.error_frame(const.ERR_UNKNOWN_TYPE, f"unknown frame type {kind!r}"))
        elif msg.type is WSMsgType.BINARY:
            hub.close(conn, const.CLOSE_BAD_FRAME, "frames are JSON text")


def close_connection(conn: Connection, code: int, message: str) -> asyncio.Task[bool] | None:
    """The hub's closer: error frame, close frame, and no more frames for this socket."""
    if conn.closed:
        return None
    ws = conn.ws
    conn.mark_closed()
    try:
        if code >= 4000 and not ws.closed:
            # Straight to the transport: this must not wait behind a queue being dropped.
            conn.write_raw(frames.ws_text(frames.error_frame(const.CLOSE_NAMES.get(code, "error"),
                                                             message)))
    except Exception:  # a broken transport closes anyway
        log.debug("error frame not written", extra={"fields": conn.info()})
    conn.close_code = code
    loop = asyncio.get_running_loop()
    transport = conn.transport
    if transport is not None:
        # A peer that stopped reading never takes the close frame: let go of it after a grace.
        loop.call_later(const.CLOSE_GRACE, _abort_if_open, transport)
    return loop.create_task(ws.close(code=code, message=const.CLOSE_NAMES.get(code, "").encode()))


def _abort_if_open(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing() or transport.get_write_buffer_size():  # type: ignore[attr-defined]
        transport.abort()  # type: ignore[attr-defined]
